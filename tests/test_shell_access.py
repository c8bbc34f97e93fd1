"""Shell access through Session Manager: the bastion, its documents and logs, as planned.

What people rely on: nothing admits SSH or any inbound connection to the
bastion; a shell is logged, encrypted, and kept as long as config says; port
forwarding reaches this environment's data stores only; a person's policy
opens sessions on this bastion with these documents only; bad config is
refused with one clear line.
"""

from __future__ import annotations

import dataclasses
import json
from types import SimpleNamespace
from typing import Any

import pytest

from infra.components.access.session_manager import (
    AMI_PARAMETER,
    SessionKind,
    SessionTarget,
    session_policy,
    session_statements,
)
from infra.config import BASTION_INSTANCE_FAMILIES, ConfigError
from stagecraft.cost import estimate, load_prices
from stagecraft.offline.engine import Plan, PlannedResource, evaluate
from stagecraft.offline.mocks import StagecraftMocks
from stagecraft.offline.stackfiles import Project
from tests.conftest import ACCOUNT, REPO, edit_stack, stack_config
from tests.iam_evaluation import decide

INSTANCE = "aws:ec2/instance:Instance"
DOCUMENT = "aws:ssm/document:Document"
INGRESS = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
EGRESS = "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule"
GROUP = "aws:ec2/securityGroup:SecurityGroup"
REGION = "us-east-1"


def _bastion(plan: Plan) -> PlannedResource:
    return plan.one(INSTANCE)


def _bastion_group(plan: Plan) -> str:
    (group,) = _bastion(plan).inputs["vpcSecurityGroupIds"]
    return str(group)


def _document(plan: Plan, session_type: str) -> tuple[PlannedResource, dict[str, Any]]:
    (found,) = [
        (d, json.loads(d.inputs["content"]))
        for d in plan.of_type(DOCUMENT)
        if json.loads(d.inputs["content"])["sessionType"] == session_type
    ]
    return found


def _group_id(plan: Plan, name_suffix: str) -> str:
    (group,) = [g for g in plan.of_type(GROUP) if g.name.endswith(name_suffix)]
    return str(group.id)


def _outputs(plan: Plan) -> dict[str, Any]:
    return plan.outputs


# --------------------------------------------------------------------------- #
# The plan
# --------------------------------------------------------------------------- #


def test_the_bastion_is_private_imdsv2_only_and_encrypted_with_the_environment_key(production):
    bastion = _bastion(production).inputs
    assert bastion["associatePublicIpAddress"] is False
    assert "keyName" not in bastion  # no SSH key pair anywhere
    assert bastion["metadataOptions"]["httpTokens"] == "required"
    assert bastion["metadataOptions"]["httpPutResponseHopLimit"] == 1
    root = bastion["rootBlockDevice"]
    assert root["encrypted"] is True
    assert root["kmsKeyId"] == _outputs(production)["kmsKeyArn"]
    assert root["volumeType"] == "gp3"
    assert bastion["instanceType"] == "t4g.nano"
    assert bastion["subnetId"] in _outputs(production)["privateSubnetIds"]


def test_the_image_is_the_latest_al2023_of_the_instance_architecture_and_kept(production):
    bastion = _bastion(production)
    # What the mock answers for the arm64 parameter (t4g is Graviton).
    mocks = StagecraftMocks(REGION, ACCOUNT)
    call = SimpleNamespace(
        token="aws:ssm/getParameter:getParameter",
        args={"name": AMI_PARAMETER.format(arch="arm64")},
    )
    arm64 = mocks.call(call)[0]["value"]  # type: ignore[arg-type]
    assert bastion.inputs["ami"] == arm64
    # A newly published image does not replace the bastion on an unrelated `up`.
    assert "ami" in bastion.ignore_changes


def test_an_x86_bastion_gets_the_x86_image(scratch, production):
    edit_stack(scratch, "staging", **{"stagecraft:bastionInstanceType": "t3.micro"})
    plan = evaluate("staging", project_dir=scratch)
    assert plan.one(INSTANCE).inputs["instanceType"] == "t3.micro"
    assert plan.one(INSTANCE).inputs["ami"] != _bastion(production).inputs["ami"]


def test_nothing_may_reach_the_bastion(production):
    group = _bastion_group(production)
    (bastion_group,) = [g for g in production.of_type(GROUP) if str(g.id) == group]
    assert not bastion_group.inputs.get("ingress")
    assert [r for r in production.of_type(INGRESS) if r.inputs["securityGroupId"] == group] == []
    assert not any(
        r.inputs.get("fromPort", 0) <= port <= r.inputs.get("toPort", 65535)
        for r in production.of_type(INGRESS)
        for port in (22, 3389)
    )


def test_the_bastion_goes_out_only_to_https_and_the_data_stores(production):
    group = _bastion_group(production)
    egress = {
        (
            r.inputs["fromPort"],
            r.inputs.get("cidrIpv4") or r.inputs.get("referencedSecurityGroupId"),
        )
        for r in production.of_type(EGRESS)
        if r.inputs["securityGroupId"] == group
    }
    database, cache = _group_id(production, "-database"), _group_id(production, "-cache")
    assert egress == {(443, "0.0.0.0/0"), (5432, database), (6379, cache)}


def test_the_data_stores_admit_the_bastion_beside_the_nodes(production):
    group = _bastion_group(production)
    database, cache = _group_id(production, "-database"), _group_id(production, "-cache")
    from_bastion = [
        r for r in production.of_type(INGRESS) if r.inputs.get("referencedSecurityGroupId") == group
    ]
    assert {(r.inputs["securityGroupId"], r.inputs["fromPort"]) for r in from_bastion} == {
        (database, 5432),
        (cache, 6379),
    }
    from_nodes = [r for r in production.of_type(INGRESS) if r.name.endswith("-from-nodes")]
    assert {r.inputs["securityGroupId"] for r in from_nodes} >= {database, cache}


def test_shell_sessions_are_logged_encrypted_and_kept_a_year_in_production(production):
    document, content = _document(production, "Standard_Stream")
    assert document.inputs["documentType"] == "Session"
    assert document.inputs["name"] == "stagecraft-production-shell"
    settings = content["inputs"]
    key = _outputs(production)["kmsKeyArn"]
    assert settings["cloudWatchLogGroupName"] == "/aws/ssm/stagecraft-production/sessions"
    assert settings["cloudWatchEncryptionEnabled"] is True
    assert settings["cloudWatchStreamingEnabled"] is True
    assert settings["kmsKeyId"] == key
    assert settings["runAsEnabled"] is False
    # production's stack file: 15 idle minutes, two hours at most
    assert (settings["idleSessionTimeout"], settings["maxSessionDuration"]) == ("15", "120")
    (group,) = [
        g for g in production.of_type("aws:cloudwatch/logGroup:LogGroup")
        if g.inputs["name"] == settings["cloudWatchLogGroupName"]
    ]  # fmt: skip
    assert group.inputs["retentionInDays"] == 365
    assert group.inputs["kmsKeyId"] == key


def test_port_forwarding_reaches_this_environments_data_stores_only(production):
    document, content = _document(production, "Port")
    assert document.inputs["name"] == "stagecraft-production-data-stores"
    assert content["properties"]["type"] == "LocalPortForwarding"
    hosts = content["parameters"]["host"]["allowedValues"]
    replicas = [
        r
        for r in production.of_type("aws:rds/instance:Instance")
        if "replicateSourceDb" in r.inputs
    ]
    assert len(replicas) == 1
    # The primary first (the default), its replica, the cache's primary endpoint.
    assert hosts[0] == _outputs(production)["databaseAddress"]
    assert hosts[1].startswith("stagecraft-production-replica-1.")
    assert hosts[2] == _outputs(production)["redisEndpoint"]
    assert len(hosts) == 3
    assert content["parameters"]["host"]["default"] == hosts[0]
    assert content["parameters"]["portNumber"]["allowedValues"] == ["5432", "6379"]
    assert "allowedPattern" not in content["parameters"]["host"]


def test_the_bastion_role_has_session_manager_and_its_log_group_under_the_boundary(production):
    (role,) = [r for r in production.of_type("aws:iam/role:Role") if r.name.endswith("-bastion")]
    assert role.inputs["permissionsBoundary"] == (
        f"arn:aws:iam::{ACCOUNT}:policy/stagecraft-production-boundary"
    )
    trust = json.loads(role.inputs["assumeRolePolicy"])
    assert trust["Statement"][0]["Principal"] == {"Service": "ec2.amazonaws.com"}
    attached = [
        a.inputs["policyArn"]
        for a in production.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment")
        if a.name.endswith("-bastion-AmazonSSMManagedInstanceCore")
    ]
    assert attached == ["arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore"]
    (inline,) = [
        p
        for p in production.of_type("aws:iam/rolePolicy:RolePolicy")
        if p.name.endswith("-bastion")
    ]
    policy = json.loads(inline.inputs["policy"])
    group = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/ssm/stagecraft-production/sessions"
    other = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/eks/stagecraft-production/cluster"
    assert decide(policy, "logs:PutLogEvents", f"{group}:log-stream:s-1") == "allowed"
    assert decide(policy, "logs:PutLogEvents", f"{other}:log-stream:s-1") != "allowed"
    key = _outputs(production)["kmsKeyArn"]
    assert decide(policy, "kms:Decrypt", key) == "allowed"
    assert decide(policy, "kms:Decrypt", "arn:aws:kms:us-east-1:123456789012:key/other") != (
        "allowed"
    )


def test_operators_find_the_bastion_in_the_outputs(production):
    outputs = _outputs(production)
    assert outputs["bastionInstanceId"] == str(_bastion(production).id)
    assert outputs["sessionDocumentName"] == "stagecraft-production-shell"
    assert outputs["portForwardingDocumentName"] == "stagecraft-production-data-stores"
    assert outputs["sessionLogGroup"] == "/aws/ssm/stagecraft-production/sessions"


def test_staging_and_dev_keep_their_own_retention(staging, dev):
    for plan, days in ((staging, 90), (dev, 30)):
        _, content = _document(plan, "Standard_Stream")
        name = content["inputs"]["cloudWatchLogGroupName"]
        (group,) = [
            g for g in plan.of_type("aws:cloudwatch/logGroup:LogGroup")
            if g.inputs["name"] == name
        ]  # fmt: skip
        assert group.inputs["retentionInDays"] == days


def test_the_sandbox_has_no_bastion_and_no_way_in():
    sandbox = evaluate("sandbox", project_dir=REPO)
    assert sandbox.of_type(INSTANCE) == []
    assert sandbox.of_type(DOCUMENT) == []
    assert "bastionInstanceId" not in sandbox.outputs


def test_the_bastion_is_priced_all_month_with_its_volume(production):
    prices = load_prices()
    cost = estimate(production, budget=1800)
    lines = [line for line in cost.lines if line.type == INSTANCE]
    hourly = prices.price("ec2", "instance_per_hour", "t4g.nano")
    per_gb = prices.price("ebs", "gp3_per_gb_month")
    assert hourly
    assert per_gb
    assert [round(line.monthly, 4) for line in lines] == [
        round(hourly * prices.hours, 4),
        round(8 * per_gb, 4),
    ]


def test_every_bastion_type_the_config_accepts_has_a_price():
    prices = load_prices()
    for family, sizes in BASTION_INSTANCE_FAMILIES.items():
        for size in sizes:
            assert prices.price("ec2", "instance_per_hour", f"{family}.{size}"), f"{family}.{size}"


# --------------------------------------------------------------------------- #
# Config
# --------------------------------------------------------------------------- #


def _problems(project: Project, stack: str, **overrides: Any) -> list[str]:
    with pytest.raises(ConfigError) as raised:
        stack_config(project, stack, **overrides)
    return [str(p) for p in raised.value.problems]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"bastionInstanceType": "m5.large"}, "stagecraft:bastionInstanceType"),
        ({"bastionInstanceType": "t4g.large"}, "stagecraft:bastionInstanceType"),
        ({"sessionLogRetentionDays": 100}, "must be one of CloudWatch's retention periods"),
        ({"sessionIdleTimeoutMinutes": 61}, "stagecraft:sessionIdleTimeoutMinutes"),
        ({"sessionMaxDurationMinutes": 0}, "stagecraft:sessionMaxDurationMinutes"),
    ],
)
def test_bad_values_are_refused_naming_the_key(project, overrides, message):
    problems = _problems(project, "staging", **overrides)
    assert len(problems) == 1, problems
    assert message in problems[0]


def test_production_keeps_session_logs_at_least_a_year(project):
    (problem,) = _problems(project, "production", sessionLogRetentionDays=180)
    assert "stagecraft:sessionLogRetentionDays" in problem
    assert "180" in problem
    assert "at least 365 in production" in problem


def test_bastion_keys_without_a_bastion_are_refused(project):
    problems = _problems(
        project, "sandbox", bastionInstanceType="t4g.micro", sessionLogRetentionDays=30
    )
    assert len(problems) == 2
    assert all("applies only with bastion: true" in p for p in problems)
    assert any("stagecraft:bastionInstanceType" in p for p in problems)


def test_a_bad_value_is_one_clean_error_from_the_cli(scratch, capsys):
    from stagecraft.cli.main import main

    edit_stack(scratch, "staging", **{"stagecraft:bastionInstanceType": "m5.large"})
    assert main(["--project-dir", str(scratch), "plan", "--stack", "staging"]) != 0
    captured = capsys.readouterr()
    text = captured.out + captured.err
    assert "stagecraft:bastionInstanceType" in text
    assert "Traceback" not in text


# --------------------------------------------------------------------------- #
# A person's policy (pure: no Pulumi)
# --------------------------------------------------------------------------- #

TARGET = SessionTarget(
    partition="aws",
    region=REGION,
    account_id=ACCOUNT,
    instance_id="i-0123456789abcdef0",
    shell_document="stagecraft-production-shell",
    port_forwarding_document="stagecraft-production-data-stores",
    key_arn=f"arn:aws:kms:{REGION}:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab",
)
CALLER = "AROAEXAMPLEONCALL0001:alice"
INSTANCE_ARN = f"arn:aws:ec2:{REGION}:{ACCOUNT}:instance/{TARGET.instance_id}"
DOCUMENTS = f"arn:aws:ssm:{REGION}:{ACCOUNT}:document"
CHECKED = {"ssm:SessionDocumentAccessCheck": "true"}


def _as_caller(kind: SessionKind) -> dict[str, Any]:
    """The policy with ${aws:userid} filled in as IAM does for CALLER."""
    text = session_policy([kind], TARGET)
    return json.loads(text.replace("${aws:userid}", CALLER))


@pytest.mark.parametrize(("kind", "own", "other"), [
    ("shell", "stagecraft-production-shell", "stagecraft-production-data-stores"),
    ("port-forwarding", "stagecraft-production-data-stores", "stagecraft-production-shell"),
])  # fmt: skip
def test_a_person_starts_sessions_on_this_bastion_with_this_document_only(kind, own, other):
    policy = _as_caller(kind)
    assert decide(policy, "ssm:StartSession", INSTANCE_ARN, CHECKED) == "allowed"
    assert decide(policy, "ssm:StartSession", f"{DOCUMENTS}/{own}", CHECKED) == "allowed"
    assert decide(policy, "ssm:StartSession", f"{DOCUMENTS}/{other}", CHECKED) != "allowed"
    # The account's default shell (another environment's preferences, or none).
    for default in (f"{DOCUMENTS}/SSM-SessionManagerRunShell",
                    f"arn:aws:ssm:{REGION}::document/AWS-StartPortForwardingSession"):  # fmt: skip
        assert decide(policy, "ssm:StartSession", default, CHECKED) != "allowed"
    other_instance = f"arn:aws:ec2:{REGION}:{ACCOUNT}:instance/i-0fffffffffffffff0"
    assert decide(policy, "ssm:StartSession", other_instance, CHECKED) != "allowed"
    # The document check cannot be switched off.
    off = {"ssm:SessionDocumentAccessCheck": "false"}
    assert decide(policy, "ssm:StartSession", INSTANCE_ARN, off) != "allowed"


def test_every_start_session_statement_requires_the_document_check():
    kinds: tuple[SessionKind, ...] = ("shell", "port-forwarding")
    for kind in kinds:
        for statement in session_statements(kind, TARGET):
            if "ssm:StartSession" in json.dumps(statement["Action"]):
                assert statement["Condition"] == {
                    "BoolIfExists": {"ssm:SessionDocumentAccessCheck": "true"}
                }


def test_a_person_resumes_and_ends_only_their_own_sessions():
    policy = _as_caller("shell")
    mine = f"arn:aws:ssm:{REGION}:{ACCOUNT}:session/{CALLER}-0a1b2c3d4e5f60718"
    theirs = f"arn:aws:ssm:{REGION}:{ACCOUNT}:session/AROAEXAMPLEONCALL0001:bob-0a1b2c3d4e5f6"
    for action in ("ssm:TerminateSession", "ssm:ResumeSession", "ssmmessages:OpenDataChannel"):
        assert decide(policy, action, mine) == "allowed", action
        assert decide(policy, action, theirs) != "allowed", action


def test_only_a_shell_may_encrypt_with_the_environment_key():
    assert decide(_as_caller("shell"), "kms:GenerateDataKey", TARGET.key_arn) == "allowed"
    assert decide(_as_caller("shell"), "kms:Decrypt", TARGET.key_arn) != "allowed"
    assert decide(_as_caller("port-forwarding"), "kms:GenerateDataKey", TARGET.key_arn) != (
        "allowed"
    )


def test_the_report_tells_a_weakened_bastion(production):
    from stagecraft.report import _shell_access_row

    assert _shell_access_row(production).startswith(
        "Session Manager bastion (t4g.nano): no inbound rule, no public IP, no SSH key, IMDSv2"
    )
    weak = dataclasses.replace(
        production,
        resources=[
            dataclasses.replace(
                r, inputs={**r.inputs, "associatePublicIpAddress": True, "keyName": "ops"}
            )
            if r.type == INSTANCE
            else r
            for r in production.resources
        ],
    )
    row = _shell_access_row(weak)
    assert "PUBLIC IP" in row
    assert "SSH KEY" in row
