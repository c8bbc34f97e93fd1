"""The auditor's report: every environment side by side, deviations from production marked.

Built from the stack files (through the same rows the README table shows) and
from each stack's offline plan (what the program really creates: encryption,
public access, protection), plus each stack's cost estimate.
"""

from __future__ import annotations

import html
import json
import re
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from infra.aws_types import PROTECTED_TYPES
from infra.components.account.policies import denies_plain_http
from infra.config import StackConfig
from policy.iam_documents import as_strings
from stagecraft.cost import StackCost, money
from stagecraft.docs import environment_rows
from stagecraft.offline.engine import Plan
from stagecraft.secrets_report import secrets_rows

if TYPE_CHECKING:
    from policy.harness import AuditResult, Verdict


@dataclass(frozen=True)
class EnvironmentFacts:
    """One column of the report."""

    stack: str
    rows: dict[str, str]


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"


def _days(days: int) -> str:
    return "off" if days == 0 else f"{days} day" if days == 1 else f"{days} days"


def _final_snapshot(database: Mapping[str, object]) -> str:
    """What deleting (or replacing) the primary database leaves behind."""
    if database.get("skipFinalSnapshot", False) is not False:
        return "no: deleting the database deletes its data"
    kept = (
        "automated backups kept"
        if database.get("deleteAutomatedBackups") is False
        else ("automated backups deleted")
    )
    return f"yes, a uniquely named final snapshot; {kept}"


def plan_rows(plan: Plan, config: StackConfig, cost: StackCost) -> dict[str, str]:
    """The rows only the plan can answer: what the program actually builds."""
    cluster = plan.one("aws:eks/cluster:Cluster").inputs
    databases = plan.of_type("aws:rds/instance:Instance")
    cache = plan.one("aws:elasticache/replicationGroup:ReplicationGroup").inputs
    rds_parameters = {
        p["name"]: p["value"]
        for group in plan.of_type("aws:rds/parameterGroup:ParameterGroup")
        for p in group.inputs.get("parameters", [])
    }
    secrets = plan.of_type("aws:secretsmanager/secret:Secret")
    log_groups = plan.of_type("aws:cloudwatch/logGroup:LogGroup")
    log_targets = _log_targets(plan)

    encrypted = {
        "RDS": all(d.inputs.get("storageEncrypted") for d in databases),
        "Redis": bool(cache.get("atRestEncryptionEnabled")) and bool(cache.get("kmsKeyId")),
        "EKS secrets": "secrets" in (cluster.get("encryptionConfig") or {}).get("resources", []),
        "Secrets Manager": all(s.inputs.get("kmsKeyId") for s in secrets),
        "logs": all(g.inputs.get("kmsKeyId") for g in log_groups),
        # The access-log bucket excepted: S3 delivers access logs into SSE-S3 only.
        "S3": all(
            _bucket_algorithm(c.inputs) == "aws:kms"
            for c in plan.of_type(S3_ENCRYPTION)
            if str(c.inputs.get("bucket")) not in log_targets
        ),
        "SNS": all(t.inputs.get("kmsMasterKeyId") for t in plan.of_type("aws:sns/topic:Topic")),
    }
    missing = [name for name, ok in encrypted.items() if not ok]
    at_rest = "KMS, all" if not missing else f"missing: {', '.join(missing)}"

    in_transit = []
    if rds_parameters.get("rds.force_ssl") == "1":
        in_transit.append("PostgreSQL")
    if cache.get("transitEncryptionEnabled"):
        in_transit.append("Redis")

    vpc = cluster.get("vpcConfig") or {}
    if vpc.get("endpointPublicAccess"):
        api = f"public from {', '.join(vpc.get('publicAccessCidrs') or ['0.0.0.0/0'])}"
    else:
        api = "private only"
    public_data = [d.name for d in databases if d.inputs.get("publiclyAccessible")]
    open_rules = [
        r.name
        for r in plan.of_type("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule")
        if r.inputs.get("cidrIpv4") == "0.0.0.0/0"
    ]
    data_access = (
        "cluster nodes only"
        if not public_data and not open_rules
        else f"OPEN: {', '.join(public_data + open_rules)}"
    )
    if not public_data and not open_rules and _bastion_forwards(plan):
        data_access = "cluster nodes, and the Session Manager bastion (port forwarding)"

    ingress = _ingress_row(plan)
    dns_records = _dns_records_row(plan)

    stateful = [r for r in plan.resources if r.type in PROTECTED_TYPES]
    protected = sum(1 for r in stateful if r.protect)
    primary = next(d for d in databases if "replicateSourceDb" not in d.inputs)

    return {
        "Kubernetes version": str(cluster.get("version")),
        "API endpoint": api,
        "Database and cache reachable from": data_access,
        "Encryption at rest": at_rest,
        "TLS enforced": ", ".join(in_transit) or "none",
        "Protected stateful resources (`protect`)": f"{protected} of {len(stateful)}",
        "RDS deletion protection": _yes(bool(primary.inputs.get("deletionProtection"))),
        "RDS backup retention": _days(int(primary.inputs.get("backupRetentionPeriod") or 0)),
        "Final snapshot on delete": _final_snapshot(primary.inputs),
        "Database restored to a point in time": _restore_row(primary.inputs),
        "Redis snapshots": _days(int(cache.get("snapshotRetentionLimit") or 0)),
        "VPC flow logs": _yes(bool(plan.of_type("aws:ec2/flowLog:FlowLog"))),
        "IAM database authentication": _yes(
            bool(primary.inputs.get("iamDatabaseAuthenticationEnabled"))
        ),
        "Developer access": config.cluster.developer_access,
        "Who may do what (audience roles)": _audiences_row(plan),
        "Application's database login": _application_login_row(plan),
        "Ingress (ALB)": ingress,
        "DNS records removed by external-dns": dns_records,
        "Helm charts (pinned)": _charts(plan, monitoring=False),
        "Monitoring charts (pinned)": _charts(plan, monitoring=True),
        **monitoring_rows(plan),
        "Estimated monthly cost (desired / max nodes)": (
            f"{money(cost.total)} / {money(cost.total_at_max)}"
        ),
        "Budget check": cost.budget_status,
        "AWS budget": _budget_row(plan),
        "Production data copy (anonymised)": _data_sync_row(plan),
        **secrets_rows(plan, config),
        "Post-deploy smoke test": _smoke_test_row(plan),
        "Shell access": _shell_access_row(plan),
        "Backups (AWS Backup)": backups_row(plan),
        "Saved by off-hours and Spot (vs always on, on demand)": (
            f"{money(cost.total_always_on - cost.total)} of {money(cost.total_always_on)} "
            f"({cost.saving_percent:.0f}%)"
            if cost.total_always_on - cost.total > 0.005
            else "none"
        ),
    }


AUDIENCES = ("developers", "qa", "oncall")
EKS_ACCESS = {
    "AmazonEKSViewPolicy": "view",
    "AmazonEKSEditPolicy": "edit",
    "AmazonEKSAdminPolicy": "admin",
    "AmazonEKSClusterAdminPolicy": "cluster-admin",
}


def _audiences_row(plan: Plan) -> str:
    """Each audience role: how many principals may assume it, its cluster and database access."""
    rows = []
    prefix = f"{plan.project}-{plan.stack}-"
    for role in plan.of_type("aws:iam/role:Role"):
        name = str(role.inputs.get("name") or "")
        audience = name.removeprefix(prefix)
        if not name.startswith(prefix) or audience not in AUDIENCES:
            continue
        trust = json.loads(str(role.inputs.get("assumeRolePolicy") or "{}"))
        people = sum(len(as_strings(st["Principal"]["AWS"])) for st in trust.get("Statement", []))
        cluster = sorted(
            EKS_ACCESS.get(str(a.inputs["policyArn"]).rsplit("/", 1)[-1], "?")
            + ("" if a.inputs["accessScope"]["type"] == "cluster"
               else f" in {', '.join(a.inputs['accessScope'].get('namespaces') or [])}")
            for a in plan.of_type("aws:eks/accessPolicyAssociation:AccessPolicyAssociation")
            if str(a.inputs.get("principalArn", "")).endswith(f":role/{name}")
        )  # fmt: skip
        logins = [
            str(arn)
            for policy in plan.of_type("aws:iam/rolePolicy:RolePolicy")
            if policy.name.endswith(f"-access-{audience}-grants")
            for st in json.loads(str(policy.inputs.get("policy") or "{}")).get("Statement", [])
            if "rds-db:connect" in as_strings(st.get("Action"))
            for arn in as_strings(st.get("Resource"))
        ]
        users = sorted({arn.rsplit("/", 1)[-1] for arn in logins})
        database = (
            f"database as {', '.join(users)} on {len(logins)} instance(s)" if users
            else "no database login"
        )  # fmt: skip
        rows.append(f"{audience} ({people} principal(s)): cluster {', '.join(cluster) or 'none'}; "
                    f"{database}")  # fmt: skip
    return "; ".join(rows) or "none (only the roles the cluster keys list)"


def _application_login_row(plan: Plan) -> str:
    """Whom the application logs in as: its own IAM-authenticated role, or the master user."""
    for job in plan.of_type("kubernetes:batch/v1:Job"):
        if job.inputs.get("metadata", {}).get("name") != "database-access-roles":
            continue
        (container,) = job.inputs["spec"]["template"]["spec"]["containers"]
        env = {e["name"]: e.get("value") for e in container.get("env", [])}
        return (f"{env.get('APP_ROLE')} with an IAM token (ServiceAccount `app`), never the "
                "master user")  # fmt: skip
    return "the master user, with its password (no IAM authentication)"


def _restore_row(primary: Mapping[str, Any]) -> str:
    """Whether the stack runs on an instance `stagecraft restore` built, and from what."""
    restore = primary.get("restoreToPointInTime") or {}
    if not restore:
        return "no (the original instance)"
    when = (
        "its latest restorable time"
        if restore.get("useLatestRestorableTime")
        else str(restore.get("restoreTime"))
    )
    return (
        f"yes: {primary.get('identifier')}, from {restore.get('sourceDbInstanceIdentifier')} "
        f"at {when}"
    )


EC2_INSTANCE = "aws:ec2/instance:Instance"
SESSION_DOCUMENT = "aws:ssm/document:Document"


def _bastion_groups(plan: Plan) -> set[str]:
    return {
        str(group)
        for instance in plan.of_type(EC2_INSTANCE)
        for group in instance.inputs.get("vpcSecurityGroupIds") or []
    }


def _bastion_forwards(plan: Plan) -> bool:
    """Whether a data store's group admits the bastion's (port forwarding)."""
    groups = _bastion_groups(plan)
    return any(
        str(rule.inputs.get("referencedSecurityGroupId")) in groups
        for rule in plan.of_type("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule")
    )


def _shell_access_row(plan: Plan) -> str:
    """How a person gets a shell in the VPC: the bastion as the plan builds it, its logs."""
    instances = plan.of_type(EC2_INSTANCE)
    if not instances:
        return "none: no shell into the VPC (no bastion, no SSH)"
    groups = _bastion_groups(plan)
    inbound = [
        rule.name
        for rule in plan.of_type("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule")
        if str(rule.inputs.get("securityGroupId")) in groups
    ]
    parts = []
    for instance in instances:
        inputs = instance.inputs
        root = inputs.get("rootBlockDevice") or {}
        facts = [
            "no inbound rule" if not inbound else f"INBOUND: {', '.join(inbound)}",
            "no public IP" if inputs.get("associatePublicIpAddress") is False else "PUBLIC IP",
            "no SSH key" if not inputs.get("keyName") else "SSH KEY",
            "IMDSv2" if (inputs.get("metadataOptions") or {}).get("httpTokens") == "required"
            else "IMDSv1 allowed",
            "encrypted root volume" if root.get("encrypted") and root.get("kmsKeyId")
            else "UNENCRYPTED root volume",
        ]  # fmt: skip
        parts.append(f"Session Manager bastion ({inputs.get('instanceType')}): {', '.join(facts)}")
    logs = {
        g.inputs.get("name"): g.inputs for g in plan.of_type("aws:cloudwatch/logGroup:LogGroup")
    }
    for document in plan.of_type(SESSION_DOCUMENT):
        content = json.loads(str(document.inputs.get("content") or "{}"))
        if content.get("sessionType") != "Standard_Stream":
            continue
        settings = content.get("inputs") or {}
        group = logs.get(settings.get("cloudWatchLogGroupName")) or {}
        encrypted = settings.get("cloudWatchEncryptionEnabled") is True and group.get("kmsKeyId")
        if not settings.get("cloudWatchLogGroupName"):
            parts.append("shell sessions NOT LOGGED")
            continue
        parts.append(
            f"shell sessions logged{' (KMS-encrypted)' if encrypted else ' (NOT ENCRYPTED)'}, "
            f"kept {_days(int(group.get('retentionInDays') or 0))}"
        )
    if any(
        json.loads(str(d.inputs.get("content") or "{}")).get("sessionType") == "Port"
        for d in plan.of_type(SESSION_DOCUMENT)
    ):
        parts.append("port forwarding to the database and cache only")
    return "; ".join(parts)


def _data_sync_row(plan: Plan) -> str:
    """Whether the stack exports masked dumps (and who may read them) or imports them."""
    jobs = {
        str(job.inputs.get("metadata", {}).get("name")): job.inputs
        for job in plan.of_type("kubernetes:batch/v1:CronJob")
    }
    parts = []
    if "data-export" in jobs:
        spec = jobs["data-export"].get("spec", {})
        readers = sorted(
            str(arn).rsplit("/", 1)[-1]
            for policy in plan.of_type("aws:s3/bucketPolicy:BucketPolicy")
            if "data-export" in policy.name
            for statement in json.loads(str(policy.inputs.get("policy") or "{}"))["Statement"]
            if statement.get("Sid") == "ImportJobsReadDumps"
            for arn in statement["Principal"]["AWS"]
        )
        parts.append(
            f"exports masked dumps {spec.get('schedule')} {spec.get('timeZone')}, "
            f"fail-closed on unclassified columns; readable by {', '.join(readers) or 'nobody'}"
        )
    if "data-import" in jobs:
        spec = jobs["data-import"].get("spec", {})
        pod = spec.get("jobTemplate", {}).get("spec", {}).get("template", {}).get("spec", {})
        source = next(
            (
                str(env.get("value"))
                for step in pod.get("initContainers", [])
                for env in step.get("env", [])
                if env.get("name") == "SOURCE"
            ),
            "?",
        )
        parts.append(f"imports the newest dump {spec.get('schedule')} {spec.get('timeZone')} "
                     f"from {source}")  # fmt: skip
    return "; ".join(parts) or "none (seed data only)"


def _smoke_test_row(plan: Plan) -> str:
    """What the smoke test each deploy runs checks, as whom, and how long it may take."""
    job = next(
        (
            r.inputs
            for r in plan.of_type("kubernetes:batch/v1:CronJob")
            if r.inputs.get("metadata", {}).get("name") == "smoke-test"
        ),
        None,
    )
    if job is None:
        return "none"
    spec = job.get("spec", {}).get("jobTemplate", {}).get("spec", {})
    pod = spec.get("template", {}).get("spec", {})
    env = {
        e.get("name"): e.get("value")
        for c in pod.get("containers", [])
        for e in c.get("env", [])
        if "value" in e
    }
    # The path only: each environment calls its own hostname (and the HTML
    # report links nowhere).
    url = str(env.get("HEALTH_URL") or "")
    path = "/" + url.removeprefix("https://").partition("/")[2] if url else ""
    health = (
        f"HTTPS {path} on its domain answers 2xx"
        if url
        else f"health skipped ({env.get('HEALTH_SKIP_REASON')})"
    )
    return (
        f"after each deploy, as ServiceAccount {pod.get('serviceAccountName')}: database as "
        f"{env.get('DATABASE_USER')} (IAM token, verify-full TLS), Redis PING over TLS, "
        f"{health}; fails the deploy on any failure or after "
        f"{spec.get('activeDeadlineSeconds')} s"
    )


def backups_row(plan: Plan) -> str:
    """AWS Backup as an auditor asks: how often, how long, where else, locked how, tested when."""
    plans = plan.of_type("aws:backup/plan:Plan")
    if not plans:
        return "none (RDS automated backups only)"
    parts = []
    for rule in (r for p in plans for r in p.inputs.get("rules") or []):
        kept = (rule.get("lifecycle") or {}).get("deleteAfter")
        text = (
            f"{rule.get('schedule')} {rule.get('scheduleExpressionTimezone', 'UTC')}, kept {kept} d"
        )
        for action in rule.get("copyActions") or []:
            arn = str(action.get("destinationVaultArn") or "")
            region = arn.split(":")[3] if arn.count(":") >= 5 else "another region"
            days = (action.get("lifecycle") or {}).get("deleteAfter")
            text += f"; copied to {region}, kept {days} d"
        parts.append(text)
    vaults = plan.of_type("aws:backup/vault:Vault")
    locks = plan.of_type("aws:backup/vaultLockConfiguration:VaultLockConfiguration")
    modes = sorted(
        {
            f"compliance (permanent after {lock.inputs['changeableForDays']} d)"
            if lock.inputs.get("changeableForDays")
            else "governance"
            for lock in locks
        }
    )
    parts.append(f"vault lock: {', '.join(modes) or 'none'} on {len(locks)} of {len(vaults)} "
                 "vaults")  # fmt: skip
    tests = {
        str(t.inputs.get("name")): t.inputs for t in plan.of_type(
            "aws:backup/restoreTestingPlan:RestoreTestingPlan")
    }  # fmt: skip
    for selection in plan.of_type("aws:backup/restoreTestingSelection:RestoreTestingSelection"):
        testing = tests.get(str(selection.inputs.get("restoreTestingPlanName")), {})
        overrides = selection.inputs.get("restoreMetadataOverrides") or {}
        parts.append(
            f"restore test {testing.get('scheduleExpression', '?')} "
            f"{testing.get('scheduleExpressionTimezone', 'UTC')} into a "
            f"{overrides.get('dbInstanceClass', '?')}, checked for "
            f"{selection.inputs.get('validationWindowHours', '?')} h"
        )
    return "; ".join(parts)


def _budget_row(plan: Plan) -> str:
    """What the AWS budget counts, and whom it tells at which threshold."""
    budgets = plan.of_type("aws:budgets/budget:Budget")
    if not budgets:
        return "NONE"
    rows = []
    for budget in budgets:
        i = budget.inputs
        scope = [v for f in i.get("costFilters") or [] for v in f.get("values") or []]
        told = []
        for n in i.get("notifications") or []:
            to = len(n.get("subscriberEmailAddresses") or [])
            whom = [f"{to} e-mail{'s' if to != 1 else ''}"] if to else []
            whom += ["alert topic"] if n.get("subscriberSnsTopicArns") else []
            told.append(
                f"{str(n.get('notificationType')).lower()} > {n.get('threshold')}% to "
                f"{' + '.join(whom) or 'NOBODY'}"
            )
        rows.append(
            f"${i.get('limitAmount')}/month of {', '.join(scope) or 'the WHOLE account'}; "
            + "; ".join(told)
        )
    return " / ".join(rows)


S3_ENCRYPTION = (
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
)
RELEASE = "kubernetes:helm.sh/v3:Release"
S3_LIFECYCLE = "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration"
LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"


def _charts(plan: Plan, *, monitoring: bool) -> str:
    """The add-ons' charts, or the monitoring stack's (in its own namespace)."""
    from infra.components.observability.monitoring import NAMESPACE

    return (
        ", ".join(
            sorted(
                f"{r.inputs.get('chart')} {r.inputs.get('version')}"
                for r in plan.of_type(RELEASE)
                if (r.inputs.get("namespace") == NAMESPACE) == monitoring
            )
        )
        or "none"
    )


def _log_targets(plan: Plan) -> set[str]:
    """The buckets S3 delivers access logs into."""
    return {
        str(r.inputs.get("targetBucket"))
        for r in plan.of_type("aws:s3/bucketLogging:BucketLogging")
    }


def _bucket_algorithm(inputs: Mapping[str, Any]) -> str:
    rules = inputs.get("rules") or [{}]
    return str((rules[0].get("applyServerSideEncryptionByDefault") or {}).get("sseAlgorithm"))


def _chart_values(plan: Plan, chart: str) -> Mapping[str, Any] | None:
    for release in plan.of_type(RELEASE):
        if release.inputs.get("chart") == chart:
            values = release.inputs.get("values")
            return values if isinstance(values, Mapping) else {}
    return None


def _duration_days(duration: str) -> str:
    """Prometheus `30d`, Loki and Tempo `720h`: as days."""
    match = re.fullmatch(r"(\d+)([dh])", duration or "")
    if not match:
        return duration or "?"
    number = int(match.group(1))
    return _days(number if match.group(2) == "d" else number // 24)


def monitoring_rows(plan: Plan) -> dict[str, str]:
    """Retention and alert routing as the charts' values and the resources set them."""
    prometheus = _chart_values(plan, "kube-prometheus-stack")
    loki = _chart_values(plan, "loki")
    tempo = _chart_values(plan, "tempo")
    thanos = _chart_values(plan, "thanos")
    if prometheus is None:
        metrics = "no in-cluster monitoring"
    else:
        local = _duration_days(prometheus["prometheus"]["prometheusSpec"]["retention"])
        long_term = "no long-term copy"
        if thanos is not None:
            flags = dict(
                arg.removeprefix("--").split("=", 1)
                for arg in thanos["compact"]["extraArgs"]
                if "=" in arg
            )
            long_term = (
                f"{_duration_days(flags.get('retention.resolution-raw', ''))} in S3 (Thanos)"
            )
        metrics = f"{local} on the volume, {long_term}"
    logs = (
        "none"
        if loki is None
        else _duration_days(loki["loki"]["limits_config"]["retention_period"])
    )
    traces = "none" if tempo is None else _duration_days(tempo["tempo"]["retention"])

    routes: list[str] = []
    if prometheus is not None:
        config = prometheus["alertmanager"]["config"]
        default = config["route"]["receiver"]
        receivers = [_receiver_label(r) for r in config["receivers"] if r["name"] != "null"]
        routes.append(
            "Alertmanager: "
            + (
                ", ".join(f"{r} (default)" if r.startswith(default) else r for r in receivers)
                or "nobody"
            )
        )
    protocols = sorted(
        {
            "PagerDuty (HTTPS)"
            if s.inputs.get("protocol") == "https"
            else f"email {s.inputs.get('endpoint')}"
            for s in plan.of_type("aws:sns/topicSubscription:TopicSubscription")
        }
        | {
            f"Slack channel {c.inputs.get('slackChannelId')} (AWS Chatbot)"
            for c in plan.of_type(SLACK_CHANNEL)
        }
    )
    if plan.of_type("aws:sns/topic:Topic"):
        routes.append("CloudWatch alarms: " + (", ".join(protocols) or "no subscriber"))
    alarms = plan.of_type("aws:cloudwatch/metricAlarm:MetricAlarm")
    by_namespace: dict[str, int] = {}
    for alarm in alarms:
        inputs = alarm.inputs
        namespace = (
            inputs.get("namespace")
            or next(
                (
                    q["metric"]["namespace"]
                    for q in inputs.get("metricQueries") or []
                    if q.get("metric")
                ),
                None,
            )
            or next(  # a Metrics Insights query names its namespace in FROM
                (
                    found.group(1)
                    for q in inputs.get("metricQueries") or []
                    if (found := re.search(r'FROM "([^"]+)"', str(q.get("expression") or "")))
                ),
                "?",
            )
        )
        label = ALARM_SUBJECTS.get(str(namespace), str(namespace))
        by_namespace[label] = by_namespace.get(label, 0) + 1
    checks = plan.of_type("aws:route53/healthCheck:HealthCheck")
    trails = plan.of_type("aws:cloudtrail/trail:Trail")
    trail = "not in this stack"
    if trails:
        inputs = trails[0].inputs
        bucket = inputs.get("s3BucketName")
        expiring: Mapping[str, Any] = next(
            (
                rule
                for lifecycle in plan.of_type(S3_LIFECYCLE)
                if lifecycle.inputs.get("bucket") == bucket
                for rule in lifecycle.inputs.get("rules") or []
                if (rule.get("expiration") or {}).get("days")
            ),
            {},
        )
        kept = expiring.get("expiration", {}).get("days")
        replaced = (expiring.get("noncurrentVersionExpiration") or {}).get("noncurrentDays")
        group = str(inputs.get("cloudWatchLogsGroupArn") or "").split(":log-group:")[-1]
        group_days = next(
            (g.inputs.get("retentionInDays") for g in plan.of_type(LOG_GROUP)
             if f"{g.inputs.get('name')}:*" == group),
            None,
        )  # fmt: skip
        properties = [
            "all regions" if inputs.get("isMultiRegionTrail") else "ONE REGION",
            "validated" if inputs.get("enableLogFileValidation") else "NOT VALIDATED",
            "KMS" if inputs.get("kmsKeyId") else "NOT ENCRYPTED",
            (
                f"files kept {_days(int(kept))}"
                + (f" (+{_days(int(replaced))} as replaced versions)" if replaced else "")
            )
            if kept
            else "files kept for ever",
            f"CloudWatch Logs {_days(int(group_days))}" if group_days else "no CloudWatch Logs",
        ]
        trail = ", ".join(properties)
    buckets = [str(b.inputs.get("bucket")) for b in plan.of_type("aws:s3/bucket:Bucket")]
    targets = _log_targets(plan)
    by_kms = [
        str(c.inputs.get("bucket"))
        for c in plan.of_type(S3_ENCRYPTION)
        if _bucket_algorithm(c.inputs) == "aws:kms"
    ]
    four = ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
    private = {
        str(b.inputs.get("bucket"))
        for b in plan.of_type("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock")
        if all(b.inputs.get(k) is True for k in four)
    }
    tls_only = {
        str(p.inputs.get("bucket"))
        for p in plan.of_type("aws:s3/bucketPolicy:BucketPolicy")
        if denies_plain_http(json.loads(str(p.inputs.get("policy") or "{}")).get("Statement", []))
    }
    storage = "none"
    if buckets:
        storage = (
            f"{len(buckets)}: {len(by_kms)} KMS-encrypted"
            + (f", {len(targets)} for access logs SSE-S3 (log delivery's only encryption)"
               if targets else "")
            + f"; {len(private & set(buckets))} private, {len(tls_only & set(buckets))} TLS only"
        )  # fmt: skip
    return {
        "S3 buckets": storage,
        "Metrics retention": metrics,
        "Log retention: Loki (all pods)": logs,
        "Trace retention (Tempo)": traces,
        "Alert routing": "; ".join(routes) or "none",
        "CloudWatch alarms": (
            f"{len(alarms)}: " + ", ".join(f"{k} {v}" for k, v in sorted(by_namespace.items()))
            if alarms
            else "none"
        ),
        "Synthetic check": ", ".join(
            f"{c.inputs.get('type')} {c.inputs.get('fqdn')}{c.inputs.get('resourcePath')} "
            f"every {c.inputs.get('requestInterval')} s from several regions"
            for c in checks
        )
        or "none",
        "CloudTrail": trail,
    }


SLACK_CHANNEL = "aws:chatbot/slackChannelConfiguration:SlackChannelConfiguration"


def _receiver_label(receiver: Mapping[str, Any]) -> str:
    """An Alertmanager receiver with where it sends: the channel, the addresses."""
    name = str(receiver["name"])
    slack = receiver.get("slack_configs") or []
    email = receiver.get("email_configs") or []
    if slack:
        return f"{name} {slack[0].get('channel')}"
    if email:
        return f"{name} {email[0].get('to')}"
    return name


ALARM_SUBJECTS = {
    "AWS/RDS": "database",
    "AWS/ElastiCache": "cache",
    "AWS/NATGateway": "NAT",
    "AWS/AutoScaling": "nodes",
    "AWS/Route53": "health check",
    "AWS/Backup": "AWS Backup",
}


def _ingress_row(plan: Plan) -> str:
    """The ALB as its IngressClassParams pin it (the controller creates the ALB itself)."""
    params = plan.of_type("kubernetes:elbv2.k8s.aws/v1beta1:IngressClassParams")
    if not params:
        return "none"
    spec = params[0].inputs.get("spec") or {}
    attributes = {a.get("key"): a.get("value") for a in spec.get("loadBalancerAttributes") or []}
    https = (
        "HTTPS only, HTTP redirected"
        if spec.get("certificateArn") and str(spec.get("sslRedirectPort")) == "443"
        else "NOT HTTPS-only"
    )
    protection = (
        "deletion protection"
        if attributes.get("deletion_protection.enabled") == ("true")
        else "no deletion protection"
    )
    return f"{https}, {spec.get('sslPolicy')}, {protection}"


def _dns_records_row(plan: Plan) -> str:
    for release in plan.of_type("kubernetes:helm.sh/v3:Release"):
        if release.inputs.get("chart") == "external-dns":
            policy = (release.inputs.get("values") or {}).get("policy")
            return (
                "never (upsert-only)" if policy == "upsert-only" else ("with their Ingress (sync)")
            )
    return "no external-dns"


def environment_facts(plan: Plan, config: StackConfig, cost: StackCost) -> EnvironmentFacts:
    return EnvironmentFacts(
        stack=plan.stack, rows={**environment_rows(config), **plan_rows(plan, config, cost)}
    )


@dataclass(frozen=True)
class Source:
    """Which version of the stack files the report describes."""

    commit: str | None  # None: not a git checkout
    changed_files: list[str]  # stack and policy files changed since that commit

    @property
    def dirty(self) -> bool:
        return bool(self.changed_files)

    def describe(self) -> str:
        if self.commit is None:
            return "not a git checkout: the commit of these stack files is unknown"
        text = f"commit {self.commit}"
        if self.dirty:
            text += (
                f", with uncommitted changes to {', '.join(self.changed_files)}: this report "
                "describes files no commit holds"
            )
        else:
            text += ", no uncommitted changes to the stack files or policy"
        return text


# What the report is made from: a change to any of these is a change to it.
SOURCE_PATHS = ("Pulumi.yaml", "Pulumi.*.yaml", "ephemeral", "policy", "infra")


def read_source(directory: Path) -> Source:
    def git(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["git", "-C", str(directory), *args], capture_output=True, text=True, check=False
        )

    head = git("rev-parse", "HEAD")
    if head.returncode != 0:
        return Source(None, [])
    status = git("status", "--porcelain", "--", *SOURCE_PATHS)
    changed = sorted({line[3:].strip() for line in status.stdout.splitlines() if line.strip()})
    return Source(head.stdout.strip(), changed)


@dataclass(frozen=True)
class IntendedDeviation:
    """One entry of policy/exceptions.yaml."""

    id: str
    stacks: tuple[str, ...]
    rows: tuple[str, ...]
    reason: str
    owner: str
    review: date

    def covers(self, stack: str, row: str) -> bool:
        return stack in self.stacks and row in self.rows


EXCEPTIONS_FILE = Path("policy") / "exceptions.yaml"


class ExceptionsError(Exception):
    """The exceptions register cannot be read or names what does not exist."""


def load_exceptions(
    path: Path, *, stacks: Sequence[str], rows: Sequence[str] | None
) -> list[IntendedDeviation]:
    """The register, checked: every entry complete, naming known stacks and report rows.

    ``rows`` None skips the row names (known only once a stack is planned), so a
    malformed register is refused before any planning starts.
    """
    if not path.is_file():
        return []
    from stagecraft.offline.stackfiles import StackFileError, load_yaml

    try:
        document = load_yaml(path)
    except StackFileError as exc:
        raise ExceptionsError(str(exc)) from None
    shown = EXCEPTIONS_FILE if path.as_posix().endswith(EXCEPTIONS_FILE.as_posix()) else path
    entries = (document or {}).get("exceptions") if isinstance(document, dict) else None
    if not isinstance(entries, list):
        raise ExceptionsError(f"{shown}: needs a list under `exceptions:`")
    loaded: list[IntendedDeviation] = []
    for index, entry in enumerate(entries):
        where = f"{shown}: exceptions[{index}]"
        if not isinstance(entry, dict):
            raise ExceptionsError(f"{where} is not a mapping")
        missing = [
            key
            for key in ("id", "stacks", "rows", "reason", "owner", "review")
            if not entry.get(key)
        ]
        if missing:
            raise ExceptionsError(f"{where} lacks {', '.join(missing)}")
        unknown_keys = sorted(set(entry) - {"id", "stacks", "rows", "reason", "owner", "review"})
        if unknown_keys:
            raise ExceptionsError(
                f"{where} ({entry['id']}): unknown key {', '.join(unknown_keys)}; allowed: id, "
                "stacks, rows, reason, owner, review"
            )
        for key in ("stacks", "rows"):
            if not isinstance(entry[key], list) or not all(isinstance(v, str) for v in entry[key]):
                raise ExceptionsError(f"{where} ({entry['id']}): {key} must be a list of names")
        unknown_stacks = sorted(set(entry["stacks"]) - set(stacks))
        if unknown_stacks:
            raise ExceptionsError(
                f"{where} ({entry['id']}): no stack file for {', '.join(unknown_stacks)}; "
                f"stacks: {', '.join(stacks)}"
            )
        unknown_rows = sorted(set(entry["rows"]) - set(rows or ()))
        if unknown_rows and rows is not None:
            raise ExceptionsError(
                f"{where} ({entry['id']}): {', '.join(repr(r) for r in unknown_rows)} is not a "
                f"row of the report; rows: {', '.join(rows or ())}"
            )
        if any(e.id == str(entry["id"]) for e in loaded):
            raise ExceptionsError(f"{where}: the id {entry['id']} is used twice")
        review = entry["review"]
        if not isinstance(review, date):
            try:
                review = date.fromisoformat(str(review))
            except ValueError:
                raise ExceptionsError(
                    f"{where} ({entry['id']}): review {review!r} is not a date (YYYY-MM-DD)"
                ) from None
        loaded.append(
            IntendedDeviation(
                id=str(entry["id"]),
                stacks=tuple(entry["stacks"]),
                rows=tuple(entry["rows"]),
                reason=" ".join(str(entry["reason"]).split()),
                owner=str(entry["owner"]),
                review=review,
            )
        )
    return loaded


@dataclass(frozen=True)
class SmallEnvironment:
    """A pr-<n> or dev-<name> stack, summarised."""

    stack: str
    kind: str
    shares: str
    namespace: str
    own_database: bool
    expires: str
    monthly: float
    policy: str  # "passes" / "FAILS n mandatory"


@dataclass(frozen=True)
class CiRole:
    """One role of an account's bootstrap: who may assume it, and for what."""

    account_stack: str
    name: str
    trusted_subjects: tuple[str, ...]
    audience_pinned: bool
    purpose: str


def ci_roles(plan: Plan) -> list[CiRole]:
    """The GitHub-trusted roles of a bootstrap plan, as its trust policies state them."""
    import json as _json

    found = []
    for role in plan.of_type("aws:iam/role:Role"):
        try:
            trust = _json.loads(str(role.inputs.get("assumeRolePolicy") or "{}"))
        except ValueError:
            continue
        subjects: list[str] = []
        audience = True
        for statement in trust.get("Statement", []):
            exact = (statement.get("Condition") or {}).get("StringEquals") or {}
            sub = [v for k, v in exact.items() if k.endswith(":sub")]
            if not sub:
                continue
            subjects += [str(v) for v in sub]
            audience = audience and any(k.endswith(":aud") for k in exact)
        if subjects:
            found.append(
                CiRole(
                    account_stack=plan.stack,
                    name=str(role.inputs.get("name") or role.name),
                    trusted_subjects=tuple(subjects),
                    audience_pinned=audience,
                    purpose=str(role.inputs.get("description") or ""),
                )
            )
    return sorted(found, key=lambda r: r.name)


@dataclass(frozen=True)
class Report:
    columns: list[EnvironmentFacts]
    baseline: str
    generated_at: str
    prices_read_on: str
    source: Source = field(default_factory=lambda: Source(None, []))
    exceptions: list[IntendedDeviation] = field(default_factory=list)
    audits: dict[str, AuditResult] = field(default_factory=dict)
    costs: dict[str, StackCost] = field(default_factory=dict)
    small: list[SmallEnvironment] = field(default_factory=list)
    # Whether pr-<n> / dev-<name> stacks were looked for (False: --no-small or --stack).
    small_requested: bool = False
    # The CI roles of the account's bootstrap stack(s), and their policy verdict.
    ci_roles: list[CiRole] = field(default_factory=list)
    account_policy: dict[str, str] = field(default_factory=dict)
    today: date = field(default_factory=lambda: datetime.now(UTC).date())

    @property
    def row_names(self) -> list[str]:
        return list(self.columns[0].rows) if self.columns else []

    def value(self, stack: str, row: str) -> str:
        return next(c.rows[row] for c in self.columns if c.stack == stack)

    def deviates(self, stack: str, row: str) -> bool:
        if stack == self.baseline or self.baseline not in {c.stack for c in self.columns}:
            return False
        return self.value(stack, row) != self.value(self.baseline, row)

    def deviations(self) -> list[tuple[str, str]]:
        return [
            (c.stack, row)
            for c in self.columns
            for row in self.row_names
            if self.deviates(c.stack, row)
        ]

    def explanation(self, stack: str, row: str) -> IntendedDeviation | None:
        return next((e for e in self.exceptions if e.covers(stack, row)), None)

    def unexplained(self) -> list[tuple[str, str]]:
        return [(s, r) for s, r in self.deviations() if self.explanation(s, r) is None]

    def stale_exceptions(self) -> list[IntendedDeviation]:
        """Entries that cover no deviation any more: the register has drifted."""
        deviations = self.deviations()
        return [e for e in self.exceptions if not any(e.covers(s, r) for s, r in deviations)]

    def overdue(self) -> list[IntendedDeviation]:
        return [e for e in self.exceptions if e.review < self.today]


class MissingBaselineError(Exception):
    """The stack deviations are measured against is not in the report."""


def build_report(
    facts: Sequence[EnvironmentFacts],
    *,
    baseline: str = "production",
    prices_read_on: str = "",
    source: Source | None = None,
    exceptions: Sequence[IntendedDeviation] = (),
    audits: Mapping[str, AuditResult] | None = None,
    costs: Mapping[str, StackCost] | None = None,
    small: Sequence[SmallEnvironment] = (),
    small_requested: bool = False,
    roles: Sequence[CiRole] = (),
    account_policy: Mapping[str, str] | None = None,
) -> Report:
    stacks = [f.stack for f in facts]
    if baseline not in stacks:
        raise MissingBaselineError(
            f"the baseline stack '{baseline}' is not among the reported stacks "
            f"({', '.join(stacks)}); add it with --stack or choose --baseline"
        )
    return Report(
        columns=list(facts),
        baseline=baseline,
        generated_at=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        prices_read_on=prices_read_on,
        source=source or Source(None, []),
        exceptions=list(exceptions),
        audits=dict(audits or {}),
        costs=dict(costs or {}),
        small=list(small),
        small_requested=small_requested or bool(small),
        ci_roles=list(roles),
        account_policy=dict(account_policy or {}),
    )


NO_SMALL_STACKS = (
    "No pr-<n> or dev-<name> stack file in ephemeral/. Preview stacks are written by the "
    "pr-environment workflow at deploy time and live in the state backend; "
    "`pulumi stack ls` lists them beside the full environments, `stagecraft env gc "
    "--from-backend` removes the expired ones."
)


# --------------------------------------------------------------------------- #
# Markdown
# --------------------------------------------------------------------------- #


def _verdict_cell(verdict: Verdict) -> str:
    """The verdict, and the threshold it was judged against where the policy has one."""
    thresholds = "; ".join(str(t) for t in verdict.thresholds)
    if verdict.status == "fail":
        text = f"FAIL ({verdict.enforcement})"
    elif verdict.status == "pass" and verdict.weaker_than_control:
        text = "pass, under a WEAKER threshold"
    else:
        text = verdict.status
    return f"{text}: {thresholds}" if thresholds else text


def render_markdown(report: Report) -> str:
    stacks = [c.stack for c in report.columns]
    lines = [
        "# stagecraft environment report",
        "",
        f"Generated {report.generated_at} from the stack files and their offline plans "
        f"({report.source.describe()}). Cells marked ⚠ differ from **{report.baseline}**. "
        f"Prices: AWS us-east-1 list prices read {report.prices_read_on}.",
        "",
        "| | " + " | ".join(stacks) + " |",
        "|---" * (len(stacks) + 1) + "|",
    ]
    for row in report.row_names:
        cells = []
        for stack in stacks:
            value = report.value(stack, row).replace("|", "\\|")
            cells.append(f"⚠ **{value}**" if report.deviates(stack, row) else value)
        lines.append(f"| {row} | " + " | ".join(cells) + " |")

    unexplained = report.unexplained()
    lines += ["", f"## Deviations from {report.baseline}", ""]
    lines.append(
        f"{len(report.deviations())} deviations: {len(report.deviations()) - len(unexplained)} "
        f"intended (in {EXCEPTIONS_FILE}), **{len(unexplained)} unexplained**."
    )
    lines.append("")
    for stack, row in report.deviations():
        entry = report.explanation(stack, row)
        because = f"intended: `{entry.id}`" if entry else "**UNEXPLAINED**"
        lines.append(
            f"- **{stack}**, {row}: {report.value(stack, row)} "
            f"({report.baseline}: {report.value(report.baseline, row)}): {because}"
        )

    lines += ["", "## Exceptions register", ""]
    if report.exceptions:
        lines += ["| id | stacks | rows | reason | owner | review |", "|---|---|---|---|---|---|"]
        for e in report.exceptions:
            review = e.review.isoformat()
            if e in report.overdue():
                review += " **(overdue)**"
            if e in report.stale_exceptions():
                review += " (covers no deviation any more)"
            lines.append(
                f"| `{e.id}` | {', '.join(e.stacks)} | {'; '.join(e.rows)} | "
                f"{e.reason.replace('|', '/')} | {e.owner} | {review} |"
            )
    else:
        lines.append(f"None: there is no {EXCEPTIONS_FILE}.")

    if report.audits:
        lines += ["", "## Policy verdicts", ""]
        audited = [s for s in stacks if s in report.audits]
        lines += [
            "| policy | severity | controls | " + " | ".join(audited) + " |",
            "|---|---|---|" + "---|" * len(audited),
        ]
        for index, verdict in enumerate(report.audits[audited[0]].verdicts):
            rule = verdict.rule
            cells = [_verdict_cell(report.audits[s].verdicts[index]) for s in audited]
            lines.append(
                f"| {rule.name} | {rule.severity.value} | {', '.join(rule.controls) or '-'} | "
                + " | ".join(cells)
                + " |"
            )

    if report.small_requested:
        lines += ["", "## Preview and developer environments", ""]
    if report.small_requested and not report.small:
        lines.append(NO_SMALL_STACKS)
    if report.small:
        lines += [
            "| stack | kind | shares | namespace | database | expires | monthly | policy |",
            "|---|---|---|---|---|---|---:|---|",
        ]
        for env in report.small:
            lines.append(
                f"| {env.stack} | {env.kind} | {env.shares} | {env.namespace} | "
                f"{'own instance' if env.own_database else 'in the shared instance'} | "
                f"{env.expires} | {money(env.monthly)} | {env.policy} |"
            )

    if report.ci_roles:
        lines += ["", "## CI access (the account's bootstrap)", ""]
        for stack, outcome in sorted(report.account_policy.items()):
            lines.append(f"Bootstrap stack `{stack}`: policy pack {outcome}.")
        lines += [
            "",
            "| role | assumable only by a GitHub token whose `sub` is | audience pinned | for |",
            "|---|---|---|---|",
        ]
        for role in report.ci_roles:
            subjects = "<br>".join(f"`{s}`" for s in role.trusted_subjects)
            lines.append(
                f"| `{role.name}` | {subjects} | {_yes(role.audience_pinned)} | "
                f"{role.purpose.replace('|', '/')} |"
            )

    if report.costs:
        lines += ["", "## Cost by environment", ""]
        lines += ["| stack | desired | max nodes | budget |", "|---|---:|---:|---:|"]
        for stack in stacks:
            cost = report.costs.get(stack)
            if cost is not None:
                budget = money(cost.budget) if cost.budget is not None else "-"
                lines.append(
                    f"| {stack} | {money(cost.total)} | {money(cost.total_at_max)} | {budget} |"
                )
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- #
# HTML: one self-contained page, no scripts
# --------------------------------------------------------------------------- #

_CSS = """
body { font-family: system-ui, sans-serif; margin: 2rem; color: #1f2328; }
table { border-collapse: collapse; margin-bottom: 1.5rem; }
th, td { border: 1px solid #d0d7de; padding: .4rem .6rem; text-align: left; vertical-align: top; }
th { background: #f6f8fa; }
td.deviation { background: #fff8c5; font-weight: 600; }
td.deviation::before { content: "\\26A0\\FE0E  "; }
td.unexplained { background: #ffebe9; }
td.fail { background: #ffebe9; font-weight: 600; }
td.weaker { background: #fff8c5; }
caption { text-align: left; margin-bottom: .5rem; color: #57606a; }
span.why { font-size: .8em; font-weight: normal; color: #57606a; }
td.unexplained span.why { color: #cf222e; font-weight: 600; }
code { background: #eff1f3; padding: 0 .2rem; border-radius: 3px; }
"""

_CODE = re.compile(r"`([^`]+)`")


def _cell(text: str) -> str:
    """Escaped text, with `code` spans rendered as <code> (no raw backticks on the page)."""
    return _CODE.sub(lambda m: f"<code>{m.group(1)}</code>", html.escape(text))


def cost_chart(report: Report) -> str:
    """Monthly cost by environment as inline SVG: desired and max-size bars, the budget marked."""
    stacks = [c.stack for c in report.columns if c.stack in report.costs]
    if not stacks:
        return ""
    top = max(max(report.costs[s].total_at_max, float(report.costs[s].budget or 0)) for s in stacks)
    scale = 520 / (top or 1)
    row, width = 46, 760
    height = row * len(stacks) + 40
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}">',
        "<title>Monthly cost by environment: desired size, max size, budget</title>",
    ]
    for index, stack in enumerate(stacks):
        cost = report.costs[stack]
        y = 10 + index * row
        parts += [
            f'<text x="0" y="{y + 18}" font-size="13">{html.escape(stack)}</text>',
            f'<rect class="max" x="110" y="{y + 4}" width="{cost.total_at_max * scale:.1f}" '
            f'height="18" fill="#d0d7de"><title>{html.escape(stack)} at max size: '
            f"{money(cost.total_at_max)}</title></rect>",
            f'<rect class="desired" x="110" y="{y + 4}" width="{cost.total * scale:.1f}" '
            f'height="18" fill="#0969da"><title>{html.escape(stack)} at desired size: '
            f"{money(cost.total)}</title></rect>",
            f'<text x="{110 + cost.total_at_max * scale + 6:.1f}" y="{y + 18}" font-size="12">'
            f"{money(cost.total)} / {money(cost.total_at_max)}</text>",
        ]
        if cost.budget is not None:
            x = 110 + cost.budget * scale
            colour = "#cf222e" if cost.over_budget else "#1a7f37"
            parts.append(
                f'<line class="budget" x1="{x:.1f}" x2="{x:.1f}" y1="{y}" y2="{y + 26}" '
                f'stroke="{colour}" stroke-width="3"><title>{html.escape(stack)} budget: '
                f"{money(cost.budget)}</title></line>"
            )
    legend_y = height - 8
    parts += [
        f'<rect x="110" y="{legend_y - 10}" width="12" height="10" fill="#0969da"/>',
        f'<text x="126" y="{legend_y}" font-size="12">desired size</text>',
        f'<rect x="220" y="{legend_y - 10}" width="12" height="10" fill="#d0d7de"/>',
        f'<text x="236" y="{legend_y}" font-size="12">every node group at max size</text>',
        f'<line x1="430" x2="430" y1="{legend_y - 12}" y2="{legend_y + 2}" stroke="#1a7f37" '
        'stroke-width="3"/>',
        f'<text x="438" y="{legend_y}" font-size="12">budget</text>',
        "</svg>",
    ]
    return "".join(parts)


def render_html(report: Report) -> str:
    """A single self-contained page: no scripts, no external stylesheets."""
    stacks = [c.stack for c in report.columns]
    esc = html.escape
    head = "".join(f"<th>{esc(s)}</th>" for s in stacks)
    body = []
    for row in report.row_names:
        cells = []
        for s in stacks:
            value = _cell(report.value(s, row))
            if report.deviates(s, row):
                entry = report.explanation(s, row)
                title = (
                    f"differs from {report.baseline}; intended: {entry.id}"
                    if entry
                    else f"differs from {report.baseline}; UNEXPLAINED"
                )
                css = "deviation" if entry else "deviation unexplained"
                # In words as well as colour: a printed page loses the colour.
                marker = (
                    f'<span class="why">intended: {esc(entry.id)}</span>'
                    if entry
                    else '<span class="why">UNEXPLAINED</span>'
                )
                cells.append(f'<td class="{css}" title="{esc(title)}">{value}<br>{marker}</td>')
            else:
                cells.append(f"<td>{value}</td>")
        body.append(f"<tr><th>{_cell(row)}</th>{''.join(cells)}</tr>")
    sections = [
        "<h1>stagecraft environment report</h1>",
        f'<p class="source">{esc(report.source.describe())}</p>',
        f"<table><caption>Generated {esc(report.generated_at)}. Highlighted cells differ from "
        f"{esc(report.baseline)}; red ones have no entry in {EXCEPTIONS_FILE}. Prices: AWS "
        f"us-east-1 list prices read {esc(report.prices_read_on)}.</caption>"
        f"<thead><tr><th></th>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>",
    ]
    chart = cost_chart(report)
    if chart:
        sections += ["<h2>Cost by environment</h2>", f'<figure class="cost-chart">{chart}</figure>']
    unexplained = report.unexplained()
    sections.append(
        f"<h2>Deviations from {esc(report.baseline)}</h2><p>{len(report.deviations())} "
        f"deviations, {len(unexplained)} unexplained.</p>"
        + (
            "<ul>"
            + "".join(f'<li class="unexplained">{esc(s)}: {_cell(r)}</li>' for s, r in unexplained)
            + "</ul>"
            if unexplained
            else ""
        )
    )
    if report.exceptions:
        rows = "".join(
            f"<tr><td><code>{esc(e.id)}</code></td><td>{esc(', '.join(e.stacks))}</td>"
            f"<td>{_cell('; '.join(e.rows))}</td><td>{esc(e.reason)}</td><td>{esc(e.owner)}</td>"
            f'<td class="{"fail" if e in report.overdue() else ""}">{e.review.isoformat()}'
            f"{' (overdue)' if e in report.overdue() else ''}</td></tr>"
            for e in report.exceptions
        )
        sections.append(
            '<h2>Exceptions register</h2><table class="exceptions"><thead><tr><th>id</th>'
            "<th>stacks</th><th>rows</th><th>reason</th><th>owner</th><th>review</th></tr>"
            f"</thead><tbody>{rows}</tbody></table>"
        )
    if report.audits:
        audited = [s for s in stacks if s in report.audits]
        rows_html = []
        for index, verdict in enumerate(report.audits[audited[0]].verdicts):
            cells = []
            for s in audited:
                v = report.audits[s].verdicts[index]
                css = "fail" if v.status == "fail" else "weaker" if v.weaker_than_control else ""
                cells.append(f'<td class="{css}">{esc(_verdict_cell(v))}</td>')
            rule = verdict.rule
            rows_html.append(
                f"<tr><th>{esc(rule.name)}</th><td>{esc(rule.severity.value)}</td>"
                f"<td>{esc(', '.join(rule.controls) or '-')}</td>{''.join(cells)}</tr>"
            )
        sections.append(
            '<h2>Policy verdicts</h2><table class="verdicts"><thead><tr><th>policy</th>'
            "<th>severity</th><th>controls</th>"
            + "".join(f"<th>{esc(s)}</th>" for s in audited)
            + f"</tr></thead><tbody>{''.join(rows_html)}</tbody></table>"
        )
    if report.ci_roles:
        rows = "".join(
            f"<tr><td><code>{esc(r.name)}</code></td><td>"
            + "<br>".join(f"<code>{esc(x)}</code>" for x in r.trusted_subjects)
            + f"</td><td>{_yes(r.audience_pinned)}</td><td>{esc(r.purpose)}</td></tr>"
            for r in report.ci_roles
        )
        verdicts = "".join(
            f"<p>Bootstrap stack <code>{esc(stack)}</code>: policy pack {esc(v)}.</p>"
            for stack, v in sorted(report.account_policy.items())
        )
        sections.append(
            "<h2>CI access (the account's bootstrap)</h2>" + verdicts + '<table class="ci">'
            "<thead><tr><th>role</th><th>assumable only by a GitHub token whose sub is</th>"
            "<th>audience pinned</th><th>for</th></tr></thead>"
            f"<tbody>{rows}</tbody></table>"
        )
    if report.small_requested and not report.small:
        sections.append(
            f"<h2>Preview and developer environments</h2><p>{_cell(NO_SMALL_STACKS)}</p>"
        )
    if report.small:
        rows = "".join(
            f"<tr><td>{esc(e.stack)}</td><td>{esc(e.kind)}</td><td>{esc(e.shares)}</td>"
            f"<td>{esc(e.namespace)}</td>"
            f"<td>{'own instance' if e.own_database else 'in the shared instance'}</td>"
            f"<td>{esc(e.expires)}</td><td>{esc(money(e.monthly))}</td><td>{esc(e.policy)}</td>"
            "</tr>"
            for e in report.small
        )
        sections.append(
            '<h2>Preview and developer environments</h2><table class="small"><thead><tr>'
            "<th>stack</th><th>kind</th><th>shares</th><th>namespace</th><th>database</th>"
            "<th>expires</th><th>monthly</th><th>policy</th></tr></thead>"
            f"<tbody>{rows}</tbody></table>"
        )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        "<title>stagecraft environment report</title>"
        f"<style>{_CSS}</style></head><body>{''.join(sections)}</body></html>\n"
    )
