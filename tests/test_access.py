"""Who may do what: the audience roles, the application's identity, the database roles' Job.

Read from the plans of the shipped stack files (the seeds' access table:
developers read production, QA joins in staging, only on-call writes in
production) and decided with IAM's evaluation logic (tests/iam_evaluation.py).
"""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml

from infra.components.access.application import database_login_settings
from infra.components.access.policies import (
    audience_policy,
    cluster_grants,
    connect_targets,
    db_user_arn,
)
from infra.config import ConfigError, StackConfig
from infra.sql import script
from stagecraft.offline.engine import Plan, PlannedResource, evaluate
from stagecraft.offline.mocks import _digest
from stagecraft.offline.stackfiles import Project
from tests.conftest import ACCOUNT, REPO, shipped_value, stack_config
from tests.iam_evaluation import decide

ROLE = "aws:iam/role:Role"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
ENTRY = "aws:eks/accessEntry:AccessEntry"
ASSOCIATION = "aws:eks/accessPolicyAssociation:AccessPolicyAssociation"
RDS = "aws:rds/instance:Instance"
JOB = "kubernetes:batch/v1:Job"


def _role(plan: Plan, audience: str) -> PlannedResource:
    name = f"stagecraft-{plan.stack}-{audience}"
    (role,) = [r for r in plan.of_type(ROLE) if r.inputs.get("name") == name]
    return role


def _grants(plan: Plan, audience: str) -> dict[str, Any]:
    (policy,) = [
        p for p in plan.of_type(ROLE_POLICY) if p.name == f"stagecraft-{plan.stack}-access-"
        f"{audience}-grants"
    ]  # fmt: skip
    return dict(json.loads(policy.inputs["policy"]))


def _login(plan: Plan, instance: PlannedResource, user: str) -> str:
    # The DbiResourceId the offline RDS gives the instance (a hash of its name).
    resource_id = "db-" + _digest(RDS, instance.name)[:26].upper()
    return db_user_arn("aws", "us-east-1", ACCOUNT, resource_id, user)


def _arn(kind: str, name: str) -> str:
    return {
        "role": f"arn:aws:iam::{ACCOUNT}:role/{name}",
        "db": f"arn:aws:rds:us-east-1:{ACCOUNT}:db:{name}",
        "cluster": f"arn:aws:eks:us-east-1:{ACCOUNT}:cluster/{name}",
    }[kind]


def _instances(plan: Plan) -> tuple[PlannedResource, list[PlannedResource]]:
    instances = plan.of_type(RDS)
    primary = next(i for i in instances if not i.inputs.get("replicateSourceDb"))
    return primary, [i for i in instances if i is not primary]


def _cluster_access(plan: Plan, audience: str) -> set[tuple[str, str, tuple[str, ...]]]:
    arn = _arn("role", _role(plan, audience).inputs["name"])
    return {
        (
            a.inputs["policyArn"].rsplit("/", 1)[-1],
            a.inputs["accessScope"]["type"],
            tuple(a.inputs["accessScope"].get("namespaces") or ()),
        )
        for a in plan.of_type(ASSOCIATION)
        if a.inputs["principalArn"] == arn
    }


def test_each_audience_role_is_assumed_by_exactly_the_listed_people(production, staging):
    for plan, audiences in ((production, ("developers", "oncall")),
                            (staging, ("developers", "qa", "oncall"))):  # fmt: skip
        roles = {
            r.inputs["name"] for r in plan.of_type(ROLE)
            if r.inputs.get("name", "").rsplit("-", 1)[-1] in ("developers", "qa", "oncall")
        }  # fmt: skip
        assert roles == {f"stagecraft-{plan.stack}-{a}" for a in audiences}
        for audience in audiences:
            role = _role(plan, audience)
            key = {"developers": "Developer", "qa": "Qa", "oncall": "Oncall"}[audience]
            people = shipped_value(f"stagecraft:access{key}PrincipalArns", plan.stack)
            (statement,) = json.loads(role.inputs["assumeRolePolicy"])["Statement"]
            assert statement["Principal"] == {"AWS": sorted(people)}
            assert statement["Action"] == ["sts:AssumeRole", "sts:SetSourceIdentity",
                                           "sts:TagSession"]  # fmt: skip
            assert "Condition" not in statement
            # Under the environment's boundary, like every role it makes.
            assert role.inputs["permissionsBoundary"].endswith(
                f":policy/stagecraft-{plan.stack}-boundary"
            )
    assert not [r for r in production.of_type(ROLE) if r.inputs.get("name", "").endswith("-qa")]


def test_in_production_developers_only_read_and_only_on_call_writes(production):
    primary, replicas = _instances(production)
    assert replicas, "production has a read replica"
    developers, oncall = _grants(production, "developers"), _grants(production, "oncall")
    readonly, readwrite, app = "stagecraft_readonly", "stagecraft_readwrite", "stagecraft_app"
    for instance in (primary, *replicas):
        assert decide(developers, "rds-db:connect", _login(production, instance, readonly)) \
            == "allowed"  # fmt: skip
    for user in (readwrite, app, "stagecraft_admin"):
        assert decide(developers, "rds-db:connect", _login(production, primary, user)) \
            == "implicitly denied", user  # fmt: skip
    # On-call writes, on the primary (a replica refuses writes anyway).
    assert decide(oncall, "rds-db:connect", _login(production, primary, readwrite)) == "allowed"
    assert decide(oncall, "rds-db:connect", _login(production, primary, readonly)) \
        == "implicitly denied"  # fmt: skip
    assert decide(oncall, "rds-db:connect", _login(production, replicas[0], readwrite)) \
        == "implicitly denied"  # fmt: skip
    # The cluster: developers view, on-call administers.
    assert _cluster_access(production, "developers") == {("AmazonEKSViewPolicy", "cluster", ())}
    assert _cluster_access(production, "oncall") == {("AmazonEKSClusterAdminPolicy", "cluster", ())}
    # Nothing else: finding the cluster and the instances.
    cluster = _arn("cluster", production.one("aws:eks/cluster:Cluster").inputs["name"])
    assert decide(developers, "eks:DescribeCluster", cluster) == "allowed"
    primary_arn = _arn("db", primary.inputs["identifier"])
    assert decide(developers, "rds:DescribeDBInstances", primary_arn) == "allowed"
    for action in (
        "rds:ModifyDBInstance",
        "secretsmanager:GetSecretValue",
        "eks:UpdateClusterConfig",
    ):
        assert decide(developers, action, "*") == "implicitly denied", action


def test_in_staging_developers_edit_their_namespace_and_qa_looks(staging):
    assert _cluster_access(staging, "developers") == {
        ("AmazonEKSViewPolicy", "cluster", ()),
        ("AmazonEKSEditPolicy", "namespace", ("staging",)),
    }
    assert _cluster_access(staging, "qa") == {("AmazonEKSViewPolicy", "cluster", ())}
    primary, _ = _instances(staging)
    qa = _grants(staging, "qa")
    assert decide(qa, "rds-db:connect", _login(staging, primary, "stagecraft_readonly")) \
        == "allowed"  # fmt: skip
    assert decide(qa, "rds-db:connect", _login(staging, primary, "stagecraft_readwrite")) \
        == "implicitly denied"  # fmt: skip
    # Each audience role has its one access entry, at the STANDARD type.
    entries = {e.inputs["principalArn"] for e in staging.of_type(ENTRY)}
    for audience in ("developers", "qa", "oncall"):
        assert _arn("role", _role(staging, audience).inputs["name"]) in entries


def test_the_application_logs_in_as_its_own_role_never_with_the_master_secret(production):
    (role,) = [r for r in production.of_type(ROLE) if "-application-irsa" in r.name]
    (statement,) = json.loads(role.inputs["assumeRolePolicy"])["Statement"]
    issuer = production.one("aws:iam/openIdConnectProvider:OpenIdConnectProvider")
    host = issuer.inputs["url"].removeprefix("https://")
    assert statement["Condition"] == {"StringEquals": {
        f"{host}:sub": "system:serviceaccount:production:app", f"{host}:aud": "sts.amazonaws.com",
    }}  # fmt: skip
    (policy,) = [p for p in production.of_type(ROLE_POLICY) if p.name.startswith(role.name)]
    grants = json.loads(policy.inputs["policy"])
    primary, replicas = _instances(production)
    for instance in (primary, *replicas):
        assert decide(grants, "rds-db:connect", _login(production, instance, "stagecraft_app")) \
            == "allowed"  # fmt: skip
    assert decide(grants, "rds-db:connect", _login(production, primary, "stagecraft_admin")) \
        == "implicitly denied"  # fmt: skip
    (account,) = [
        s for s in production.of_type("kubernetes:core/v1:ServiceAccount")
        if s.inputs["metadata"]["name"] == "app"
    ]  # fmt: skip
    assert account.inputs["metadata"]["namespace"] == "production"
    (annotation,) = account.inputs["metadata"]["annotations"].values()
    assert annotation.startswith(f"arn:aws:iam::{ACCOUNT}:role/stagecraft-production-application-")


def test_the_application_is_told_its_role_not_the_master_secret(project):
    # What the `app-connection` Secret (secret in the plan) holds about the login.
    spec = stack_config(project, "production").database
    assert database_login_settings(spec, master_secret_arn="arn:master") == {
        "DATABASE_USER": "stagecraft_app", "DATABASE_IAM_AUTH": "true",
    }  # fmt: skip
    # Without IAM authentication there is no role to log in as: the master user.
    # (The smoke test logs in as the application's IAM user: off too.)
    spec = stack_config(project, "sandbox", dbIamAuthentication=False,
                        accessDeveloperDatabase="none", smokeTest=False).database  # fmt: skip
    assert database_login_settings(spec, master_secret_arn="arn:master") == {
        "DATABASE_USER": "stagecraft_admin", "DATABASE_IAM_AUTH": "false",
        "DATABASE_MASTER_SECRET_ARN": "arn:master",
    }  # fmt: skip


def _access_roles_job(plan: Plan) -> dict[str, str]:
    (job,) = [
        j for j in plan.of_type(JOB) if j.inputs["metadata"]["name"] == "database-access-roles"
    ]
    assert job.inputs["metadata"]["namespace"] == "database-admin"
    (container,) = job.inputs["spec"]["template"]["spec"]["containers"]
    assert container["command"] == ["sh", "/sql/run.sh", "access-roles"]
    return {e["name"]: e.get("value") for e in container["env"]}


def test_the_database_roles_job_makes_only_the_roles_someone_uses(production, staging, dev):
    env = _access_roles_job(production)
    assert env["APP_ROLE"] == "stagecraft_app"
    assert env["ROLE"] == "stagecraft_admin"  # the owner, whose tables the roles read
    # Production: developers read (read-only), on-call writes (read-write).
    assert (env["WANT_READONLY"], env["WANT_READWRITE"]) == ("true", "true")
    # Dev: developers read-write, on-call read-write; nobody read-only.
    env = _access_roles_job(dev)
    assert (env["WANT_READONLY"], env["WANT_READWRITE"]) == ("false", "true")
    # The SQL ships beside it.
    (sql,) = [
        c for c in staging.of_type("kubernetes:core/v1:ConfigMap")
        if c.inputs["metadata"]["name"] == "database-sql"
        and c.inputs["metadata"]["namespace"] == "database-admin"
    ]  # fmt: skip
    assert sql.inputs["data"]["access_roles.sql"] == script("access_roles.sql")


def test_no_audience_no_role(scratch):
    path = scratch / "Pulumi.staging.yaml"
    document = yaml.safe_load(path.read_text())
    document["config"] = {
        k: v for k, v in document["config"].items() if not k.startswith("stagecraft:access")
    }
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    plan = evaluate("staging", project_dir=scratch)
    assert not [r for r in plan.of_type(ROLE) if r.inputs.get("name", "").endswith("-qa")]
    assert not [r for r in plan.resources if r.parent and "Access$" in r.parent.split("::")[-1]]
    assert "audienceRoleArns" not in plan.outputs
    assert _access_roles_job(plan)["WANT_READONLY"] == "false"


# --------------------------------------------------------------------------- #
# Config: one clear error per broken rule
# --------------------------------------------------------------------------- #


def _problems(project: Project, stack: str, **overrides: Any) -> str:
    with pytest.raises(ConfigError) as error:
        stack_config(project, stack, **overrides)
    return str(error.value)


def test_production_refuses_write_access_for_anyone_but_on_call(project):
    message = _problems(project, "production", accessDeveloperDatabase="read-write",
                        accessDeveloperCluster="edit")  # fmt: skip
    assert (
        "stagecraft:accessDeveloperDatabase = \"read-write\": must be 'none' or 'read-only' in "
        "production: only the on-call role changes production's data"
    ) in message
    assert (
        "stagecraft:accessDeveloperCluster = \"edit\": must be 'view' in production: only the "
        "on-call role changes production"
    ) in message
    # On-call may.
    config: StackConfig = stack_config(project, "production", accessOncallCluster="admin",
                                       accessOncallDatabase="read-write")  # fmt: skip
    assert config.access.oncall.writes


def test_an_audience_without_people_cannot_be_given_access(project):
    message = _problems(project, "production", accessQaCluster="edit")
    assert (
        'stagecraft:accessQaCluster = "edit": applies to a role nobody may assume; list '
        "stagecraft:accessQaPrincipalArns or remove it"
    ) in message


def test_database_access_needs_iam_authentication(project):
    message = _problems(project, "dev", dbIamAuthentication=False)
    assert (
        'stagecraft:accessDeveloperDatabase = "read-write": logs in with an IAM token, so it '
        "needs dbIamAuthentication: true (or set it to 'none')"
    ) in message


@pytest.mark.parametrize(
    "value",
    ["arn:aws:iam::123456789012:root", "developer", "arn:aws:iam::123456789012:group/devs"],
)
def test_principals_are_role_or_user_arns(project, value):
    message = _problems(project, "staging", accessQaPrincipalArns=[value])
    assert f"'{value}' is not an IAM role or user ARN" in message


# --------------------------------------------------------------------------- #
# The documents, without Pulumi
# --------------------------------------------------------------------------- #


def test_read_only_people_may_use_the_replicas_writers_only_the_primary(project):
    access = stack_config(project, "production").access
    assert connect_targets(access.developer, "db-P", ["db-R1", "db-R2"]) == [
        "db-P",
        "db-R1",
        "db-R2",
    ]
    assert connect_targets(access.oncall, "db-P", ["db-R1"]) == ["db-P"]
    assert cluster_grants(access.oncall) == [("AmazonEKSClusterAdminPolicy", "cluster")]


def test_an_audience_without_a_database_role_gets_no_login(project):
    access = stack_config(project, "staging", accessQaDatabase="none").access
    document = audience_policy(
        access.qa, cluster_arn="arn:aws:eks:us-east-1:1:cluster/c", primary_arn="p",
        replica_arns=[], connect_arns=[],
    )  # fmt: skip
    assert [s["Sid"] for s in document["Statement"]] == ["FindTheCluster"]


def _sessions(plan: Plan, audience: str) -> dict[str, Any] | None:
    found = [
        p for p in plan.of_type(ROLE_POLICY)
        if p.name == f"stagecraft-{plan.stack}-access-{audience}-sessions"
    ]  # fmt: skip
    return json.loads(found[0].inputs["policy"]) if found else None


def test_on_call_opens_shells_on_the_bastion_the_others_only_forward_to_the_database(
    production, plans
):
    oncall, developers = _sessions(production, "oncall"), _sessions(production, "developers")
    assert oncall is not None
    assert developers is not None

    def documents(policy: dict[str, Any]) -> set[str]:
        return {
            arn.rsplit("/", 1)[-1]
            for statement in policy["Statement"]
            if statement["Action"] == "ssm:StartSession"
            for arn in statement["Resource"]
            if ":document/" in arn
        }

    assert documents(oncall) == {"stagecraft-production-shell", "stagecraft-production-data-stores"}
    assert documents(developers) == {"stagecraft-production-data-stores"}
    # Each Sid once (IAM refuses a policy that repeats one).
    for policy in (oncall, developers):
        sids = [s["Sid"] for s in policy["Statement"]]
        assert len(sids) == len(set(sids))
    shell = f"arn:aws:ssm:us-east-1:{ACCOUNT}:document/stagecraft-production-shell"
    assert decide(developers, "ssm:StartSession", shell,
                  {"ssm:SessionDocumentAccessCheck": "true"}) == "implicitly denied"  # fmt: skip
    # The sandbox has no bastion: nobody gets a session policy there.
    sandbox = plans.get("sandbox") or evaluate("sandbox", project_dir=REPO)
    assert _sessions(sandbox, "developers") is None
