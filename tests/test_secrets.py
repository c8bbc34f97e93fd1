"""Secrets: one KMS key per environment; generated secrets never shown in clear."""

from __future__ import annotations

import io
import json

from rich.console import Console

from infra.components.secrets import connection_document
from stagecraft.cli.render import print_plan
from stagecraft.offline.engine import Plan
from stagecraft.offline.mocks import StagecraftMocks
from tests.conftest import ACCOUNT, environment_key

PASSWORD = "random:index/randomPassword:RandomPassword"


def test_one_rotating_kms_key_per_environment(plans):
    for stack, plan in plans.items():
        key = environment_key(plan)
        assert key.inputs["enableKeyRotation"] is True
        assert key.inputs["deletionWindowInDays"] == 30
        (alias,) = [a for a in plan.of_type("aws:kms/alias:Alias") if "-secrets-" in a.name]
        assert alias.inputs["name"] == f"alias/stagecraft-{stack}"


def test_key_policy_lets_cloudwatch_logs_use_the_key_for_this_account_only(production):
    policy = json.loads(environment_key(production).inputs["policy"])
    statements = {s["Sid"]: s for s in policy["Statement"]}
    assert statements["AccountAdministersKey"]["Principal"] == {
        "AWS": f"arn:aws:iam::{ACCOUNT}:root"
    }
    logs = statements["CloudWatchLogsEncryptsLogGroups"]
    assert logs["Principal"] == {"Service": "logs.us-east-1.amazonaws.com"}
    assert logs["Condition"]["ArnLike"]["kms:EncryptionContext:aws:logs:arn"] == (
        f"arn:aws:logs:us-east-1:{ACCOUNT}:log-group:*"
    )


def test_kms_key_protected_only_in_production(production, staging):
    assert environment_key(production).protect is True
    assert environment_key(staging).protect is False


def test_application_secrets_are_generated_and_stored_encrypted(staging):
    secrets = {s.inputs["name"]: s for s in staging.of_type("aws:secretsmanager/secret:Secret")}
    # The third-party slots (tests/test_third_party_secrets.py) are not generated.
    generated = {name for name in secrets if "/third-party/" not in name}
    assert generated == {
        "stagecraft-staging/jwt-secret",
        "stagecraft-staging/redis-password",
        "stagecraft-staging/connection-info",
        "stagecraft-staging/database-master",
        # The monitoring stack's: generated like the others, for people to sign in with.
        "stagecraft-staging/grafana-admin",
    }
    for secret in secrets.values():
        assert secret.inputs["kmsKeyId"].startswith(f"arn:aws:kms:us-east-1:{ACCOUNT}:key/")
    for version in staging.of_type("aws:secretsmanager/secretVersion:SecretVersion"):
        assert version.inputs["secretString"] == "[secret]"
    lengths = {p.name.rsplit("-", 2)[-2]: p.inputs["length"] for p in staging.of_type(PASSWORD)}
    assert lengths["jwt"] >= 32
    assert 16 <= lengths["redis"] <= 128  # ElastiCache user passwords
    assert 8 <= lengths["master"] <= 128  # RDS for PostgreSQL master passwords
    assert lengths["grafana"] >= 32


def test_connection_info_points_at_the_master_secret(staging):
    assert staging.outputs["connectionInfoSecretArn"].startswith(
        f"arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:stagecraft-staging/connection-info-"
    )
    version = next(
        v
        for v in staging.of_type("aws:secretsmanager/secretVersion:SecretVersion")
        if "connection-info" in v.name
    )
    database = next(r for r in staging.of_type("aws:rds/instance:Instance"))
    assert database.urn in version.dependencies


def _generated_values(plan: Plan) -> list[str]:
    """The values the mock cloud generated for each random secret in the plan."""
    mocks = StagecraftMocks("us-east-1")
    return [
        mocks._random_password(PASSWORD, p.name, {"length": p.inputs["length"]})[1]["result"]
        for p in plan.of_type(PASSWORD)
    ]


def test_no_secret_value_appears_in_plan_json_or_text(plans):
    for plan in plans.values():
        values = _generated_values(plan)
        # JWT secret, Redis password, database master password; Grafana's admin
        # password where the monitoring stack runs (not dev); production's
        # data-sync mask key.
        assert len(values) == {"dev": 3, "production": 5}.get(plan.stack, 4)
        assert all(len(v) >= 32 for v in values)
        document = json.dumps(plan.to_json())
        buffer = io.StringIO()
        print_plan(plan, Console(file=buffer, width=250, markup=False, emoji=False))
        text = buffer.getvalue()
        for value in values:
            assert value not in document
            assert value not in text


def test_only_the_kubeconfig_output_is_secret(production):
    secret_outputs = {k for k, v in production.outputs.items() if v == "[secret]"}
    assert secret_outputs == {"kubeconfig"}


def test_deleted_secrets_recoverable_only_where_protected(production, staging):
    for secret in production.of_type("aws:secretsmanager/secret:Secret"):
        assert secret.inputs["recoveryWindowInDays"] == 30
    for secret in staging.of_type("aws:secretsmanager/secret:Secret"):
        # re-created under the same name right after a destroy
        assert secret.inputs["recoveryWindowInDays"] == 0


def test_connection_document_names_secrets_and_holds_no_password():
    document = json.loads(
        connection_document(
            database_host="db.example",
            database_port=5432,
            database_name="app",
            database_username="stagecraft_admin",
            database_master_secret_arn="arn:aws:secretsmanager:us-east-1:1:secret:rds!db-x",
            redis_host="redis.example",
            redis_port=6379,
            redis_username="app",
            redis_password_secret_arn="arn:aws:secretsmanager:us-east-1:1:secret:redis",
            jwt_secret_arn="arn:aws:secretsmanager:us-east-1:1:secret:jwt",
        )
    )
    assert document["database"]["masterSecretArn"].endswith("rds!db-x")
    assert document["database"]["sslmode"] == "verify-full"
    assert document["redis"] == {
        "host": "redis.example",
        "port": 6379,
        "tls": True,
        "username": "app",
        "secretArn": "arn:aws:secretsmanager:us-east-1:1:secret:redis",
    }
    assert "password" not in json.dumps(document).lower()
