"""Rules across stack files: `stagecraft validate`."""

from __future__ import annotations

from stagecraft.cli.main import main
from tests.conftest import ACCOUNT, REPOSITORY, edit_stack


def _validate(scratch, capsys):
    code = main(["--project-dir", str(scratch), "validate"])
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    return code, captured.err.strip().splitlines(), captured.out


def test_the_shipped_stack_files_are_valid_together(project, capsys):
    assert main(["--project-dir", str(project.directory), "validate"]) == 0
    assert "every stack file is valid" in capsys.readouterr().out


def test_two_environments_with_overlapping_vpcs_are_refused(scratch, capsys):
    edit_stack(scratch, "sandbox", **{"stagecraft:vpcCidr": "10.20.0.0/17"})  # inside staging's
    code, errors, _ = _validate(scratch, capsys)
    assert code == 1
    assert errors == [
        'error: staging: stagecraft:vpcCidr = "10.20.0.0/16": overlaps sandbox\'s VPC '
        "(10.20.0.0/17); environments share the VPN and transit gateway, so every VPC needs "
        "a range of its own"
    ]


def test_a_vpc_over_another_stacks_operator_network_is_refused(scratch, capsys):
    # production routes the VPN (10.200.0.0/16) through the transit gateway.
    edit_stack(scratch, "dev", **{"stagecraft:vpcCidr": "10.200.0.0/16"})
    code, errors, _ = _validate(scratch, capsys)
    assert code == 1
    assert errors == [
        'error: dev: stagecraft:vpcCidr = "10.200.0.0/16": overlaps 10.200.0.0/16, an operator '
        "network in production's transitGatewayRoutes; traffic to it would stay inside this VPC",
        'error: dev: stagecraft:vpcCidr = "10.200.0.0/16": overlaps 10.200.0.0/16, an operator '
        "network in production's clusterPrivateAccessCidrs; traffic to it would stay inside "
        "this VPC",
    ]


def test_a_small_stack_taking_its_shared_stacks_namespace_is_refused(scratch, capsys):
    assert main(["--project-dir", str(scratch), "env", "create", "pr-5"]) == 0
    assert main(["--project-dir", str(scratch), "env", "create", "pr-6"]) == 0
    capsys.readouterr()
    edit_stack(scratch / "ephemeral", "pr-5", **{"stagecraft:namespace": "staging"})
    edit_stack(scratch / "ephemeral", "pr-6", **{"stagecraft:namespace": "staging"})
    code, errors, _ = _validate(scratch, capsys)
    assert code == 1
    assert errors == [
        'error: pr-5: stagecraft:namespace = "staging": is staging\'s application namespace; '
        "a small stack's namespace must be its own",
        'error: pr-6: stagecraft:namespace = "staging": is staging\'s application namespace; '
        "a small stack's namespace must be its own",
    ]


def test_two_small_stacks_on_one_namespace_are_refused(scratch, capsys):
    assert main(["--project-dir", str(scratch), "env", "create", "pr-5"]) == 0
    assert main(["--project-dir", str(scratch), "env", "create", "pr-6"]) == 0
    capsys.readouterr()
    edit_stack(scratch / "ephemeral", "pr-6", **{"stagecraft:namespace": "pr-5"})
    code, errors, _ = _validate(scratch, capsys)
    assert code == 1
    assert errors == [
        'error: pr-6: stagecraft:namespace = "pr-5": is pr-5\'s namespace on the same cluster; '
        "a small stack's namespace must be its own"
    ]


def test_a_stack_that_fails_on_its_own_is_reported_with_the_others(scratch, capsys):
    edit_stack(scratch, "dev", **{"stagecraft:nodeMinSize": -1})
    code, errors, _ = _validate(scratch, capsys)
    assert code == 1
    assert errors[0] == ("error: stack 'dev' has 1 configuration problem; nothing was created:")
    assert errors[1].strip() == "- stagecraft:nodeMinSize = -1: must be at least 0"


def test_a_stack_file_missing_a_ci_role_of_the_bootstrap_is_refused(scratch, capsys):
    # The deploy workflow's role is not an admin of staging's cluster: its
    # `pulumi up` would stop at the deployer check.
    edit_stack(
        scratch,
        "staging",
        **{"stagecraft:clusterAdminRoleArns": [f"arn:aws:iam::{ACCOUNT}:role/platform-admin"]},
    )
    assert main(["--project-dir", str(scratch), "validate"]) == 1
    err = capsys.readouterr().err
    assert (
        f'error: staging: stagecraft:clusterAdminRoleArns = ["arn:aws:iam::{ACCOUNT}:role/'
        f'platform-admin"]: does not list arn:aws:iam::{ACCOUNT}:role/'
        "stagecraft-ci-deploy-staging, which the bootstrap stack 'bootstrap' made for this "
        "environment's workflows"
    ) in err


def test_a_malformed_bootstrap_stack_file_is_reported(scratch, capsys):
    path = scratch / "bootstrap" / "Pulumi.bootstrap.yaml"
    path.write_text(path.read_text().replace(REPOSITORY, "not a repository"))
    assert main(["--project-dir", str(scratch), "validate"]) == 1
    assert "stagecraft:githubRepository" in capsys.readouterr().err


def test_an_environment_in_another_account_than_its_bootstrap_is_refused(scratch, capsys):
    elsewhere = "210987654321" if ACCOUNT != "210987654321" else "210987654322"
    edit_stack(scratch, "staging", **{"stagecraft:awsAccountId": elsewhere})
    assert main(["--project-dir", str(scratch), "validate"]) == 1
    err = capsys.readouterr().err
    assert (
        f'error: staging: stagecraft:awsAccountId = "{elsewhere}": is not the account of the '
        f"bootstrap stack 'bootstrap' ({ACCOUNT}), which prepares 'staging'"
    ) in err


def test_the_bootstrap_and_the_policy_pack_approve_the_same_repository(scratch, capsys):
    bootstrap = scratch / "bootstrap" / "Pulumi.bootstrap.yaml"
    bootstrap.write_text(bootstrap.read_text().replace(REPOSITORY, "someone-else/stagecraft"))
    assert main(["--project-dir", str(scratch), "validate"]) == 1
    assert (
        'error: bootstrap: stagecraft:githubRepository = "someone-else/stagecraft": is not the '
        f"repository policy/config/bootstrap.json approves ({REPOSITORY})"
    ) in capsys.readouterr().err


def test_a_second_trail_in_the_account_is_refused(scratch, capsys):
    edit_stack(scratch, "staging", **{"stagecraft:cloudTrail": True})
    code, errors, _ = _validate(scratch, capsys)
    assert code == 1
    assert errors == [
        f"error: staging: stagecraft:cloudTrail = true: production already keeps account "
        f"{ACCOUNT}'s trail; a second one pays for every management event again: set it "
        "false here"
    ]


def test_monitoring_keys_written_where_monitoring_is_off_are_refused(scratch, capsys):
    # Equal to their defaults, so the program alone could not tell them from unset.
    edit_stack(scratch, "dev", **{"stagecraft:tracesRetentionDays": 3,
                                  "stagecraft:metricsVolumeGb": 50})  # fmt: skip
    code, errors, _ = _validate(scratch, capsys)
    assert code == 1
    assert errors == [
        f"error: Pulumi.dev.yaml: stagecraft:{key} is a setting of the in-cluster monitoring "
        "stack, which stagecraft:monitoring: false turns off; remove it"
        for key in ("metricsVolumeGb", "tracesRetentionDays")
    ]
