"""The bootstrap: state backend, GitHub OIDC, the CI roles and what each may touch.

The roles' documents are judged with IAM's evaluation logic
(tests/iam_evaluation.py) against the ARNs and tags of the resources the
staging and production plans create.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from infra.config import ConfigError
from stagecraft.cli.main import main
from stagecraft.offline.engine import Plan, PlannedResource, evaluate
from tests.conftest import ACCOUNT, REPO, REPOSITORY, SUBJECT, environment_key
from tests.iam_evaluation import decide, tag_context

BOOTSTRAP = REPO / "bootstrap"
REGION = "us-east-1"
ROLE = "aws:iam/role:Role"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
GITHUB = "token.actions.githubusercontent.com"


@pytest.fixture(scope="module")
def bootstrap() -> Plan:
    return evaluate("bootstrap", project_dir=BOOTSTRAP)


def _role(plan: Plan, name: str) -> PlannedResource:
    (role,) = [r for r in plan.of_type(ROLE) if r.inputs.get("name") == name]
    return role


def _permissions(plan: Plan, role_name: str) -> dict[str, Any]:
    role = _role(plan, role_name)
    (policy,) = [p for p in plan.of_type(ROLE_POLICY) if p.inputs["role"] == role.id]
    return json.loads(policy.inputs["policy"])


def _trust(plan: Plan, role_name: str) -> dict[str, Any]:
    return json.loads(_role(plan, role_name).inputs["assumeRolePolicy"])


# --------------------------------------------------------------------------- #
# What the plan creates
# --------------------------------------------------------------------------- #


def test_the_plan_has_the_bucket_keys_provider_and_roles(bootstrap):
    buckets = {b.inputs["bucket"] for b in bootstrap.of_type("aws:s3/bucket:Bucket")}
    assert buckets == {
        f"stagecraft-pulumi-state-{ACCOUNT}-{REGION}",
        f"stagecraft-pulumi-state-{ACCOUNT}-{REGION}-access-logs",
    }
    aliases = sorted(a.inputs["name"] for a in bootstrap.of_type("aws:kms/alias:Alias"))
    assert aliases == [
        "alias/stagecraft-pulumi-secrets-dev",
        "alias/stagecraft-pulumi-secrets-production",
        "alias/stagecraft-pulumi-secrets-sandbox",
        "alias/stagecraft-pulumi-secrets-staging",
        "alias/stagecraft-pulumi-state",
    ]
    assert all(k.inputs["enableKeyRotation"] for k in bootstrap.of_type("aws:kms/key:Key"))
    assert all(k.protect for k in bootstrap.of_type("aws:kms/key:Key"))
    provider = bootstrap.one("aws:iam/openIdConnectProvider:OpenIdConnectProvider")
    assert provider.inputs["url"] == f"https://{GITHUB}"
    assert provider.inputs["clientIdLists"] == ["sts.amazonaws.com"]
    assert sorted(r.inputs["name"] for r in bootstrap.of_type(ROLE)) == [
        "stagecraft-ci-deploy-production",
        "stagecraft-ci-deploy-staging",
        "stagecraft-ci-drift",
        "stagecraft-ci-plan-production",
        "stagecraft-ci-preview",
        "stagecraft-ci-preview-environments",
    ]


@pytest.mark.parametrize(
    ("role", "subject"),
    [
        ("stagecraft-ci-preview", f"{SUBJECT}:pull_request"),
        (
            "stagecraft-ci-preview-environments",
            f"{SUBJECT}:environment:preview-environments",
        ),
        ("stagecraft-ci-deploy-staging", f"{SUBJECT}:environment:staging"),
        ("stagecraft-ci-deploy-production", f"{SUBJECT}:environment:production"),
        (
            "stagecraft-ci-plan-production",
            f"{SUBJECT}:environment:production-plan",
        ),
    ],
)
def test_each_role_trusts_one_kind_of_job_of_one_repository(bootstrap, role, subject):
    (statement,) = _trust(bootstrap, role)["Statement"]
    assert statement["Principal"] == {"Federated": f"arn:aws:iam::{ACCOUNT}:oidc-provider/{GITHUB}"}
    assert statement["Action"] == "sts:AssumeRoleWithWebIdentity"
    # Exact matches only: no StringLike, no wildcard subject.
    assert statement["Condition"] == {
        "StringEquals": {f"{GITHUB}:aud": "sts.amazonaws.com", f"{GITHUB}:sub": subject}
    }
    assert _role(bootstrap, role).inputs["maxSessionDuration"] == 4 * 3600


def test_immutable_subjects_name_the_owner_and_repository_ids(scratch_bootstrap):
    plan = evaluate(
        "bootstrap",
        project_dir=scratch_bootstrap,
        config_overrides={
            "stagecraft:githubOwnerId": 9919,
            "stagecraft:githubRepositoryId": 1296269,
        },
    )
    (statement,) = _trust(plan, "stagecraft-ci-deploy-staging")["Statement"]
    assert statement["Condition"]["StringEquals"][f"{GITHUB}:sub"] == (
        "repo:{}@9919/{}@1296269:environment:staging".format(*REPOSITORY.split("/"))
    )


def test_the_state_bucket_is_versioned_encrypted_private_tls_only_and_logged(bootstrap):
    state = f"stagecraft-pulumi-state-{ACCOUNT}-{REGION}"
    logs = f"{state}-access-logs"

    def of(type_suffix: str, bucket: str) -> dict[str, Any]:
        (found,) = [
            r.inputs for r in bootstrap.resources
            if r.type.endswith(type_suffix) and r.inputs.get("bucket") == bucket
        ]  # fmt: skip
        return found

    for bucket in (state, logs):
        assert of(":BucketVersioning", bucket)["versioningConfiguration"] == {"status": "Enabled"}
        block = of(":BucketPublicAccessBlock", bucket)
        assert all(block[k] for k in ("blockPublicAcls", "blockPublicPolicy",
                                      "ignorePublicAcls", "restrictPublicBuckets"))  # fmt: skip
        assert of(":BucketOwnershipControls", bucket)["rule"] == {
            "objectOwnership": "BucketOwnerEnforced"
        }
        (deny,) = [
            s for s in json.loads(of(":BucketPolicy", bucket)["policy"])["Statement"]
            if s["Effect"] == "Deny"
        ]  # fmt: skip
        assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    (rule,) = of(":BucketServerSideEncryptionConfiguration", state)["rules"]
    (state_key,) = [
        k for k in bootstrap.of_type("aws:kms/key:Key")
        if k.name == "stagecraft-bootstrap-backend-state-key"
    ]  # fmt: skip
    assert rule["applyServerSideEncryptionByDefault"]["sseAlgorithm"] == "aws:kms"
    assert rule["bucketKeyEnabled"] is True
    assert state_key.id in rule["applyServerSideEncryptionByDefault"]["kmsMasterKeyId"]
    # S3 writes access logs only into SSE-S3 buckets.
    (log_rule,) = of(":BucketServerSideEncryptionConfiguration", logs)["rules"]
    assert log_rule["applyServerSideEncryptionByDefault"] == {"sseAlgorithm": "AES256"}
    assert of(":BucketLogging", state)["targetBucket"] == logs
    (expiry,) = of(":BucketLifecycleConfiguration", state)["rules"]
    assert expiry["noncurrentVersionExpiration"] == {"noncurrentDays": 90}


def test_outputs_are_what_the_workflows_and_stack_files_need(bootstrap):
    outputs = bootstrap.outputs
    assert outputs["githubRepositoryVariables"] == {
        "PULUMI_BACKEND_URL": f"s3://stagecraft-pulumi-state-{ACCOUNT}-{REGION}"
        f"?region={REGION}&awssdk=v2",
        "AWS_REGION": REGION,
        "AWS_PREVIEW_ROLE_ARN": f"arn:aws:iam::{ACCOUNT}:role/stagecraft-ci-preview",
        "AWS_PREVIEW_ENVIRONMENT_ROLE_ARN": f"arn:aws:iam::{ACCOUNT}:role/"
        "stagecraft-ci-preview-environments",
    }
    assert outputs["githubEnvironmentVariables"] == {
        "staging": {
            "AWS_DEPLOY_ROLE_ARN": f"arn:aws:iam::{ACCOUNT}:role/stagecraft-ci-deploy-staging"
        },
        "production": {
            "AWS_DEPLOY_ROLE_ARN": f"arn:aws:iam::{ACCOUNT}:role/stagecraft-ci-deploy-production"
        },
        "production-plan": {
            "AWS_PLAN_ROLE_ARN": f"arn:aws:iam::{ACCOUNT}:role/stagecraft-ci-plan-production"
        },
        "preview-environments": {
            "PULUMI_SECRETS_PROVIDER": "awskms://alias/stagecraft-pulumi-secrets-staging"
            f"?region={REGION}"
        },
        "drift-check": {"AWS_DRIFT_ROLE_ARN": f"arn:aws:iam::{ACCOUNT}:role/stagecraft-ci-drift"},
    }


def test_the_drift_role_reads_and_never_changes_or_reads_a_secret(bootstrap):
    from stagecraft.verify import READ_ACTIONS

    role = _role(bootstrap, "stagecraft-ci-drift")
    (statement,) = json.loads(role.inputs["assumeRolePolicy"])["Statement"]
    assert statement["Condition"]["StringEquals"][f"{GITHUB}:sub"] == (
        f"{SUBJECT}:environment:drift-check"
    )
    policy = _permissions(bootstrap, "stagecraft-ci-drift")
    database = f"arn:aws:rds:{REGION}:{ACCOUNT}:db:stagecraft-production"
    for action in READ_ACTIONS:
        assert decide(policy, action, "*") == "allowed", action
    changes = ("rds:ModifyDBInstance", "rds:DeleteDBInstance",
               "ec2:AuthorizeSecurityGroupIngress", "iam:PassRole", "s3:GetObject")  # fmt: skip
    for action in changes:
        assert decide(policy, action, database) == "implicitly denied", action
    secret = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:stagecraft-production/jwt-secret"
    assert decide(policy, "secretsmanager:GetSecretValue", secret) == "denied"


@pytest.mark.parametrize("stack", ["dev", "staging", "production", "sandbox"])
def test_the_stack_files_list_the_ci_roles_the_bootstrap_made(bootstrap, project, stack):
    raw = project.read_stack(stack)
    for key, arns in bootstrap.outputs["stackFileAccess"][stack].items():
        assert set(arns) <= set(raw[f"stagecraft:{key}"]), (stack, key)


# --------------------------------------------------------------------------- #
# What each role may touch, judged the way IAM judges
# --------------------------------------------------------------------------- #


def _arn(resource: PlannedResource) -> str | None:
    """The ARN AWS gives what the plan creates (None: a type IAM does not name)."""
    inputs, rid = resource.inputs, str(resource.id)
    regional = f"{REGION}:{ACCOUNT}"
    return {
        "aws:rds/instance:Instance": f"arn:aws:rds:{regional}:db:{inputs.get('identifier')}",
        "aws:rds/subnetGroup:SubnetGroup": f"arn:aws:rds:{regional}:subgrp:{rid}",
        "aws:rds/parameterGroup:ParameterGroup": f"arn:aws:rds:{regional}:pg:{rid}",
        "aws:secretsmanager/secret:Secret": rid,
        "aws:elasticache/replicationGroup:ReplicationGroup": (
            f"arn:aws:elasticache:{regional}:replicationgroup:{rid}"
        ),
        "aws:elasticache/user:User": f"arn:aws:elasticache:{regional}:user:{inputs.get('userId')}",
        "aws:elasticache/userGroup:UserGroup": (
            f"arn:aws:elasticache:{regional}:usergroup:{inputs.get('userGroupId')}"
        ),
        "aws:eks/cluster:Cluster": f"arn:aws:eks:{regional}:cluster/{inputs.get('name')}",
        "aws:iam/role:Role": f"arn:aws:iam::{ACCOUNT}:role/{rid}",
        "aws:kms/key:Key": f"arn:aws:kms:{regional}:key/{rid}",
        "aws:cloudwatch/logGroup:LogGroup": f"arn:aws:logs:{regional}:log-group:{rid}",
        "aws:ec2/vpc:Vpc": f"arn:aws:ec2:{regional}:vpc/{rid}",
        "aws:ec2/subnet:Subnet": f"arn:aws:ec2:{regional}:subnet/{rid}",
        "aws:ec2/securityGroup:SecurityGroup": f"arn:aws:ec2:{regional}:security-group/{rid}",
        "aws:ec2/natGateway:NatGateway": f"arn:aws:ec2:{regional}:natgateway/{rid}",
        "aws:ec2/routeTable:RouteTable": f"arn:aws:ec2:{regional}:route-table/{rid}",
        "aws:s3/bucket:Bucket": f"arn:aws:s3:::{inputs.get('bucket')}",
        "aws:sns/topic:Topic": f"arn:aws:sns:{regional}:{inputs.get('name')}",
        "aws:cloudwatch/metricAlarm:MetricAlarm": (
            f"arn:aws:cloudwatch:{regional}:alarm:{inputs.get('name')}"
        ),
        "aws:cloudtrail/trail:Trail": f"arn:aws:cloudtrail:{regional}:trail/{inputs.get('name')}",
        "aws:chatbot/slackChannelConfiguration:SlackChannelConfiguration": (
            f"arn:aws:chatbot::{ACCOUNT}:chat-configuration/slack-channel/"
            f"{inputs.get('configurationName')}"
        ),
        "aws:ec2/instance:Instance": f"arn:aws:ec2:{regional}:instance/{rid}",
        "aws:ssm/document:Document": f"arn:aws:ssm:{regional}:document/{inputs.get('name')}",
        "aws:iam/instanceProfile:InstanceProfile": f"arn:aws:iam::{ACCOUNT}:instance-profile/{rid}",
    }.get(resource.type)


# Changing or reading what must stay the environment's own.
ACTIONS = {
    "aws:rds/instance:Instance": ["rds:DeleteDBInstance", "rds:ModifyDBInstance"],
    "aws:rds/subnetGroup:SubnetGroup": ["rds:DeleteDBSubnetGroup"],
    "aws:rds/parameterGroup:ParameterGroup": ["rds:ModifyDBParameterGroup"],
    "aws:secretsmanager/secret:Secret": [
        "secretsmanager:GetSecretValue", "secretsmanager:PutSecretValue",
        "secretsmanager:DeleteSecret",
    ],
    "aws:elasticache/replicationGroup:ReplicationGroup": [
        "elasticache:DeleteReplicationGroup", "elasticache:ModifyReplicationGroup",
    ],
    "aws:elasticache/user:User": ["elasticache:ModifyUser", "elasticache:DeleteUser"],
    "aws:elasticache/userGroup:UserGroup": ["elasticache:DeleteUserGroup"],
    "aws:eks/cluster:Cluster": ["eks:DeleteCluster", "eks:CreateAccessEntry"],
    "aws:iam/role:Role": ["iam:DeleteRole", "iam:PutRolePolicy", "iam:UpdateAssumeRolePolicy"],
    "aws:kms/key:Key": ["kms:ScheduleKeyDeletion", "kms:Decrypt", "kms:PutKeyPolicy"],
    "aws:cloudwatch/logGroup:LogGroup": ["logs:DeleteLogGroup", "logs:PutRetentionPolicy"],
    "aws:ec2/vpc:Vpc": ["ec2:DeleteVpc"],
    "aws:ec2/subnet:Subnet": ["ec2:DeleteSubnet"],
    "aws:ec2/securityGroup:SecurityGroup": [
        "ec2:AuthorizeSecurityGroupIngress", "ec2:DeleteSecurityGroup",
    ],
    "aws:ec2/natGateway:NatGateway": ["ec2:DeleteNatGateway"],
    "aws:ec2/routeTable:RouteTable": ["ec2:CreateRoute"],
    "aws:s3/bucket:Bucket": [
        "s3:DeleteBucket", "s3:PutBucketPolicy", "s3:PutLifecycleConfiguration",
    ],
    "aws:sns/topic:Topic": ["sns:DeleteTopic", "sns:Subscribe", "sns:SetTopicAttributes"],
    "aws:cloudwatch/metricAlarm:MetricAlarm": [
        "cloudwatch:DeleteAlarms", "cloudwatch:PutMetricAlarm", "cloudwatch:DisableAlarmActions",
    ],
    "aws:cloudtrail/trail:Trail": [
        "cloudtrail:StopLogging", "cloudtrail:DeleteTrail", "cloudtrail:UpdateTrail",
    ],
    "aws:chatbot/slackChannelConfiguration:SlackChannelConfiguration": [
        "chatbot:DeleteSlackChannelConfiguration",
    ],
    # The Session Manager bastion, its session documents and instance profile.
    "aws:ec2/instance:Instance": ["ec2:TerminateInstances", "ec2:ModifyInstanceAttribute"],
    "aws:ssm/document:Document": ["ssm:UpdateDocument", "ssm:DeleteDocument"],
    "aws:iam/instanceProfile:InstanceProfile": [
        "iam:AddRoleToInstanceProfile", "iam:DeleteInstanceProfile",
    ],
}  # fmt: skip


def _attempts(plan: Plan, **context: str) -> list[tuple[str, str, dict[str, str]]]:
    tags = {**tag_context({"environment": plan.stack, "project": "stagecraft"}), **context}
    found = []
    for resource in plan.resources:
        arn = _arn(resource)
        for action in ACTIONS.get(resource.type, []):
            if arn:
                found.append((action, arn, tags))
    assert len(found) > 40, "the plan should offer plenty to attack"
    return found


def test_the_preview_environment_role_cannot_act_on_staging_or_production(plans, bootstrap):
    document = _permissions(bootstrap, "stagecraft-ci-preview-environments")
    for stack in ("staging", "production"):
        allowed = [
            (action, arn) for action, arn, context in _attempts(plans[stack])
            if decide(document, action, arn, context) == "allowed"
        ]  # fmt: skip
        assert allowed == [], stack


def test_what_previews_must_use_of_stagings_is_allowed_and_nothing_more(plans, bootstrap):
    document = _permissions(bootstrap, "stagecraft-ci-preview-environments")
    staging = plans["staging"]
    key = str(_arn(environment_key(staging)))
    tags = tag_context({"environment": "staging"})
    through_secrets = {**tags, "kms:ViaService": f"secretsmanager.{REGION}.amazonaws.com"}
    # The preview's secrets are encrypted under staging's key, through Secrets Manager...
    assert decide(document, "kms:GenerateDataKey", key, through_secrets) == "allowed"
    # ...and only so: directly, or to administer the key, never.
    assert decide(document, "kms:Decrypt", key, tags) != "allowed"
    assert decide(document, "kms:ScheduleKeyDeletion", key, through_secrets) != "allowed"
    # Its Redis user joins staging's user group; staging's own users stay out of reach.
    group = str(_arn(staging.one("aws:elasticache/userGroup:UserGroup")))
    assert decide(document, "elasticache:ModifyUserGroup", group, tags) == "allowed"
    app_user = next(
        u
        for u in staging.of_type("aws:elasticache/user:User")
        if u.inputs["userId"].endswith("-app")
    )
    assert decide(document, "elasticache:ModifyUserGroup", str(_arn(app_user)), tags) == "denied"


def test_the_preview_environment_role_builds_its_own_stack(bootstrap):
    document = _permissions(bootstrap, "stagecraft-ci-preview-environments")
    own = tag_context({"environment": "pr-7"})
    bucket = f"arn:aws:s3:::stagecraft-pulumi-state-{ACCOUNT}-{REGION}"
    secret = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:stagecraft-pr-7/jwt-secret-Ab12Cd"
    assert decide(document, "secretsmanager:CreateSecret", secret, own) == "allowed"
    assert (
        decide(
            document,
            "rds:CreateDBInstance",
            f"arn:aws:rds:{REGION}:{ACCOUNT}:db:stagecraft-pr-7",
            own,
        )
        == "allowed"
    )
    # The TTL tags change on every push: its groups are re-tagged, staging's never.
    group = f"arn:aws:ec2:{REGION}:{ACCOUNT}:security-group/sg-0123"
    assert decide(document, "ec2:CreateTags", group, own) == "allowed"
    assert decide(document, "ec2:CreateTags", group, tag_context({"environment": "staging"})) != (
        "allowed"
    )
    # No IAM at all: a role it made would outlive the preview, with any trust.
    role = f"arn:aws:iam::{ACCOUNT}:role/stagecraft-pr-7-database-jobs-irsa"
    for action in ("iam:CreateRole", "iam:PutRolePolicy", "iam:UpdateAssumeRolePolicy"):
        assert decide(document, action, role, own) == "denied"
    # State: its own written, staging's read, production's never.
    assert decide(document, "s3:PutObject", f"{bucket}/.pulumi/stacks/stagecraft/pr-7.json") == (
        "allowed"
    )
    assert decide(document, "s3:GetObject", f"{bucket}/.pulumi/stacks/stagecraft/staging.json") == (
        "allowed"
    )
    assert decide(document, "s3:PutObject", f"{bucket}/.pulumi/stacks/stagecraft/staging.json") != (
        "allowed"
    )
    assert (
        decide(document, "s3:GetObject", f"{bucket}/.pulumi/stacks/stagecraft/production.json")
        == "denied"
    )


def test_a_deploy_role_never_reaches_another_environment(plans, bootstrap):
    staging_role = _permissions(bootstrap, "stagecraft-ci-deploy-staging")
    production_role = _permissions(bootstrap, "stagecraft-ci-deploy-production")
    for document, other in ((staging_role, "production"), (production_role, "staging")):
        allowed = [
            (action, arn) for action, arn, context in _attempts(plans[other])
            if decide(document, action, arn, context) == "allowed"
        ]  # fmt: skip
        assert allowed == [], other
    # Its own environment it can build: its roles keep the environment's boundary.
    boundary = f"arn:aws:iam::{ACCOUNT}:policy/stagecraft-staging-boundary"
    own = [
        (action, arn)
        for action, arn, context in _attempts(
            plans["staging"], **{"iam:PermissionsBoundary": boundary}
        )
        if decide(staging_role, action, arn, context) != "allowed"
    ]
    assert own == []


def test_a_deploy_role_cannot_grant_itself_more_than_it_has(bootstrap):
    """Every role it makes carries the environment's boundary, which no one but the
    bootstrap may change: no path from deploy role to account administrator."""
    document = _permissions(bootstrap, "stagecraft-ci-deploy-staging")
    role = f"arn:aws:iam::{ACCOUNT}:role/stagecraft-staging-anything"
    boundary = {
        "iam:PermissionsBoundary": f"arn:aws:iam::{ACCOUNT}:policy/stagecraft-staging-boundary"
    }
    assert decide(document, "iam:CreateRole", role, boundary) == "allowed"
    assert decide(document, "iam:CreateRole", role) != "allowed"
    assert decide(document, "iam:PutRolePolicy", role) != "allowed"
    production_boundary = {
        "iam:PermissionsBoundary": f"arn:aws:iam::{ACCOUNT}:policy/stagecraft-production-boundary"
    }
    assert decide(document, "iam:CreateRole", role, production_boundary) != "allowed"
    assert decide(document, "iam:DeleteRolePermissionsBoundary", role) == "denied"
    admin = {**boundary, "iam:PolicyARN": "arn:aws:iam::aws:policy/AdministratorAccess"}
    assert decide(document, "iam:AttachRolePolicy", role, admin) == "allowed"  # capped by it
    own_policy = {**boundary, "iam:PolicyARN": f"arn:aws:iam::{ACCOUNT}:policy/anything"}
    assert decide(document, "iam:AttachRolePolicy", role, own_policy) == "denied"
    for action in ("iam:CreatePolicyVersion", "iam:DeletePolicy", "iam:SetDefaultPolicyVersion"):
        assert (
            decide(document, action, f"arn:aws:iam::{ACCOUNT}:policy/stagecraft-staging-boundary")
            == "denied"
        )


@pytest.mark.parametrize("environment", ["dev", "sandbox", "staging", "production"])
def test_an_environments_roles_are_capped_by_its_boundary(bootstrap, plans, environment):
    (policy,) = [
        p for p in bootstrap.of_type("aws:iam/policy:Policy")
        if p.inputs["name"] == f"stagecraft-{environment}-boundary"
    ]  # fmt: skip
    boundary = json.loads(policy.inputs["policy"])
    own = tag_context({"environment": environment})
    db = f"arn:aws:rds:{REGION}:{ACCOUNT}:db:stagecraft-{environment}"
    assert decide(boundary, "rds:DescribeDBInstances", db, own) == "allowed"
    assert decide(boundary, "ec2:CreateNetworkInterface", "*") == "allowed"
    # The Session Manager agent on the bastion, and people's session channels.
    for action in ("ssmmessages:CreateControlChannel", "ec2messages:GetMessages",
                   "ssm:UpdateInstanceInformation", "ssmmessages:OpenDataChannel"):  # fmt: skip
        assert decide(boundary, action, "*") == "allowed", action
    # No IAM (but the service-linked roles its services make), nothing of
    # another environment, not the bootstrap's keys or the state.
    assert decide(boundary, "iam:CreateRole", f"arn:aws:iam::{ACCOUNT}:role/x") != "allowed"
    assert decide(boundary, "iam:AttachRolePolicy", f"arn:aws:iam::{ACCOUNT}:role/x") != "allowed"
    other = "production" if environment != "production" else "staging"
    assert decide(boundary, "rds:DeleteDBInstance", db, tag_context({"environment": other})) == (
        "denied"
    )
    keys = {
        a.inputs["name"]: a.inputs["targetKeyId"] for a in bootstrap.of_type("aws:kms/alias:Alias")
    }
    state_key = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/{keys['alias/stagecraft-pulumi-state']}"
    assert decide(boundary, "kms:Decrypt", state_key) == "denied"
    bucket = f"arn:aws:s3:::stagecraft-pulumi-state-{ACCOUNT}-{REGION}"
    assert decide(boundary, "s3:GetObject", f"{bucket}/.pulumi/stacks/stagecraft/x.json") == (
        "denied"
    )


def test_every_role_an_environment_makes_carries_its_boundary(plans):
    for stack, plan in plans.items():
        for role in plan.of_type(ROLE):
            assert role.inputs["permissionsBoundary"] == (
                f"arn:aws:iam::{ACCOUNT}:policy/stagecraft-{stack}-boundary"
            ), role.name


def test_a_deploy_role_uses_the_bootstraps_keys_and_never_administers_them(bootstrap):
    document = _permissions(bootstrap, "stagecraft-ci-deploy-staging")
    keys = {
        a.inputs["name"]: f"arn:aws:kms:{REGION}:{ACCOUNT}:key/{a.inputs['targetKeyId']}"
        for a in bootstrap.of_type("aws:kms/alias:Alias")
    }
    state_key = keys["alias/stagecraft-pulumi-state"]
    assert decide(document, "kms:GenerateDataKey", state_key) == "allowed"
    assert decide(document, "kms:ScheduleKeyDeletion", state_key) == "denied"
    assert decide(document, "kms:Decrypt", keys["alias/stagecraft-pulumi-secrets-staging"]) == (
        "allowed"
    )
    assert decide(document, "kms:Decrypt", keys["alias/stagecraft-pulumi-secrets-production"]) == (
        "denied"
    )


def test_the_preview_role_only_reads_and_never_a_secret_or_production(plans, bootstrap):
    document = _permissions(bootstrap, "stagecraft-ci-preview")
    for stack in ("staging", "production"):
        allowed = [
            (action, arn) for action, arn, context in _attempts(plans[stack])
            if decide(document, action, arn, context) == "allowed"
        ]  # fmt: skip
        assert allowed == [], stack
    bucket = f"arn:aws:s3:::stagecraft-pulumi-state-{ACCOUNT}-{REGION}"
    assert decide(document, "s3:GetObject", f"{bucket}/.pulumi/stacks/stagecraft/dev.json") == (
        "allowed"
    )
    assert (
        decide(document, "s3:GetObject", f"{bucket}/.pulumi/stacks/stagecraft/production.json")
        == "denied"
    )
    assert decide(document, "ec2:DescribeVpcs", "*") == "allowed"
    assert decide(document, "secretsmanager:GetSecretValue", "*") == "denied"


def test_the_production_plan_role_reads_production_and_changes_nothing(plans, bootstrap):
    document = _permissions(bootstrap, "stagecraft-ci-plan-production")
    allowed = [
        (action, arn) for action, arn, context in _attempts(plans["production"])
        if decide(document, action, arn, context) == "allowed"
    ]  # fmt: skip
    assert allowed == []
    bucket = f"arn:aws:s3:::stagecraft-pulumi-state-{ACCOUNT}-{REGION}"
    assert (
        decide(document, "s3:GetObject", f"{bucket}/.pulumi/stacks/stagecraft/production.json")
        == "allowed"
    )
    assert (
        decide(document, "s3:PutObject", f"{bucket}/.pulumi/stacks/stagecraft/production.json")
        != "allowed"
    )
    assert (
        decide(document, "s3:GetObject", f"{bucket}/.pulumi/stacks/stagecraft/staging.json")
        != "allowed"
    )


# --------------------------------------------------------------------------- #
# Bad input, placeholders, the service-linked role
# --------------------------------------------------------------------------- #


@pytest.fixture
def scratch_bootstrap(scratch: Path) -> Path:
    return scratch / "bootstrap"


def _edit(directory: Path, **changes: object) -> None:
    path = directory / "Pulumi.bootstrap.yaml"
    document = yaml.safe_load(path.read_text())
    document["config"].update(changes)
    path.write_text(yaml.safe_dump(document, sort_keys=False))


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"stagecraft:previewStacks": ["staging", "production"]},
         "must not include production: the preview role runs a pull request's unreviewed code"),
        ({"stagecraft:githubRepository": "octo-org"},
         "must be '<owner>/<name>' as GitHub spells it"),
        ({"stagecraft:deployEnvironments": ["staging", "qa"]}, "stagecraft:deployEnvironments"),
        ({"stagecraft:stateBucketName": "My_Bucket"}, "must be an S3 bucket name of 3-51"),
        ({"stagecraft:githubOwnerId": 9919, "stagecraft:githubRepositoryId": 0},
         "githubOwnerId and githubRepositoryId go together"),
    ],
)  # fmt: skip
def test_bad_bootstrap_config_is_one_clear_error(scratch_bootstrap, capsys, changes, message):
    _edit(scratch_bootstrap, **changes)
    root = scratch_bootstrap.parent
    assert main(["--project-dir", str(root), "plan", "--stack", "bootstrap"]) == 2
    err = capsys.readouterr().err
    assert message in err
    assert "Traceback" not in err


def test_a_real_run_refuses_githubs_documentation_repository(scratch_bootstrap):
    _edit(
        scratch_bootstrap,
        **{
            "stagecraft:githubRepository": "octo-org/stagecraft",
            "stagecraft:awsAccountId": "210987654321",
        },
    )
    with pytest.raises(ConfigError) as caught:
        evaluate("bootstrap", project_dir=scratch_bootstrap, allow_placeholders=False)
    assert [str(p) for p in caught.value.problems] == [
        'stagecraft:githubRepository = "octo-org/stagecraft": is GitHub\'s documentation owner '
        "octo-org, not your repository: set the real one in Pulumi.bootstrap.yaml (README "
        "'Deploy for real'); documentation values plan offline only"
    ]


def test_the_autoscaling_service_linked_role_is_adopted_where_it_exists():
    # Declared either way: a resource that came and went with a lookup would
    # be deleted by the next run, once the role existed.
    existing = evaluate("bootstrap", project_dir=BOOTSTRAP)
    adopted = existing.one("aws:iam/serviceLinkedRole:ServiceLinkedRole")
    assert adopted.import_id == (
        f"arn:aws:iam::{ACCOUNT}:role/aws-service-role/autoscaling.amazonaws.com/"
        "AWSServiceRoleForAutoScaling"
    )
    fresh = evaluate("bootstrap", project_dir=BOOTSTRAP, bootstrapped=False)
    made = fresh.one("aws:iam/serviceLinkedRole:ServiceLinkedRole")
    assert made.import_id is None
    assert made.inputs["awsServiceName"] == "autoscaling.amazonaws.com"


def test_an_environment_in_an_account_not_bootstrapped_is_refused_before_anything(project):
    with pytest.raises(ConfigError) as caught:
        evaluate("staging", project_dir=REPO, bootstrapped=False)
    role, boundary = (str(p) for p in caught.value.problems)
    assert "no Auto Scaling service-linked role (AWSServiceRoleForAutoScaling)" in role
    assert "run the bootstrap first" in role
    assert (
        f"the permissions boundary arn:aws:iam::{ACCOUNT}:policy/stagecraft-staging-boundary "
        "cannot be read"
    ) in boundary


def test_an_existing_oidc_provider_is_looked_up_not_created(scratch_bootstrap):
    _edit(scratch_bootstrap, **{"stagecraft:githubOidcProvider": "existing"})
    plan = evaluate("bootstrap", project_dir=scratch_bootstrap)
    assert plan.of_type("aws:iam/openIdConnectProvider:OpenIdConnectProvider") == []
    (statement,) = _trust(plan, "stagecraft-ci-preview")["Statement"]
    assert statement["Principal"]["Federated"].endswith(f":oidc-provider/{GITHUB}")


def test_a_small_stack_makes_no_iam_role_and_uses_its_shared_stacks(small_stack_plan, plans):
    assert small_stack_plan.of_type(ROLE) == []
    account = small_stack_plan.one("kubernetes:core/v1:ServiceAccount")
    role_arn = account.inputs["metadata"]["annotations"]["eks.amazonaws.com/role-arn"]
    shared = next(r for r in plans["staging"].of_type(ROLE) if "small-stack-jobs" in r.name)
    assert role_arn == f"arn:aws:iam::{ACCOUNT}:role/{shared.id}"
    # Trusted by the database-admin ServiceAccount of pr-<n> namespaces only.
    (statement,) = json.loads(shared.inputs["assumeRolePolicy"])["Statement"]
    (subject,) = statement["Condition"]["StringLike"].values()
    assert subject == "system:serviceaccount:pr-*-dbadmin:database-admin"


@pytest.fixture(scope="module")
def small_stack_plan(tmp_path_factory: pytest.TempPathFactory) -> Plan:
    from stagecraft.offline.stackfiles import load_project, scratch_copy

    root = scratch_copy(load_project(REPO), tmp_path_factory.mktemp("small")).directory
    assert main(["--project-dir", str(root), "env", "create", "pr-7", "--own-database"]) == 0
    return evaluate("pr-7", project_dir=root / "ephemeral")


def test_a_deploy_role_keeps_its_trail_running_and_its_files(bootstrap, plans):
    """It may create the trail, but never silence, narrow or erase it afterwards."""
    document = _permissions(bootstrap, "stagecraft-ci-deploy-production")
    tags = tag_context({"environment": "production"})
    trail = plans["production"].outputs["trailArn"]
    bucket = f"arn:aws:s3:::stagecraft-production-cloudtrail-{ACCOUNT}"
    files = f"{bucket}/cloudtrail/AWSLogs/{ACCOUNT}/x.json.gz"
    assert decide(document, "cloudtrail:CreateTrail", trail, tags) == "allowed"
    assert decide(document, "s3:CreateBucket", bucket, tags) == "allowed"
    for action, resource in (
        ("cloudtrail:StopLogging", trail),
        ("cloudtrail:DeleteTrail", trail),
        ("cloudtrail:UpdateTrail", trail),
        ("cloudtrail:PutEventSelectors", trail),
        ("s3:DeleteObject", files),
        ("s3:DeleteObjectVersion", files),
        ("s3:PutObject", files),
        ("s3:DeleteBucket", bucket),
        ("s3:PutBucketPolicy", bucket),
        ("s3:PutBucketVersioning", bucket),
        ("s3:PutLifecycleConfiguration", bucket),
    ):
        assert decide(document, action, resource, tags) == "denied", action


def test_deploy_and_preview_roles_reach_the_bastions_image_and_its_own_documents(bootstrap):
    """What `pulumi up` of the Session Manager bastion needs, and no more of SSM or IAM."""
    deploy = _permissions(bootstrap, "stagecraft-ci-deploy-staging")
    image = (
        f"arn:aws:ssm:{REGION}::parameter/aws/service/ami-amazon-linux-latest/"
        "al2023-ami-kernel-default-arm64"
    )
    own = f"arn:aws:ssm:{REGION}:{ACCOUNT}:document/stagecraft-staging-shell"
    assert decide(deploy, "ssm:GetParameter", image) == "allowed"
    assert decide(deploy, "ssm:CreateDocument", own) == "allowed"
    # Never production's documents, nor the account's default shell preferences.
    for document in ("stagecraft-production-shell", "SSM-SessionManagerRunShell"):
        arn = f"arn:aws:ssm:{REGION}:{ACCOUNT}:document/{document}"
        assert decide(deploy, "ssm:UpdateDocument", arn) != "allowed", document
    secret_parameter = f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter/anything"
    assert decide(deploy, "ssm:GetParameter", secret_parameter) != "allowed"
    profile = (
        f"arn:aws:iam::{ACCOUNT}:instance-profile/stagecraft-staging-shell-access-bastion-1a2b3c4"
    )
    assert decide(deploy, "iam:CreateInstanceProfile", profile) == "allowed"
    role = f"arn:aws:iam::{ACCOUNT}:role/stagecraft-staging-shell-access-bastion"
    to_ec2 = {"iam:PassedToService": "ec2.amazonaws.com"}
    assert decide(deploy, "iam:PassRole", role, to_ec2) == "allowed"
    production_role = f"arn:aws:iam::{ACCOUNT}:role/stagecraft-production-shell-access-bastion"
    assert decide(deploy, "iam:PassRole", production_role, to_ec2) != "allowed"
    # A preview reads the image parameter the program asks for; no other parameter.
    preview = _permissions(bootstrap, "stagecraft-ci-preview")
    assert decide(preview, "ssm:GetParameter", image) == "allowed"
    assert decide(preview, "ssm:GetParameter", secret_parameter) != "allowed"
