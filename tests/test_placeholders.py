"""Documentation values plan offline and are refused by a real deploy, each named."""

from __future__ import annotations

import pytest

from infra import documentation_values
from infra.config import ConfigError
from stagecraft.cli.main import main
from stagecraft.offline.engine import evaluate
from tests.conftest import ACCOUNT, REPO, edit_stack

REAL_ACCOUNT = "arn:aws:iam::210987654322:role"
REAL = {
    "stagecraft:awsAccountId": "210987654322",
    "stagecraft:domain": "staging.acme-platform.io",
    "stagecraft:clusterPublicAccessCidrs": ["81.2.69.0/24"],
    "stagecraft:clusterAdminRoleArns": [
        f"{REAL_ACCOUNT}/platform-admin",
        f"{REAL_ACCOUNT}/stagecraft-ci-deploy-staging",
    ],
    "stagecraft:clusterDeveloperRoleArns": [f"{REAL_ACCOUNT}/developer"],
    "stagecraft:clusterReadOnlyRoleArns": [
        f"{REAL_ACCOUNT}/stagecraft-ci-preview",
    ],
    "stagecraft:clusterSmallStackDeployerRoleArns": [
        f"{REAL_ACCOUNT}/stagecraft-ci-preview-environments"
    ],
    "stagecraft:accessDeveloperPrincipalArns": [f"{REAL_ACCOUNT}/developer"],
    "stagecraft:accessQaPrincipalArns": [f"{REAL_ACCOUNT}/qa"],
    "stagecraft:accessOncallPrincipalArns": [f"{REAL_ACCOUNT}/oncall"],
    "stagecraft:alertSlackTeamId": "T04ACME01",
    "stagecraft:alertSlackChannelId": "C04ACME0PL",
    # Production's outputs, in production's (real) account.
    "stagecraft:dataImportBucket": "stagecraft-production-data-sync-210987654322",
    "stagecraft:dataImportKmsKeyArn": (
        "arn:aws:kms:us-east-1:210987654322:key/0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b"
    ),
    # What `pulumi config set --secret` writes: ciphertext, decrypted by `pulumi up` only.
    "stagecraft:alertSlackWebhookUrl": {"secure": "v1:bm90LWRlY3J5cHRlZC1vZmZsaW5l"},
}


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("arn:aws:iam::123456789012:role/platform-admin", "documentation account 123456789012"),
        ("arn:aws:kms:us-east-1:111122223333:key/1234abcd", "documentation account 111122223333"),
        ("198.51.100.0/24", "RFC 5737 TEST-NET-2"),
        ("198.51.100.128/25", "RFC 5737 TEST-NET-2"),
        ("198.51.0.0/16", "RFC 5737 TEST-NET-2"),  # holds the documentation range
        ("203.0.113.7", "RFC 5737 TEST-NET-3"),
        ("2001:db8:1::/48", "RFC 3849"),
        ("alerts@example.com", "example.com"),
        ("api.staging.example.org", "example.org"),
        ("tgw-0123456789abcdef0", "placeholder id"),
        ("tgw-0262a0e521EXAMPLE", "placeholder id"),
        ("stagecraft-production-data-sync-123456789012", "documentation account 123456789012"),
    ],
)
def test_documentation_values_are_recognised(value, reason):
    (hit,) = documentation_values.find("stagecraft:key", value)
    assert reason in hit.reason


@pytest.mark.parametrize(
    "value",
    [
        "10.20.0.0/16",
        "81.2.69.0/24",
        "arn:aws:iam::210987654322:role/platform-admin",
        "tgw-0a1b2c3d4e5f67890",
        "1.34",
        "db.t3.micro",
        "mycompany.com",
        "examples.com",
        "03:00-04:00",
        "stagecraft-production-data-sync-210987654322",
        "build-20261204-123456789012x",
    ],
)
def test_real_values_are_left_alone(value):
    assert list(documentation_values.find("stagecraft:key", value)) == []


def test_lists_and_maps_are_searched_with_their_position():
    hits = documentation_values.find(
        "stagecraft:routes", ["10.200.0.0/16", {"cidr": "192.0.2.0/24"}]
    )
    assert [h.path for h in hits] == ["stagecraft:routes[1].cidr"]


# The shipped stack files hold such values, a fork's hold real ones: the tests
# write them into a copy, so they hold in both.
DOCUMENTATION_ACCOUNT = "arn:aws:iam::123456789012:role"
DOCUMENTATION = {
    "stagecraft:awsAccountId": "123456789012",
    "stagecraft:clusterPublicAccessCidrs": ["198.51.100.0/24"],
    "stagecraft:clusterAdminRoleArns": [f"{DOCUMENTATION_ACCOUNT}/platform-admin"],
    "stagecraft:clusterDeveloperRoleArns": [f"{DOCUMENTATION_ACCOUNT}/developer"],
    "stagecraft:clusterReadOnlyRoleArns": [f"{DOCUMENTATION_ACCOUNT}/stagecraft-ci-preview"],
    "stagecraft:clusterSmallStackDeployerRoleArns": [f"{DOCUMENTATION_ACCOUNT}/small-stacks"],
    "stagecraft:domain": "staging.example.com",
    "stagecraft:budgetAlertEmails": ["platform-team@example.com"],
}


def test_a_real_deploy_with_documentation_values_is_refused_with_each_value(scratch):
    for stack in ("staging", "dev"):
        edit_stack(scratch, stack, **DOCUMENTATION)
    with pytest.raises(ConfigError) as error:
        evaluate("staging", project_dir=scratch, allow_placeholders=False)
    message = str(error.value)
    assert "stack 'staging' has 16 configuration problems; nothing was created" in message
    assert (
        'stagecraft:alertSlackWebhookUrl = "(secure documentation value: set yours with pulumi '
        'config set --secret)": is a documentation secret, which no key decrypts: set yours '
        "with `pulumi config set --secret stagecraft:alertSlackWebhookUrl --stack staging` (it "
        "prompts; README 'Deploy for real')"
    ) in message
    assert 'stagecraft:alertSlackTeamId = "T0EXAMPLE": is a placeholder Slack id' in message
    # Production's outputs, as the shipped staging file has them.
    assert (
        'stagecraft:dataImportBucket = "stagecraft-production-data-sync-123456789012": is a name '
        "in the AWS documentation account 123456789012, not yours"
    ) in message
    assert (
        'stagecraft:awsAccountId = "123456789012": is the AWS documentation account, not '
        "yours: set the real one in Pulumi.staging.yaml (README 'Deploy for real')"
    ) in message
    assert (
        'stagecraft:clusterPublicAccessCidrs[0] = "198.51.100.0/24": is inside 198.51.100.0/24 '
        "(RFC 5737 TEST-NET-2), a range no real traffic comes from: set the real one in "
        "Pulumi.staging.yaml (README 'Deploy for real')"
    ) in message
    assert 'stagecraft:clusterAdminRoleArns[0] = "arn:aws:iam::123456789012:role/' in message
    assert 'stagecraft:clusterDeveloperRoleArns[0] = "arn:aws:iam::123456789012:role/' in message
    # The people who may assume the audience roles (three audiences in staging).
    assert 'stagecraft:accessQaPrincipalArns[0] = "arn:aws:iam::123456789012:role/qa"' in message


def test_a_placeholder_transit_gateway_is_refused(scratch):
    edit_stack(scratch, "production", **{"stagecraft:transitGatewayId": "tgw-0123456789abcdef0"})
    with pytest.raises(ConfigError) as error:
        evaluate("production", project_dir=scratch, allow_placeholders=False)
    assert 'stagecraft:transitGatewayId = "tgw-0123456789abcdef0": is a placeholder id' in str(
        error.value
    )


def test_real_values_deploy(scratch):
    # The same program and file with real values: nothing refused.
    for key, value in REAL.items():
        edit_stack(scratch, "staging", **{key: value})
    plan = evaluate("staging", project_dir=scratch, allow_placeholders=False)
    cluster = plan.one("aws:eks/cluster:Cluster").inputs
    assert cluster["vpcConfig"]["publicAccessCidrs"] == ["81.2.69.0/24"]
    # ARNs name the stack's own account, offline too.
    assert cluster["roleArn"].startswith("arn:aws:iam::210987654322:role/")


def test_offline_plans_accept_documentation_values(scratch):
    edit_stack(scratch, "staging", **DOCUMENTATION)
    plan = evaluate("staging", project_dir=scratch)
    cluster = plan.one("aws:eks/cluster:Cluster").inputs
    assert cluster["vpcConfig"]["publicAccessCidrs"] == ["198.51.100.0/24"]


def test_validate_for_deploy_lists_every_placeholder(scratch, capsys):
    edit_stack(scratch, "dev", **DOCUMENTATION)
    assert main(["--project-dir", str(scratch), "validate", "--for-deploy"]) == 1
    err = capsys.readouterr().err
    dev = err.split("error: stack 'dev' has 10 configuration problems", 1)[1].split("error:")[0]
    for key in DOCUMENTATION:
        assert f"  - {key}" in dev
    assert "Traceback" not in err


def test_a_stack_file_may_not_switch_the_check_off(scratch, capsys):
    edit_stack(scratch, "dev", **{"stagecraft:allowPlaceholderValues": True})
    assert main(["--project-dir", str(scratch), "validate"]) == 1
    assert (
        "error: Pulumi.dev.yaml sets stagecraft:allowPlaceholderValues: offline plans set it "
        "for themselves"
    ) in capsys.readouterr().err


def test_validate_for_deploy_of_one_stack_leaves_the_others_documentation_values(scratch, capsys):
    # Staging first: production's file may still hold its placeholder gateway.
    real_account = REAL["stagecraft:awsAccountId"]
    for path in [*scratch.glob("Pulumi.*.yaml"), scratch / "bootstrap" / "Pulumi.bootstrap.yaml"]:
        path.write_text(path.read_text().replace(ACCOUNT, real_account))
    edit_stack(scratch, "staging", **REAL)
    edit_stack(scratch, "production", **{"stagecraft:transitGatewayId": "tgw-0123456789abcdef0"})
    code = main(["--project-dir", str(scratch), "validate", "--for-deploy", "--stack", "staging"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "and staging holds no documentation value" in captured.out
    assert main(["--project-dir", str(scratch), "validate", "--for-deploy"]) == 1
    assert "tgw-0123456789abcdef0" in capsys.readouterr().err


def test_validate_names_an_unknown_stack(capsys):
    code = main(["--project-dir", str(REPO), "validate", "--for-deploy", "--stack", "stagign"])
    assert code != 0
    err = capsys.readouterr().err
    assert "stagign" in err
    assert "staging" in err
    assert "Traceback" not in err
