"""Human-readable views of a plan."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rich.console import Console, Group
from rich.table import Table
from rich.text import Text
from rich.tree import Tree

from stagecraft.offline.engine import STACK_TYPE, Plan, PlannedResource

Summary = Callable[[dict[str, Any]], list[str]]


def _on_off(value: object, label: str) -> str:
    return label if value else f"no {label}"


def _node_group(i: dict[str, Any]) -> list[str]:
    scaling = i.get("scalingConfig", {})
    taints = [f"{t.get('key')}={t.get('value')}:{t.get('effect')}" for t in i.get("taints") or []]
    return [
        ",".join(i.get("instanceTypes", [])),
        str(i.get("capacityType", "ON_DEMAND")),
        f"min {scaling.get('minSize')} / desired {scaling.get('desiredSize')} / "
        f"max {scaling.get('maxSize')}",
        str(i.get("amiType", "")),
        *(f"taint {taint}" for taint in taints),
    ]


def _budget(i: dict[str, Any]) -> list[str]:
    filters = [v for f in i.get("costFilters") or [] for v in f.get("values") or []]
    parts = [f"${i.get('limitAmount')} {str(i.get('timeUnit', '')).lower()}"]
    parts += [f"resources tagged {', '.join(filters)}"] if filters else ["the whole account"]
    for notification in i.get("notifications") or []:
        to = [
            *(notification.get("subscriberEmailAddresses") or []),
            *(["the alert topic"] if notification.get("subscriberSnsTopicArns") else []),
        ]
        parts.append(
            f"{str(notification.get('notificationType')).lower()} > "
            f"{notification.get('threshold')}% to {', '.join(to) or 'nobody'}"
        )
    return parts


def _schedule(i: dict[str, Any]) -> list[str]:
    target = i.get("target") or {}
    action = str(target.get("arn", "")).rsplit(":", 2)
    call = f"{action[-2]}:{action[-1]}" if len(action) == 3 else str(target.get("arn"))
    return [
        f"{i.get('scheduleExpression')} {i.get('scheduleExpressionTimezone', 'UTC')}",
        f"{call} {target.get('input', '')}",
        f"as {str(target.get('roleArn', '?')).rsplit('/', 1)[-1]}",
    ]


def _eks_cluster(i: dict[str, Any]) -> list[str]:
    vpc = i.get("vpcConfig", {})
    public = vpc.get("endpointPublicAccess")
    endpoint = "public+private endpoint" if public else "private endpoint only"
    if public:
        endpoint += f" from {', '.join(vpc.get('publicAccessCidrs', []))}"
    return [
        f"Kubernetes {i.get('version')}",
        endpoint,
        "logs " + ",".join(i.get("enabledClusterLogTypes", [])),
        _on_off(i.get("encryptionConfig"), "secrets encryption"),
    ]


def _rds_instance(i: dict[str, Any]) -> list[str]:
    parts = [str(i.get("instanceClass"))]
    if i.get("replicateSourceDb"):
        parts.append(f"read replica of {i['replicateSourceDb']}")
    else:
        parts += [
            f"{i.get('engine')} {i.get('engineVersion')}",
            f"{i.get('allocatedStorage')}-{i.get('maxAllocatedStorage')} GiB "
            f"{i.get('storageType')}",
            "Multi-AZ" if i.get("multiAz") else "single-AZ",
            f"backups {i.get('backupRetentionPeriod')} d",
        ]
    parts += [
        _on_off(i.get("storageEncrypted"), "encrypted"),
        "public" if i.get("publiclyAccessible") else "private",
    ]
    if i.get("deletionProtection"):
        parts.append("deletion protection")
    if i.get("performanceInsightsEnabled"):
        parts.append("Performance Insights")
    if i.get("monitoringInterval"):
        parts.append(f"enhanced monitoring {i['monitoringInterval']}s")
    return parts


def _replication_group(i: dict[str, Any]) -> list[str]:
    return [
        f"{i.get('numCacheClusters')} x {i.get('nodeType')}",
        f"redis {i.get('engineVersion')}",
        _on_off(i.get("automaticFailoverEnabled"), "automatic failover"),
        _on_off(i.get("atRestEncryptionEnabled"), "encrypted at rest"),
        _on_off(i.get("transitEncryptionEnabled"), "TLS"),
        f"snapshots {i.get('snapshotRetentionLimit', 0)} d",
    ]


def _parameters(i: dict[str, Any]) -> list[str]:
    return [f"{p.get('name')}={p.get('value')}" for p in i.get("parameters", [])]


def _release(i: dict[str, Any]) -> list[str]:
    """The chart and version, and the retention the monitoring charts keep."""
    values = i.get("values") if isinstance(i.get("values"), dict) else {}
    chart = f"{i.get('chart')} {i.get('version')}"
    retention = {
        "kube-prometheus-stack": lambda v: v["prometheus"]["prometheusSpec"]["retention"],
        "loki": lambda v: v["loki"]["limits_config"]["retention_period"],
        "tempo": lambda v: v["tempo"]["retention"],
        "thanos": lambda v: v["compact"]["extraArgs"][0].split("=", 1)[1],
    }.get(str(i.get("chart")))
    try:
        kept = retention(values) if retention else None
    except (KeyError, IndexError, TypeError):
        kept = None
    return [chart, f"retention {kept}"] if kept else [chart]


def _alarm(i: dict[str, Any]) -> list[str]:
    queries = i.get("metricQueries") or []
    metric = i.get("metricName") or next(
        (q["expression"] for q in queries if q.get("expression")), "?"
    )
    comparison = {"GreaterThanThreshold": ">", "LessThanThreshold": "<"}.get(
        str(i.get("comparisonOperator")), str(i.get("comparisonOperator"))
    )
    return [f"{metric} {comparison} {i.get('threshold')}"]


def _trail(i: dict[str, Any]) -> list[str]:
    return [
        "all regions" if i.get("isMultiRegionTrail") else "one region",
        _on_off(i.get("enableLogFileValidation"), "log file validation"),
        "KMS" if i.get("kmsKeyId") else "no KMS",
    ]


def _cron_job(i: dict[str, Any]) -> list[str]:
    """When it runs, and what: each step's container in order."""
    spec = i.get("spec", {})
    pod = spec.get("jobTemplate", {}).get("spec", {}).get("template", {}).get("spec", {})
    steps = [
        c.get("name", "?") for c in [*pod.get("initContainers", []), *pod.get("containers", [])]
    ]
    shown = [f"{spec.get('schedule')} {spec.get('timeZone') or 'UTC'}"]
    if spec.get("suspend"):
        shown.append("suspended")
    if pod.get("serviceAccountName"):
        shown.append(f"as {pod['serviceAccountName']}")
    return [*shown, " → ".join(steps)]


def _backup_rule(rule: dict[str, Any]) -> str:
    """A backup rule: when, how long, and where its copies go."""
    shown = f"{rule.get('ruleName')}: {rule.get('schedule')}, kept "
    shown += f"{(rule.get('lifecycle') or {}).get('deleteAfter')} d"
    for copy in rule.get("copyActions") or []:
        arn = str(copy.get("destinationVaultArn") or "")
        shown += f", copy to {arn.split(':')[3] if arn.count(':') >= 5 else 'another region'}"
    return shown


SUMMARIES: dict[str, Summary] = {
    "kubernetes:batch/v1:CronJob": _cron_job,
    "aws:s3/bucket:Bucket": lambda i: [str(i.get("bucket"))],
    "kubernetes:core/v1:ServiceAccount": lambda i: [
        str(i.get("metadata", {}).get("name")),
        *(
            [f"IRSA {str(arn).rsplit('/', 1)[-1]}"]
            if (
                arn := i.get("metadata", {})
                .get("annotations", {})
                .get("eks.amazonaws.com/role-arn")
            )
            else []
        ),
    ],
    "aws:budgets/budget:Budget": _budget,
    "aws:scheduler/schedule:Schedule": _schedule,
    "kubernetes:helm.sh/v3:Release": _release,
    "aws:cloudwatch/metricAlarm:MetricAlarm": _alarm,
    "aws:cloudtrail/trail:Trail": _trail,
    "aws:backup/plan:Plan": lambda i: [_backup_rule(r) for r in i.get("rules") or []],
    "aws:backup/vault:Vault": lambda i: [
        str(i.get("name")),
        "own KMS key" if i.get("kmsKeyArn") else "AWS Backup's key",
    ],
    "aws:backup/vaultLockConfiguration:VaultLockConfiguration": lambda i: [
        "compliance" if i.get("changeableForDays") else "governance",
        f"min {i.get('minRetentionDays')} d",
    ],
    "aws:backup/restoreTestingPlan:RestoreTestingPlan": lambda i: [
        str(i.get("scheduleExpression"))
    ],
    "aws:route53/healthCheck:HealthCheck": lambda i: [
        f"{i.get('type')} {i.get('fqdn')}{i.get('resourcePath')} every {i.get('requestInterval')} s"
    ],
    "aws:sns/topic:Topic": lambda i: [
        str(i.get("name")),
        "KMS" if i.get("kmsMasterKeyId") else "no KMS",
    ],
    "aws:ec2/vpc:Vpc": lambda i: [str(i.get("cidrBlock"))],
    "aws:ec2/subnet:Subnet": lambda i: [str(i.get("cidrBlock")), str(i.get("availabilityZone"))],
    "aws:eks/nodeGroup:NodeGroup": _node_group,
    "aws:eks/cluster:Cluster": _eks_cluster,
    "aws:rds/instance:Instance": _rds_instance,
    "aws:rds/parameterGroup:ParameterGroup": _parameters,
    "aws:elasticache/replicationGroup:ReplicationGroup": _replication_group,
    "aws:elasticache/parameterGroup:ParameterGroup": _parameters,
    "aws:cloudwatch/logGroup:LogGroup": lambda i: [
        str(i.get("name")),
        f"retention {i.get('retentionInDays')} d",
    ],
    "aws:kms/key:Key": lambda i: [_on_off(i.get("enableKeyRotation"), "rotation")],
    "aws:secretsmanager/secret:Secret": lambda i: [str(i.get("name"))],
    "aws:ec2/flowLog:FlowLog": lambda i: [f"traffic {i.get('trafficType')}"],
    "aws:eks/accessPolicyAssociation:AccessPolicyAssociation": lambda i: [
        str(i.get("policyArn", "")).rsplit("/", 1)[-1]
    ],
    "kubernetes:core/v1:Namespace": lambda i: [str(i.get("metadata", {}).get("name"))],
    "kubernetes:core/v1:ResourceQuota": lambda i: [
        f"{k}={v}" for k, v in i.get("spec", {}).get("hard", {}).items()
    ],
    "kubernetes:core/v1:ConfigMap": lambda i: [
        # Short settings in full; scripts and documents by name only.
        f"{k}={v}" if len(str(v)) <= 40 and "\n" not in str(v) else k
        for k, v in sorted(i.get("data", {}).items())
    ],
}


def _label(resource: PlannedResource, parent_name: str | None) -> Text:
    short_name = resource.name
    if parent_name and short_name.startswith(f"{parent_name}-"):
        short_name = short_name[len(parent_name) + 1 :]
    label = Text()
    if not resource.custom:
        label.append(short_name, style="bold")
        label.append(f"  {resource.type}", style="cyan")
        return label
    if resource.import_id:
        label.append("= ", style="blue")  # adopted, as `pulumi preview` marks an import
    else:
        label.append("+ ", style="green")
    label.append(short_name)
    label.append(f"  {resource.type}", style="dim")
    summarise = SUMMARIES.get(resource.type)
    details = summarise(resource.inputs) if summarise else []
    if details:
        label.append("  " + "; ".join(d for d in details if d), style="yellow")
    if resource.import_id:
        label.append(f"  [adopts existing {resource.import_id}]", style="blue")
    if resource.protect:
        label.append("  [protected]", style="bold red")
    if resource.ignore_changes:
        label.append(
            f"  [ignores changes to {', '.join(resource.ignore_changes)}]", style="magenta"
        )
    return label


def plan_tree(plan: Plan) -> Tree:
    root_resource = next((r for r in plan.resources if r.type == STACK_TYPE), None)
    tree = Tree(Text(f"{plan.project}/{plan.stack}", style="bold"))
    if root_resource is None:
        return tree

    def add(node: Tree, parent: PlannedResource) -> None:
        parent_name = parent.name if parent.type != STACK_TYPE else None
        # Components first, then resources; by name within each, so the same
        # program always prints the same tree.
        children = sorted(plan.children_of(parent.urn), key=lambda r: (r.custom, r.name, r.type))
        for child in children:
            add(node.add(_label(child, parent_name)), child)

    add(tree, root_resource)
    return tree


def summary(plan: Plan) -> Group:
    counts = plan.type_counts()
    custom = sum(1 for r in plan.resources if r.custom)
    components = sum(1 for r in plan.resources if not r.custom and r.type != STACK_TYPE)
    protected = sum(1 for r in plan.resources if r.protect)
    headline = Text(
        f"Plan for {plan.project}/{plan.stack}: {custom} resources to create "
        f"in {components} components, {protected} protected",
        style="bold",
    )
    table = Table(title=None, show_edge=False, pad_edge=False)
    table.add_column("count", justify="right")
    table.add_column("resource type")
    for type_token, count in sorted(counts.items(), key=lambda item: (-item[1], item[0])):
        table.add_row(str(count), type_token)
    outputs = Table(show_edge=False, pad_edge=False)
    outputs.add_column("output")
    outputs.add_column("value")
    for key, value in sorted(plan.outputs.items()):
        outputs.add_row(key, value if isinstance(value, str) else str(value))
    parts: list[Any] = [headline, table, Text("\nStack outputs", style="bold"), outputs]
    parts += [Text(message, style="yellow") for message in plan.diagnostics]
    return Group(*parts)


def print_plan(plan: Plan, console: Console) -> None:
    console.print(plan_tree(plan))
    console.print()
    console.print(summary(plan))
