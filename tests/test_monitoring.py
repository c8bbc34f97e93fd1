"""Monitoring, alerting and the audit trail: sized and routed by each stack's config."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from pydantic import SecretStr
from rich.console import Console

from infra.components.observability import alarms, routing
from infra.components.observability.asg_metrics import _Provider
from infra.config import AlertingSpec, ConfigError, parse_stack_config
from stagecraft.cli.render import print_plan
from stagecraft.offline.engine import Plan, evaluate
from tests.conftest import ACCOUNT, REPO, edit_stack, environment_key, shipped_value

RELEASE = "kubernetes:helm.sh/v3:Release"
ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
BUCKET = "aws:s3/bucket:Bucket"
TOPIC = "aws:sns/topic:Topic"
TRAIL = "aws:cloudtrail/trail:Trail"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
ROLE = "aws:iam/role:Role"
SECRETS = frozenset(
    {
        "stagecraft:alertSlackWebhookUrl",
        "stagecraft:alertPagerdutyRoutingKey",
        "stagecraft:alertPagerdutyCloudwatchKey",
    }
)
# Realistic secret values, as `pulumi up` would hand them over decrypted.
WEBHOOK = "https://hooks.slack.com/services/T0AAAAAAA/B0BBBBBBB/s3cr3tW3bh00kT0k3nXyZ"
ROUTING_KEY = "R0ut1ngK3yR0ut1ngK3yR0ut1ngK3y01"
CLOUDWATCH_KEY = "Cl0udW4tchK3yCl0udW4tchK3yCl0ud2"


def _problems(
    project: Any, stack: str, secrets: dict[str, str] | None = None, **changes: Any
) -> list[str]:
    overrides = {k if ":" in k else f"stagecraft:{k}": v for k, v in changes.items()}
    values = {**project.config_map(stack, overrides).values, **(secrets or {})}
    with pytest.raises(ConfigError) as caught:
        parse_stack_config(
            values, project="stagecraft", stack=stack, secret_keys=SECRETS | set(secrets or {})
        )
    return [str(p) for p in caught.value.problems]


def _release(plan: Plan, chart: str) -> Any:
    (release,) = [r for r in plan.of_type(RELEASE) if r.inputs["chart"] == chart]
    return release


# --------------------------------------------------------------------------- #
# Config: one clear line per problem
# --------------------------------------------------------------------------- #


def test_an_unknown_receiver_kind_is_refused(project):
    assert _problems(project, "staging", alertReceivers=["slack", "teams"]) == [
        'stagecraft:alertReceivers = ["slack", "teams"]: must be one of \'slack\', '
        "'pagerduty' or 'email'"
    ]


def test_a_webhook_that_is_not_https_is_refused_without_repeating_it(project):
    plain_http = "http://hooks.slack.com/services/T0/B0/leaky"
    problems = _problems(
        project, "staging", secrets={"stagecraft:alertSlackWebhookUrl": plain_http}
    )
    assert problems == [
        'stagecraft:alertSlackWebhookUrl = "[secret]": must be an https:// URL (a Slack '
        "incoming webhook, https://hooks.slack.com/...)"
    ]
    assert not any("leaky" in p for p in problems)


def test_a_secret_written_in_plain_text_is_refused_without_repeating_it(project):
    values = dict(project.config_map("staging").values)
    values["stagecraft:alertSlackWebhookUrl"] = WEBHOOK
    with pytest.raises(ConfigError) as caught:
        parse_stack_config(values, project="stagecraft", stack="staging")
    assert [str(p) for p in caught.value.problems] == [
        'stagecraft:alertSlackWebhookUrl = "[secret]": holds a secret in plain text; store it '
        "encrypted with `pulumi config set --secret stagecraft:alertSlackWebhookUrl` (it "
        "prompts for the value), and if the plain one was ever committed or shared, rotate it"
    ]
    assert "s3cr3t" not in str(caught.value)


@pytest.mark.parametrize(
    ("key", "value", "rule"),
    [
        ("tracesRetentionDays", 90, "must be at most 30"),
        ("logsRetentionDays", 0, "must be at least 1"),
        ("metricsRetentionDays", 400, "must be at most 365"),
        ("metricsVolumeGb", 5, "must be at least 10"),
        ("longTermMetricsRetentionDays", 7, "must be at least 30"),
    ],
)
def test_a_retention_or_size_the_tools_refuse_is_refused(project, key, value, rule):
    assert _problems(project, "production", **{key: value}) == [
        f"stagecraft:{key} = {value}: {rule}"
    ]


def test_monitoring_settings_in_a_stack_without_monitoring_are_refused(project):
    assert _problems(project, "dev", metricsRetentionDays=30, tracesRetentionDays=7) == [
        "stagecraft:metricsRetentionDays = 30: is a setting of the in-cluster monitoring "
        "stack, which monitoring: false turns off; remove it, or set stagecraft:monitoring: true",
        "stagecraft:tracesRetentionDays = 7: is a setting of the in-cluster monitoring "
        "stack, which monitoring: false turns off; remove it, or set stagecraft:monitoring: true",
    ]


def test_a_receiver_kind_needs_its_settings_and_only_its_own(project):
    assert _problems(
        project, "staging", alertReceivers=["email"], alertEmailTo=["not-an-address"]
    ) == [
        'stagecraft:alertEmailTo = ["not-an-address"]: not-an-address: not an email address '
        "such as oncall@example.com",
    ]
    assert _problems(
        project, "staging", alertReceivers=["email"], alertEmailTo=["oncall@acme-platform.io"]
    ) == [
        'stagecraft:alertSlackWebhookUrl = "[secret]": is a slack receiver setting, but '
        "alertReceivers does not list slack; remove it, or add slack to "
        "stagecraft:alertReceivers",
        'stagecraft:alertSlackChannel = "#alerts-staging": is a slack receiver setting, but '
        "alertReceivers does not list slack; remove it, or add slack to "
        "stagecraft:alertReceivers",
        'stagecraft:alertSlackTeamId = "T0EXAMPLE": is a slack receiver setting, but '
        "alertReceivers does not list slack; remove it, or add slack to "
        "stagecraft:alertReceivers",
        'stagecraft:alertSlackChannelId = "C0EXAMPLE1": is a slack receiver setting, but '
        "alertReceivers does not list slack; remove it, or add slack to "
        "stagecraft:alertReceivers",
    ]


def test_alertmanagers_settings_are_needed_where_it_runs_and_refused_where_not(project):
    email: dict[str, Any] = {
        "alertReceivers": ["email"],
        "alertEmailTo": ["oncall@acme-platform.io"],
    }
    slack_off = {"alertSlackWebhookUrl": "", "alertSlackChannel": "",
                 "alertSlackTeamId": "", "alertSlackChannelId": ""}  # fmt: skip
    assert _problems(project, "staging", None, **email, **slack_off) == [
        'stagecraft:alertEmailFrom = "": is required while alertReceivers lists email '
        "(Alertmanager, in the cluster, sends with it)",
        'stagecraft:alertEmailSmarthost = "": is required while alertReceivers lists email '
        "(Alertmanager, in the cluster, sends with it)",
    ]
    # dev runs no Alertmanager: the SNS topic's email subscription is all it needs...
    values = project.config_map("dev", {f"stagecraft:{k}": v for k, v in email.items()}).values
    config = parse_stack_config(values, project="stagecraft", stack="dev")
    assert config.alerting.alert_receivers == ["email"]
    # ...and Alertmanager's sender would be used by nothing.
    assert _problems(project, "dev", None, **email, alertEmailFrom="alerts@acme-platform.io") == [
        'stagecraft:alertEmailFrom = "alerts@acme-platform.io": is read by Alertmanager only, '
        "which monitoring: false turns off (CloudWatch alarms reach email through the SNS "
        "topic); remove it, or set stagecraft:monitoring: true"
    ]


def test_alarm_settings_without_anyone_to_notify_are_refused(project):
    assert _problems(project, "dev", alarmDbCpuPercent=90) == [
        "stagecraft:alarmDbCpuPercent = 90: alarms and health checks need someone to notify; "
        "list a kind in stagecraft:alertReceivers, or remove it"
    ]


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"cloudTrail": False}, "stagecraft:cloudTrail = false: must be true in production"),
        (
            {
                "monitoring": False,
                "metricsRetentionDays": 15,
                "metricsVolumeGb": 50,
                "logsRetentionDays": 7,
                "logsVolumeGb": 10,
                "tracesRetentionDays": 3,
                "tracesVolumeGb": 10,
                "longTermMetrics": False,
            },
            "stagecraft:monitoring = false: must be true in production",
        ),
        (
            {"longTermMetrics": False},
            "stagecraft:longTermMetrics = false: must be true in production",
        ),
        ({"healthCheckPath": ""}, 'stagecraft:healthCheckPath = "": must be set in production'),
    ],
)
def test_production_must_be_monitored_and_audited(project, change, expected):
    secrets = {"stagecraft:alertPagerdutyRoutingKey": ROUTING_KEY,
               "stagecraft:alertPagerdutyCloudwatchKey": CLOUDWATCH_KEY}  # fmt: skip
    if change.get("monitoring") is False:
        secrets["stagecraft:alertPagerdutyRoutingKey"] = ""  # Alertmanager's, which goes
    problems = _problems(project, "production", secrets=secrets, **change)
    assert len(problems) == 1
    assert problems[0].startswith(expected)


def test_production_must_page_someone(project):
    problems = _problems(
        project,
        "production",
        alertReceivers=[],
        alertPagerdutyRoutingKey="",
        alertPagerdutyCloudwatchKey="",
        healthCheckPath="",
    )
    assert any(
        p.startswith("stagecraft:alertReceivers = []: must list at least one receiver")
        for p in problems
    )


def test_the_health_check_needs_us_east_1(project):
    problems = _problems(project, "production", None, **{"aws:region": "eu-west-1"})
    assert (
        'stagecraft:healthCheckPath = "/healthz": Route 53 publishes health-check metrics in '
        "us-east-1 only, so the check's alarm cannot live in eu-west-1; leave it empty here"
    ) in problems


# --------------------------------------------------------------------------- #
# The plan: what each environment gets
# --------------------------------------------------------------------------- #


def test_production_keeps_the_seeds_retentions(production):
    prometheus = _release(production, "kube-prometheus-stack").inputs["values"]
    assert prometheus["prometheus"]["prometheusSpec"]["retention"] == "90d"
    storage = prometheus["prometheus"]["prometheusSpec"]["storageSpec"]["volumeClaimTemplate"]
    assert storage["spec"]["resources"]["requests"]["storage"] == "150Gi"
    assert storage["spec"]["storageClassName"] == "gp3"
    loki = _release(production, "loki").inputs["values"]
    assert loki["loki"]["limits_config"]["retention_period"] == "720h"  # 30 days
    assert loki["loki"]["compactor"]["retention_enabled"] is True
    assert _release(production, "tempo").inputs["values"]["tempo"]["retention"] == "168h"
    # Metrics kept long-term in S3 too: Thanos's compactor keeps 13 months.
    thanos = _release(production, "thanos").inputs["values"]
    assert "--retention.resolution-raw=395d" in thanos["compact"]["extraArgs"]
    assert prometheus["prometheus"]["prometheusSpec"]["thanos"]["objectStorageConfig"] == {
        "existingSecret": {"name": "thanos-objstore", "key": "objstore.yml"}
    }


def test_staging_keeps_its_column_and_dev_runs_no_monitoring(staging, plans):
    prometheus = _release(staging, "kube-prometheus-stack").inputs["values"]
    assert prometheus["prometheus"]["prometheusSpec"]["retention"] == "30d"
    assert _release(staging, "loki").inputs["values"]["loki"]["limits_config"] == {
        "retention_period": "168h"
    }
    assert _release(staging, "tempo").inputs["values"]["tempo"]["retention"] == "72h"
    assert not [r for r in staging.of_type(RELEASE) if r.inputs["chart"] == "thanos"]
    dev = plans["dev"]
    assert not [r for r in dev.of_type(RELEASE) if r.inputs["namespace"] == "monitoring"]
    assert not [r for r in dev.resources if r.type in (BUCKET, TOPIC, ALARM, TRAIL)]
    assert "grafanaAdminSecretArn" not in dev.outputs


def test_the_telemetry_buckets_are_private_tls_only_encrypted_and_expire(production):
    key = production.outputs["kmsKeyArn"]
    for purpose, expiry in (("logs", ("fake/", 30 + 2)), ("traces", ("single-tenant/", 7 + 2)),
                            ("metrics", None)):  # fmt: skip
        name = f"stagecraft-production-{purpose}-{ACCOUNT}"
        settings = {
            r.type.split(":")[-1]: r.inputs
            for r in production.resources
            if r.type.startswith("aws:s3/") and r.inputs.get("bucket") == name
        }
        block = settings["BucketPublicAccessBlock"]
        four = ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
        assert all(block[k] is True for k in four)
        (deny,) = json.loads(settings["BucketPolicy"]["policy"])["Statement"]
        assert deny["Effect"] == "Deny"
        assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
        (rule,) = settings["BucketServerSideEncryptionConfiguration"]["rules"]
        assert rule["applyServerSideEncryptionByDefault"] == {
            "sseAlgorithm": "aws:kms",
            "kmsMasterKeyId": key,
        }
        assert settings["BucketLogging"]["targetBucket"] == (
            f"stagecraft-production-access-logs-{ACCOUNT}"
        )
        rules = settings["BucketLifecycleConfiguration"]["rules"]
        assert rules[0]["abortIncompleteMultipartUpload"] == {"daysAfterInitiation": 1}
        expiring = [(r["filter"].get("prefix"), r["expiration"]["days"]) for r in rules[1:]]
        assert expiring == ([expiry] if expiry else [])


def test_each_writer_may_use_its_own_bucket_and_nothing_else(production):
    key = production.outputs["kmsKeyArn"]
    policies = {p.name.rsplit("-monitoring-", 1)[-1]: json.loads(p.inputs["policy"])
                for p in production.of_type(ROLE_POLICY) if "-monitoring-" in p.name}  # fmt: skip
    expected = {
        "logs-loki-policy": ("logs", {"s3:GetObject", "s3:PutObject", "s3:DeleteObject"}),
        "traces-tempo-policy": ("traces", {"s3:GetObject", "s3:PutObject", "s3:DeleteObject",
                                           "s3:GetObjectTagging", "s3:PutObjectTagging"}),
        # Least privilege per Thanos component: the sidecar never deletes, the
        # store gateway only reads.
        "long-term-sidecar-policy": ("metrics", {"s3:GetObject", "s3:PutObject"}),
        "long-term-compactor-policy": ("metrics", {"s3:GetObject", "s3:PutObject",
                                                   "s3:DeleteObject"}),
        "long-term-store-gateway-policy": ("metrics", {"s3:GetObject"}),
    }  # fmt: skip
    assert set(policies) == set(expected)
    for name, (purpose, object_actions) in expected.items():
        bucket = f"arn:aws:s3:::stagecraft-production-{purpose}-{ACCOUNT}"
        statements = {s["Sid"]: s for s in policies[name]["Statement"]}
        assert statements["ListTheBucket"]["Resource"] == bucket
        assert statements["ItsObjects"]["Resource"] == f"{bucket}/*"
        assert set(statements["ItsObjects"]["Action"]) == object_actions
        assert statements["TheBucketsKey"]["Resource"] == key


def test_each_telemetry_role_trusts_one_service_account(production):
    issuer = production.outputs["oidcIssuerUrl"].removeprefix("https://")
    subjects = {}
    for role in production.of_type(ROLE):
        if "-monitoring-" not in role.name:
            continue
        (statement,) = json.loads(role.inputs["assumeRolePolicy"])["Statement"]
        condition = statement["Condition"]["StringEquals"]
        assert condition[f"{issuer}:aud"] == "sts.amazonaws.com"
        subjects[role.name.rsplit("-monitoring-", 1)[-1]] = condition[f"{issuer}:sub"]
    assert subjects == {
        "logs-loki": "system:serviceaccount:monitoring:loki",
        "traces-tempo": "system:serviceaccount:monitoring:tempo",
        "long-term-sidecar": "system:serviceaccount:monitoring:prometheus",
        "long-term-compactor": "system:serviceaccount:monitoring:thanos-compact",
        "long-term-store-gateway": "system:serviceaccount:monitoring:thanos-store-gateway",
    }
    # ...and the charts run those ServiceAccounts with those roles.
    loki = _release(production, "loki").inputs["values"]["serviceAccount"]
    assert loki["name"] == "loki"
    assert loki["annotations"]["eks.amazonaws.com/role-arn"].endswith(
        next(r for r in production.of_type(ROLE) if r.name.endswith("-monitoring-logs-loki")).id
    )


def test_alarms_watch_the_database_replica_cache_nat_and_nodes(production):
    topic = production.outputs["alertTopicArn"]
    found = {a.inputs["name"]: a.inputs for a in production.of_type(ALARM)}
    prefix = "stagecraft-production"
    expected = {
        *(f"{prefix}-database-{m}" for m in ("cpu", "freeable-memory", "connections",
                                             "free-storage")),
        *(f"{prefix}-replica-1-{m}" for m in ("cpu", "freeable-memory", "connections",
                                              "replica-lag")),
        *(f"{prefix}-cache-{n}-{m}" for n in ("001", "002")
          for m in ("engine-cpu", "memory", "evictions", "replication-lag")),
        *(f"{prefix}-nat-az{n}-port-allocation" for n in (1, 2, 3)),
        f"{prefix}-nodes-below-minimum",
        f"{prefix}-health-check-failing",
        # AWS Backup's failed jobs (tests/test_backup.py).
        *(f"{prefix}-{m}-jobs-failed" for m in ("backup", "copy", "restore")),
    }  # fmt: skip
    assert set(found) == expected
    for inputs in found.values():
        assert inputs["alarmActions"] == [topic]
        assert inputs["okActions"] == [topic]
        assert len(inputs["alarmDescription"]) > 80  # it says what to do
    assert found[f"{prefix}-replica-1-replica-lag"]["dimensions"] == {
        "DBInstanceIdentifier": f"{prefix}-replica-1"
    }
    # Defaults, with the memory of db.m5.large (8 GiB) behind two of them.
    assert found[f"{prefix}-database-cpu"]["threshold"] == 80
    assert found[f"{prefix}-database-connections"]["threshold"] == 720  # 80% of 901
    # 5% of the 500 GiB it started with: autoscaling grows it at 10% free first.
    assert found[f"{prefix}-database-free-storage"]["threshold"] == 500 * 2**30 * 5 // 100
    nodes = found[f"{prefix}-nodes-below-minimum"]["metricQueries"]
    assert nodes[0]["expression"] == "IF(in_service < minimum, 1, 0)"


def test_alarm_thresholds_follow_config(scratch):
    edit_stack(scratch, "staging", **{"stagecraft:alarmDbCpuPercent": 65,
                                      "stagecraft:alarmCacheEvictions": 0})  # fmt: skip
    plan = evaluate("staging", project_dir=scratch)
    found = {a.inputs["name"]: a.inputs for a in plan.of_type(ALARM)}
    assert found["stagecraft-staging-database-cpu"]["threshold"] == 65
    assert found["stagecraft-staging-cache-001-evictions"]["threshold"] == 0


def test_the_alarm_topic_is_encrypted_and_the_receivers_subscribe(production, staging):
    for plan in (production, staging):
        (topic,) = plan.of_type(TOPIC)
        assert topic.inputs["kmsMasterKeyId"] == plan.outputs["kmsKeyArn"]
        key_policy = json.loads(environment_key(plan).inputs["policy"])
        publish = next(s for s in key_policy["Statement"]
                       if s["Sid"] == "CloudWatchAlarmsPublishToTheTopic")  # fmt: skip
        assert publish["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
    (pagerduty,) = production.of_type("aws:sns/topicSubscription:TopicSubscription")
    assert pagerduty.inputs["protocol"] == "https"
    assert pagerduty.inputs["endpoint"] == "[secret]"
    (slack,) = staging.of_type("aws:chatbot/slackChannelConfiguration:SlackChannelConfiguration")
    assert slack.inputs["snsTopicArns"] == [staging.outputs["alertTopicArn"]]
    assert slack.inputs["slackChannelId"] == shipped_value(
        "stagecraft:alertSlackChannelId", "staging"
    )
    assert slack.inputs["guardrailPolicyArns"] == [
        "arn:aws:iam::aws:policy/CloudWatchReadOnlyAccess"
    ]


def test_production_checks_its_public_health_endpoint(production):
    (check,) = production.of_type("aws:route53/healthCheck:HealthCheck")
    domain = shipped_value("stagecraft:domain", "production")
    assert (check.inputs["type"], check.inputs["fqdn"], check.inputs["port"]) == (
        "HTTPS",
        domain,
        443,
    )
    assert check.inputs["resourcePath"] == shipped_value("stagecraft:healthCheckPath", "production")
    alarm = next(a for a in production.of_type(ALARM) if a.inputs.get("namespace") == "AWS/Route53")
    assert alarm.inputs["dimensions"] == {"HealthCheckId": check.id}
    assert alarm.inputs["treatMissingData"] == "breaching"


def test_production_records_every_action_in_the_account(production):
    (trail,) = production.of_type(TRAIL)
    inputs = trail.inputs
    assert inputs["isMultiRegionTrail"] is True
    assert inputs["enableLogFileValidation"] is True
    assert inputs["kmsKeyId"] == production.outputs["kmsKeyArn"]
    assert inputs["cloudWatchLogsGroupArn"].endswith(
        ":log-group:/aws/cloudtrail/stagecraft-production:*"
    )
    assert trail.protect is True
    bucket = f"stagecraft-production-cloudtrail-{ACCOUNT}"
    policy = next(p for p in production.of_type("aws:s3/bucketPolicy:BucketPolicy")
                  if p.inputs["bucket"] == bucket)  # fmt: skip
    statements = {s["Sid"]: s for s in json.loads(policy.inputs["policy"])["Statement"]}
    arn = production.outputs["trailArn"]
    assert statements["CloudTrailWrite"]["Condition"]["StringEquals"]["aws:SourceArn"] == arn
    assert statements["CloudTrailWrite"]["Resource"] == (
        f"arn:aws:s3:::{bucket}/cloudtrail/AWSLogs/{ACCOUNT}/*"
    )
    key_policy = json.loads(environment_key(production).inputs["policy"])
    encrypt = next(s for s in key_policy["Statement"] if s["Sid"] == "CloudTrailEncryptsLogFiles")
    assert encrypt["Condition"]["StringEquals"] == {"aws:SourceArn": arn}
    lifecycle = next(r for r in production.of_type(
        "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration"
    ) if r.inputs["bucket"] == bucket)  # fmt: skip
    assert lifecycle.inputs["rules"][0]["expiration"] == {"days": 2557}


def test_alertmanager_routes_from_config_with_no_secret_in_the_values(production, staging):
    for plan, receiver in ((staging, "slack"), (production, "pagerduty")):
        config = _release(plan, "kube-prometheus-stack").inputs["values"]["alertmanager"]["config"]
        assert config["route"]["receiver"] == receiver
        assert config["route"]["routes"][0] == {
            "receiver": "null",
            "matchers": ['alertname = "Watchdog"'],
        }
        assert config["inhibit_rules"] == routing.INHIBIT_RULES
    slack = _release(staging, "kube-prometheus-stack").inputs["values"]["alertmanager"]["config"]
    (webhook,) = next(r for r in slack["receivers"] if r["name"] == "slack")["slack_configs"]
    assert webhook["api_url_file"] == (
        "/etc/alertmanager/secrets/alertmanager-receivers/slack-webhook-url"
    )
    assert "api_url" not in webhook


def test_critical_alerts_reach_every_receiver_and_the_rest_the_first():
    spec = AlertingSpec.model_validate(
        {
            "alertReceivers": ["pagerduty", "email"],
            "alertPagerdutyRoutingKey": SecretStr(ROUTING_KEY),
            "alertPagerdutyCloudwatchKey": SecretStr(CLOUDWATCH_KEY),
            "alertEmailTo": ["oncall@acme-platform.io"],
            "alertEmailFrom": "alertmanager@acme-platform.io",
            "alertEmailSmarthost": "email-smtp.us-east-1.amazonaws.com:587",
            "alertEmailSmtpUsername": "AKIAEXAMPLEUSER",
            "alertEmailSmtpPassword": SecretStr("smtp-secret-password"),
        }
    )
    config = routing.alertmanager_config(spec, "production")
    assert config["route"]["receiver"] == "pagerduty"
    assert config["route"]["routes"][1:] == [
        {"receiver": "pagerduty", "matchers": ['severity = "critical"'], "continue": True},
        {"receiver": "email", "matchers": ['severity = "critical"'], "continue": True},
    ]
    document = json.dumps(config)
    for secret in (ROUTING_KEY, "smtp-secret-password"):
        assert secret not in document
    assert routing.receiver_secret_data(spec) == {
        "pagerduty-routing-key": ROUTING_KEY,
        "smtp-password": "smtp-secret-password",
    }


# --------------------------------------------------------------------------- #
# Secrets never in plain text
# --------------------------------------------------------------------------- #


def _everything_shown(plan: Plan) -> str:
    buffer = io.StringIO()
    print_plan(plan, Console(file=buffer, width=250, markup=False, emoji=False))
    return json.dumps(plan.to_json()) + buffer.getvalue() + json.dumps(plan.outputs)


@pytest.mark.parametrize(
    ("stack", "secrets"),
    [
        ("staging", {"stagecraft:alertSlackWebhookUrl": WEBHOOK}),
        ("production", {"stagecraft:alertPagerdutyRoutingKey": ROUTING_KEY,
                        "stagecraft:alertPagerdutyCloudwatchKey": CLOUDWATCH_KEY}),
    ],
)  # fmt: skip
def test_no_webhook_or_routing_key_appears_in_any_plan_output_or_helm_values(stack, secrets):
    plan = evaluate(stack, project_dir=REPO, secrets=secrets)
    shown = _everything_shown(plan)
    for value in secrets.values():
        assert value not in shown
    for release in plan.of_type(RELEASE):
        assert not any(v in json.dumps(release.inputs) for v in secrets.values())
    # The value did reach the program: the receivers Secret changes with it.
    (receivers,) = [s for s in plan.of_type("kubernetes:core/v1:Secret")
                    if s.inputs["metadata"]["name"] == "alertmanager-receivers"]  # fmt: skip
    assert receivers.inputs["stringData"] == "[secret]"
    other = evaluate(stack, project_dir=REPO, secrets={k: v[:-1] + "Q" for k, v in secrets.items()})
    (changed,) = [s for s in other.of_type("kubernetes:core/v1:Secret")
                  if s.inputs["metadata"]["name"] == "alertmanager-receivers"]  # fmt: skip
    assert changed.secret_fingerprints != receivers.secret_fingerprints


def test_grafanas_password_is_generated_and_never_shown(staging):
    from stagecraft.offline.mocks import StagecraftMocks

    (password,) = [p for p in staging.of_type("random:index/randomPassword:RandomPassword")
                   if "grafana" in p.name]  # fmt: skip
    value = StagecraftMocks("us-east-1")._random_password(
        password.type, password.name, {"length": password.inputs["length"]}
    )[1]["result"]
    assert value not in _everything_shown(staging)
    (admin,) = [s for s in staging.of_type("kubernetes:core/v1:Secret")
                if s.inputs["metadata"]["name"] == "grafana-admin"]  # fmt: skip
    assert admin.inputs["stringData"] == "[secret]"
    grafana = _release(staging, "kube-prometheus-stack").inputs["values"]["grafana"]["admin"]
    assert grafana == {"existingSecret": "grafana-admin", "userKey": "admin-user",
                       "passwordKey": "admin-password"}  # fmt: skip
    assert staging.outputs["grafanaAdminSecretArn"].startswith(
        f"arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:stagecraft-staging/grafana-admin-"
    )


# --------------------------------------------------------------------------- #
# Pure pieces
# --------------------------------------------------------------------------- #


@pytest.mark.parametrize(
    ("instance_class", "gib", "connections"),
    [("db.t3.micro", 1, 112), ("db.t3.medium", 4, 450), ("db.m5.large", 8, 901),
     ("db.r6g.xlarge", 32, 3604), ("db.r7g.24xlarge", 768, 5000)],
)  # fmt: skip
def test_postgres_default_connections_per_class(instance_class, gib, connections):
    assert alarms.db_instance_memory_gib(instance_class) == gib
    assert alarms.default_max_connections(instance_class) == connections


def test_node_group_metrics_are_turned_on_in_the_stacks_account_only(aws_on_moto):
    import botocore.session

    session = botocore.session.get_session()
    ec2: Any = session.create_client("ec2", region_name="us-east-1")
    template = ec2.create_launch_template(
        LaunchTemplateName="nodes",
        LaunchTemplateData={"ImageId": "ami-12c6146b", "InstanceType": "t3.micro"},
    )["LaunchTemplate"]["LaunchTemplateId"]
    autoscaling: Any = session.create_client("autoscaling", region_name="us-east-1")
    autoscaling.create_auto_scaling_group(
        AutoScalingGroupName="eks-stagecraft-staging-nodes-1",
        LaunchTemplate={"LaunchTemplateId": template, "Version": "$Latest"},
        MinSize=0,
        MaxSize=5,
        AvailabilityZones=["us-east-1a"],
    )
    props = {
        "autoScalingGroupName": "eks-stagecraft-staging-nodes-1",
        "metrics": ["GroupInServiceInstances", "GroupMinSize"],
        "region": "us-east-1",
        "accountId": ACCOUNT,
    }
    _Provider.enable(props)
    (group,) = autoscaling.describe_auto_scaling_groups(
        AutoScalingGroupNames=["eks-stagecraft-staging-nodes-1"]
    )["AutoScalingGroups"]
    assert {m["Metric"] for m in group["EnabledMetrics"]} == set(props["metrics"])
    with pytest.raises(
        RuntimeError, match="credentials are account 123456789012's, the stack's is 210987654322"
    ):
        _Provider.enable({**props, "accountId": "210987654322"})


def test_turning_metrics_off_tolerates_a_group_already_gone(monkeypatch):
    """The node group was replaced: its old Auto Scaling group went with it.
    (moto does not implement DisableMetricsCollection; botocore's Stubber
    answers as the API does.)"""
    import botocore.session
    from botocore.stub import Stubber

    from infra.components.observability import asg_metrics

    client = botocore.session.get_session().create_client("autoscaling", region_name="us-east-1")
    stubber = Stubber(client)
    props = {"autoScalingGroupName": "eks-gone", "metrics": ["GroupMinSize"],
             "region": "us-east-1", "accountId": ACCOUNT}  # fmt: skip
    request = {"AutoScalingGroupName": "eks-gone", "Metrics": ["GroupMinSize"]}
    gone = "AutoScalingGroup name not found - eks-gone"
    stubber.add_client_error("disable_metrics_collection", "ValidationError", gone, 400, request)
    stubber.add_client_error("disable_metrics_collection", "AccessDenied",
                             "not authorized to perform: autoscaling:DisableMetricsCollection",
                             403, request)  # fmt: skip
    monkeypatch.setattr(asg_metrics._Provider, "client", staticmethod(lambda _props: client))
    with stubber:
        _Provider.disable(props)  # gone: nothing to do
        with pytest.raises(Exception, match="AccessDenied"):
            _Provider.disable(props)


def test_a_misspelt_key_is_one_line_not_advice_to_remove_good_settings(project):
    assert _problems(project, "staging", alertRecievers=["slack"]) == [
        'stagecraft:alertRecievers = ["slack"]: is not a known key; did you mean '
        "'stagecraft:alertReceivers'?"
    ]


def test_production_keeps_its_trail_files_a_year_at_least(project):
    secrets = {"stagecraft:alertPagerdutyRoutingKey": ROUTING_KEY,
               "stagecraft:alertPagerdutyCloudwatchKey": CLOUDWATCH_KEY}  # fmt: skip
    assert _problems(project, "production", secrets=secrets, cloudTrailRetentionDays=90) == [
        "stagecraft:cloudTrailRetentionDays = 90: must be at least 365 in production: a year "
        "of audit trail, like auditLogRetentionDays"
    ]


def test_the_dynamic_provider_loads_without_this_repository():
    """Pulumi runs a dynamic provider in a process of its own, from the pickle in the
    state: it must load there without `infra` importable."""
    import subprocess
    import sys

    from pulumi.dynamic.dynamic import serialize_provider

    from infra.components.observability.asg_metrics import _Provider

    blob = serialize_provider(_Provider())
    loader = (
        "import base64, sys\n"
        "class NoInfra:\n"
        "    @staticmethod\n"
        "    def find_spec(name, path=None, target=None):\n"
        "        if name == 'infra' or name.startswith('infra.'):\n"
        "            raise ImportError(name)\n"
        "sys.meta_path.insert(0, NoInfra)\n"
        "import dill\n"
        "provider = dill.loads(base64.b64decode(sys.argv[1]))\n"
        "old = {'autoScalingGroupName': 'eks-a', 'metrics': ['GroupMinSize']}\n"
        "print(provider.diff('eks-a', old, {**old, 'autoScalingGroupName': 'eks-b'}).replaces)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", loader, blob], check=False, capture_output=True, text=True, cwd="/"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "['autoScalingGroupName']"
