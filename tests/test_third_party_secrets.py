"""Third-party secrets: slots without values, delivered into the namespace, per environment.

What a user relies on, read from the real plans: each environment's slots
exist under its own key and hold no value; the External Secrets Operator is
pinned and holds no AWS identity; the one store reads as one ServiceAccount
whose role can read this environment's slots and nothing else (decided by
IAM's evaluation logic, tests/iam_evaluation.py); the ExternalSecret delivers
every slot into one Secret; bad config is refused with one line per key.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from infra.charts import EXTERNAL_SECRETS
from infra.config import ConfigError
from stagecraft.offline.engine import Plan, PlannedResource, evaluate
from tests.conftest import (
    ACCOUNT,
    edit_stack,
    environment_key,
    inside,
    shipped_value,
    stack_config,
)
from tests.iam_evaluation import decide

COMPONENT = "stagecraft:index:ThirdPartySecrets"
SECRET = "aws:secretsmanager/secret:Secret"
STORE = "kubernetes:external-secrets.io/v1:SecretStore"
EXTERNAL_SECRET = "kubernetes:external-secrets.io/v1:ExternalSecret"
RELEASE = "kubernetes:helm.sh/v3:Release"
REGION = "us-east-1"


def _slot_arn(stack: str, name: str) -> str:
    # As Secrets Manager makes it: the name and a six-character suffix.
    return secret_arn(f"stagecraft-{stack}/third-party/{name}")


def secret_arn(name: str) -> str:
    return f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:{name}-AbCdEf"


def _mine(plan: Plan) -> list[PlannedResource]:
    return inside(plan, COMPONENT)


def _one(plan: Plan, type_token: str) -> PlannedResource:
    (found,) = [r for r in _mine(plan) if r.type == type_token]
    return found


def _reader_policy(plan: Plan) -> dict[str, Any]:
    (policy,) = [
        r
        for r in _mine(plan)
        if r.type == "aws:iam/rolePolicy:RolePolicy" and "third-party-secrets-reader" in r.urn
    ]
    return dict(json.loads(policy.inputs["policy"]))


@pytest.mark.parametrize("stack", ["dev", "staging", "production"])
def test_each_environment_has_its_own_empty_slots_under_its_own_key(plans, stack):
    plan = plans[stack]
    slots = {r.inputs["name"]: r for r in _mine(plan) if r.type == SECRET}
    wanted = shipped_value("stagecraft:thirdPartySecrets", stack)
    assert sorted(slots) == sorted(f"stagecraft-{stack}/third-party/{n}" for n in wanted)
    for slot in slots.values():
        assert slot.inputs["tags"]["rotation"] == "by hand"
    # No value anywhere: no version is planned, so `pulumi up` never writes
    # one nor overwrites the one an operator put.
    assert not [
        r for r in _mine(plan) if r.type == "aws:secretsmanager/secretVersion:SecretVersion"
    ]


@pytest.mark.parametrize("stack", ["staging", "production"])
def test_the_slots_are_encrypted_with_the_environment_key(plans, stack):
    arns = {r.inputs["kmsKeyId"] for r in _mine(plans[stack]) if r.type == SECRET}
    assert arns == {f"arn:aws:kms:{REGION}:{ACCOUNT}:key/{environment_key(plans[stack]).id}"}
    # The key every generated secret of the environment uses.
    generated = {
        r.inputs["kmsKeyId"]
        for r in plans[stack].of_type(SECRET)
        if r.inputs["name"] == f"stagecraft-{stack}/jwt-secret"
    }
    assert arns == generated


@pytest.mark.parametrize(
    ("stack", "days"), [("staging", "30"), ("production", "90"), ("dev", "90")]
)
def test_each_slot_carries_its_environments_age_policy(plans, stack, days):
    tags = {r.inputs["tags"]["max-age-days"] for r in _mine(plans[stack]) if r.type == SECRET}
    assert tags == {days}


def test_the_operator_is_pinned_and_has_no_aws_identity_of_its_own(production):
    release = _one(production, RELEASE)
    assert release.inputs["chart"] == "external-secrets"
    assert release.inputs["version"] == EXTERNAL_SECRETS.version
    assert release.inputs["repositoryOpts"]["repo"] == "https://charts.external-secrets.io"
    values = release.inputs["values"]
    assert "annotations" not in values["serviceAccount"]
    assert values["rbac"]["serviceAccountTokenCreate"] is False
    assert values["processClusterStore"] is False
    assert values["crds"]["createClusterSecretStore"] is False
    # Production runs two of each (addonReplicas: 2), one leader at a time.
    assert values["replicaCount"] == 2
    assert values["leaderElect"] is True


def test_the_operator_may_mint_a_token_for_the_reader_only(production):
    namespace = shipped_value("stagecraft:namespace", "production")
    (role,) = [
        r for r in _mine(production) if r.type == "kubernetes:rbac.authorization.k8s.io/v1:Role"
    ]
    assert role.inputs["metadata"]["namespace"] == namespace
    assert role.inputs["rules"] == [
        {
            "apiGroups": [""],
            "resources": ["serviceaccounts/token"],
            "resourceNames": ["third-party-secrets-reader"],
            "verbs": ["create"],
        }
    ]
    (binding,) = [
        r
        for r in _mine(production)
        if r.type == "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding"
    ]
    assert binding.inputs["subjects"] == [
        {"kind": "ServiceAccount", "name": "external-secrets", "namespace": "kube-system"}
    ]


def test_the_readers_role_trusts_exactly_its_service_account(production):
    namespace = shipped_value("stagecraft:namespace", "production")
    (role,) = [r for r in _mine(production) if r.type == "aws:iam/role:Role" and "reader" in r.name]
    (statement,) = json.loads(role.inputs["assumeRolePolicy"])["Statement"]
    condition = statement["Condition"]["StringEquals"]
    assert sorted(condition.values()) == sorted(
        [f"system:serviceaccount:{namespace}:third-party-secrets-reader", "sts.amazonaws.com"]
    )
    assert role.inputs["permissionsBoundary"].endswith(":policy/stagecraft-production-boundary")
    account = _one(production, "kubernetes:core/v1:ServiceAccount")
    assert account.inputs["metadata"]["namespace"] == namespace
    annotation = account.inputs["metadata"]["annotations"]["eks.amazonaws.com/role-arn"]
    assert annotation.startswith(
        f"arn:aws:iam::{ACCOUNT}:role/stagecraft-production-third-party-secrets-reader"
    )


@pytest.mark.parametrize(
    ("secret", "decision"),
    [
        (_slot_arn("production", "payment-api-key"), "allowed"),
        (_slot_arn("production", "a-slot-added-later"), "allowed"),
        # Another environment's slot, and a developer stack's prefix.
        (_slot_arn("staging", "payment-api-key"), "implicitly denied"),
        (
            secret_arn("stagecraft-production-x/third-party/a"),
            "implicitly denied",
        ),
        # This environment's generated secrets are not delivered.
        (
            secret_arn("stagecraft-production/jwt-secret"),
            "implicitly denied",
        ),
        (
            secret_arn("stagecraft-production/database-master"),
            "implicitly denied",
        ),
    ],
)
def test_the_reader_reads_this_environments_slots_and_nothing_else(production, secret, decision):
    policy = _reader_policy(production)
    assert decide(policy, "secretsmanager:GetSecretValue", secret) == decision
    assert decide(policy, "secretsmanager:PutSecretValue", secret) == "implicitly denied"
    assert decide(policy, "secretsmanager:ListSecrets", "*") == "implicitly denied"


def test_the_reader_decrypts_only_its_slots_through_secrets_manager(production):
    policy = _reader_policy(production)
    (key,) = {r.inputs["kmsKeyId"] for r in _mine(production) if r.type == SECRET}
    via = {"kms:ViaService": f"secretsmanager.{REGION}.amazonaws.com"}
    slot = _slot_arn("production", "payment-api-key")
    assert (
        decide(policy, "kms:Decrypt", key, {**via, "kms:EncryptionContext:SecretARN": slot})
        == "allowed"
    )
    jwt = secret_arn("stagecraft-production/jwt-secret")
    assert (
        decide(policy, "kms:Decrypt", key, {**via, "kms:EncryptionContext:SecretARN": jwt})
        == "implicitly denied"
    )
    assert decide(policy, "kms:Decrypt", key, {"kms:EncryptionContext:SecretARN": slot}) == (
        "implicitly denied"
    )


def test_one_namespaced_store_delivers_every_slot_into_one_secret(staging):
    namespace = shipped_value("stagecraft:namespace", "staging")
    store = _one(staging, STORE)
    assert store.inputs["metadata"]["namespace"] == namespace
    assert store.inputs["spec"]["provider"]["aws"] == {
        "service": "SecretsManager",
        "region": REGION,
        "auth": {"jwt": {"serviceAccountRef": {"name": "third-party-secrets-reader"}}},
    }
    delivery = _one(staging, EXTERNAL_SECRET)
    spec = delivery.inputs["spec"]
    assert delivery.inputs["metadata"]["namespace"] == namespace
    assert spec["target"] == {"name": "third-party-secrets", "creationPolicy": "Owner"}
    assert spec["secretStoreRef"] == {"name": "third-party", "kind": "SecretStore"}
    assert spec["refreshInterval"] == "60m"
    assert {d["secretKey"]: d["remoteRef"]["key"] for d in spec["data"]} == {
        name: f"stagecraft-staging/third-party/{name}"
        for name in shipped_value("stagecraft:thirdPartySecrets", "staging")
    }
    # Created after the chart (its CRDs and webhook) and the store.
    release = _one(staging, RELEASE)
    assert release.urn in store.dependencies
    assert store.urn in delivery.dependencies


def test_the_slots_are_exported_for_operators(production):
    arns = production.outputs["thirdPartySecretArns"]
    assert sorted(arns) == sorted(shipped_value("stagecraft:thirdPartySecrets", "production"))
    assert production.outputs["thirdPartySecretsReaderRoleArn"].startswith(
        f"arn:aws:iam::{ACCOUNT}:role/stagecraft-production-third-party-secrets-reader"
    )


def test_a_stack_without_slots_runs_no_operator(scratch):
    edit_stack(scratch, "sandbox", **{"stagecraft:thirdPartySecrets": []})
    plan = evaluate("sandbox", project_dir=scratch)
    assert not plan.of_type(COMPONENT)
    assert not [r for r in plan.of_type(RELEASE) if r.inputs["chart"] == "external-secrets"]
    assert "thirdPartySecretArns" not in plan.outputs


@pytest.mark.parametrize(
    ("stack", "overrides", "message"),
    [
        ("staging", {"thirdPartySecrets": ["Payment_Key"]},
         "stagecraft:thirdPartySecrets = [\"Payment_Key\"]: 'Payment_Key' is not a slot name: "
         "lowercase letters, digits and single dashes"),
        ("staging", {"thirdPartySecrets": ["a" * 65]}, "at most 64 characters"),
        ("staging", {"thirdPartySecrets": ["api-key", "api-key"]}, "lists api-key more than once"),
        ("staging", {"thirdPartySecrets": ["double--dash"]}, "is not a slot name"),
        ("staging", {"thirdPartySecrets": [f"k{n}" for n in range(51)]}, "at most 50"),
        ("staging", {"externalSecretsRefreshMinutes": 0},
         "stagecraft:externalSecretsRefreshMinutes = 0"),
        ("staging", {"secretRotationDays": 0}, "stagecraft:secretRotationDays = 0"),
        ("production", {"secretRotationDays": 120},
         "stagecraft:secretRotationDays = 120: must be at most 90 in production"),
    ],
)  # fmt: skip
def test_bad_secrets_config_is_refused_naming_the_key(project, stack, overrides, message):
    with pytest.raises(ConfigError) as caught:
        stack_config(project, stack, **overrides)
    assert any(message in str(p) for p in caught.value.problems), caught.value.problems
