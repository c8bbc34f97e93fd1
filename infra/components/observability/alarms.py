"""The CloudWatch alarms of an environment, as data: what is watched, when it fires, what to do.

Pure (tested without Pulumi). These watch what Prometheus sees badly or not
at all: the managed database and cache, the NAT gateways and the node
group's Auto Scaling group. Thresholds come from config; each description
says what to do when it fires.
https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/rds-metrics.html
https://docs.aws.amazon.com/AmazonElastiCache/latest/dg/CacheMetrics.Redis.html
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from infra.config import AlertingSpec

GIB = 1024**3

# Memory of the DB instance classes stagecraft allows (infra/config.py
# DB_INSTANCE_FAMILIES), in GiB: burstable by size, m-family 4 GiB per vCPU,
# r-family 8 GiB per vCPU.
# https://aws.amazon.com/rds/instance-types/
_BURSTABLE_GIB = {"micro": 1, "small": 2, "medium": 4, "large": 8, "xlarge": 16, "2xlarge": 32}
_VCPUS = {"medium": 1, "large": 2, "xlarge": 4, "2xlarge": 8, "4xlarge": 16, "8xlarge": 32,
          "12xlarge": 48, "16xlarge": 64, "24xlarge": 96}  # fmt: skip
# PostgreSQL's default max_connections on RDS: LEAST({DBInstanceClassMemory/9531392}, 5000).
# https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/CHAP_Limits.html#RDS_Limits.MaxConnections
MAX_CONNECTIONS_DIVISOR = 9531392
MAX_CONNECTIONS_CAP = 5000


def db_instance_memory_gib(instance_class: str) -> int:
    match = re.fullmatch(r"db\.([a-z]+)(\d+)([a-z]*)\.(\w+)", instance_class)
    if not match:
        raise ValueError(f"not a DB instance class: {instance_class}")
    family, size = match.group(1), match.group(4)
    if family == "t":
        return _BURSTABLE_GIB[size]
    return _VCPUS[size] * (8 if family == "r" else 4)


def default_max_connections(instance_class: str) -> int:
    memory = db_instance_memory_gib(instance_class) * GIB
    return min(memory // MAX_CONNECTIONS_DIVISOR, MAX_CONNECTIONS_CAP)


@dataclass(frozen=True)
class Alarm:
    """One CloudWatch alarm on one metric, or on a metric-math expression."""

    name: str  # the alarm's name: starts with the environment's prefix
    description: str
    namespace: str
    metric: str
    # Values are ids, or the outputs that will be ids once the resources exist.
    dimensions: dict[str, Any]
    statistic: str
    period: int
    evaluation_periods: int
    threshold: float
    comparison: str
    treat_missing_data: str = "missing"
    # Metric math: the expression, and its metrics by id (metric, statistic).
    expression: str = ""
    expression_metrics: dict[str, tuple[str, str]] = field(default_factory=dict)


def database_alarms(
    spec: AlertingSpec,
    *,
    instance_id: str,
    replica_ids: list[str],
    instance_class: str,
    allocated_storage_gb: int,
    max_storage_gb: int,
    named_after: str = "",
) -> list[Alarm]:
    memory = db_instance_memory_gib(instance_class) * GIB
    connections = default_max_connections(instance_class)
    alarms: list[Alarm] = []
    for db_id, role in [(instance_id, "database"), *((r, "replica") for r in replica_ids)]:
        dims = {"DBInstanceIdentifier": db_id}
        # Named after the environment's original identifier (``named_after``),
        # not the live instance's: after a point-in-time restore (a new
        # identifier) the alarms keep their names and history and only their
        # dimension moves, in place.
        name_id = (named_after or instance_id) + db_id.removeprefix(instance_id)
        # stagecraft-staging-database-cpu, stagecraft-staging-replica-1-cpu
        base = f"{name_id}-database" if role == "database" else name_id
        alarms += [
            Alarm(f"{base}-cpu", f"{role} {db_id}: CPU above {spec.alarm_db_cpu_percent}% for "
                  "15 minutes. Look for slow or new queries in Performance Insights or "
                  "pg_stat_statements; if it is steady load, move dbInstanceClass up.",
                  "AWS/RDS", "CPUUtilization", dims, "Average", 300, 3,
                  spec.alarm_db_cpu_percent, "GreaterThanThreshold"),
            Alarm(f"{base}-freeable-memory", f"{role} {db_id}: freeable memory below "
                  f"{spec.alarm_db_freeable_memory_percent}% of the instance's for 15 minutes. "
                  "Check connections and work_mem-heavy queries; move dbInstanceClass up if it "
                  "persists.", "AWS/RDS", "FreeableMemory", dims, "Average", 300, 3,
                  memory * spec.alarm_db_freeable_memory_percent // 100, "LessThanThreshold"),
            Alarm(f"{base}-connections", f"{role} {db_id}: more than "
                  f"{spec.alarm_db_connections_percent}% of its {connections} connections in "
                  "use. Look for connection leaks or pools sized too large; new connections "
                  "fail at the limit.", "AWS/RDS", "DatabaseConnections", dims, "Maximum", 300,
                  3, connections * spec.alarm_db_connections_percent // 100,
                  "GreaterThanThreshold"),
        ]  # fmt: skip
        if role == "database":
            alarms.append(
                Alarm(
                    f"{base}-free-storage",
                    f"database {db_id}: free storage below "
                    f"{allocated_storage_gb * spec.alarm_db_free_storage_percent / 100:g} GiB "
                    f"({spec.alarm_db_free_storage_percent}% of the {allocated_storage_gb} GiB "
                    "it started with). Storage autoscaling grows the volume at 10% free, so it "
                    f"has not kept up or has reached its {max_storage_gb} GiB ceiling: raise "
                    "dbMaxAllocatedStorageGb, or find what grows (bloat, logs, temp files) "
                    "before writes fail.",
                    "AWS/RDS",
                    "FreeStorageSpace",
                    dims,
                    "Minimum",
                    300,
                    2,
                    allocated_storage_gb * GIB * spec.alarm_db_free_storage_percent // 100,
                    "LessThanThreshold",
                )
            )
        else:
            alarms.append(
                Alarm(
                    f"{base}-replica-lag",
                    f"replica {db_id}: more than "
                    f"{spec.alarm_db_replica_lag_seconds} s behind the primary for 5 minutes. "
                    "Reads from it are stale; look for long transactions on the primary or "
                    "an undersized replica.",
                    "AWS/RDS",
                    "ReplicaLag",
                    dims,
                    "Maximum",
                    60,
                    5,
                    spec.alarm_db_replica_lag_seconds,
                    "GreaterThanThreshold",
                )
            )
    return alarms


def cache_alarms(spec: AlertingSpec, *, member_clusters: list[str]) -> list[Alarm]:
    """Per member node: ElastiCache publishes its metrics per cache cluster, not per group.

    The primary moves on failover, so every node has every alarm; the
    replication lag is missing on the primary and counts as fine there.
    """
    alarms: list[Alarm] = []
    replicated = len(member_clusters) > 1
    for node in member_clusters:
        dims = {"CacheClusterId": node}
        # <group>-001 -> <group>-cache-001-...
        group, number = node.rsplit("-", 1)
        base = f"{group}-cache-{number}"
        alarms += [
            Alarm(f"{base}-engine-cpu", f"cache node {node}: Redis's (single-threaded) engine "
                  f"CPU above {spec.alarm_cache_cpu_percent}% for 15 minutes. Look for "
                  "expensive commands (SLOWLOG, KEYS, large sorted sets); move cacheNodeType up "
                  "if it is steady load.", "AWS/ElastiCache", "EngineCPUUtilization", dims,
                  "Average", 300, 3, spec.alarm_cache_cpu_percent, "GreaterThanThreshold"),
            Alarm(f"{base}-memory", f"cache node {node}: more than "
                  f"{spec.alarm_cache_memory_percent}% of its memory used for 15 minutes. "
                  "Evictions follow (cacheMaxmemoryPolicy); check key TTLs and growth, or move "
                  "cacheNodeType up.", "AWS/ElastiCache", "DatabaseMemoryUsagePercentage",
                  dims, "Average", 300, 3, spec.alarm_cache_memory_percent,
                  "GreaterThanThreshold"),
            Alarm(f"{base}-evictions", f"cache node {node}: more than "
                  f"{spec.alarm_cache_evictions} keys evicted in each of three 5-minute "
                  "periods: the cache is too small for its working set. Check TTLs; move "
                  "cacheNodeType up.", "AWS/ElastiCache", "Evictions", dims, "Sum", 300, 3,
                  spec.alarm_cache_evictions, "GreaterThanThreshold"),
        ]  # fmt: skip
        if replicated:
            alarms.append(
                Alarm(
                    f"{base}-replication-lag",
                    f"cache node {node}: as a replica, more than "
                    f"{spec.alarm_cache_replication_lag_seconds} s behind its primary for 5 "
                    "minutes. A failover now would lose those writes; check the primary's "
                    "write load and network.",
                    "AWS/ElastiCache",
                    "ReplicationLag",
                    dims,
                    "Maximum",
                    60,
                    5,
                    spec.alarm_cache_replication_lag_seconds,
                    "GreaterThanThreshold",
                    treat_missing_data="notBreaching",
                )
            )
    return alarms


def nat_alarms(resource_prefix: str, nat_gateways: dict[str, Any]) -> list[Alarm]:
    """``nat_gateways``: gateway id by zone label (az1, az2, ...)."""
    return [
        Alarm(f"{resource_prefix}-nat-{label}-port-allocation", f"NAT gateway of {label}: "
              "connections failed for want of a source port (more than 55,000 at once to one "
              "destination). Spread the traffic over destinations, add secondary IPs to the "
              "gateway, or use VPC endpoints for AWS services.", "AWS/NATGateway",
              "ErrorPortAllocation", {"NatGatewayId": nat}, "Sum", 300, 1, 0,
              "GreaterThanThreshold", treat_missing_data="notBreaching")
        for label, nat in nat_gateways.items()
    ]  # fmt: skip


def node_group_alarm(autoscaling_group: Any, cluster_name: str) -> Alarm:
    """In-service nodes below the group's minimum: a metric-math alarm that follows the minimum.

    Needs the group's metrics collection on (AsgMetricsCollection), which an
    EKS managed node group does not turn on itself.
    """
    return Alarm(
        f"{cluster_name}-nodes-below-minimum",
        f"node group of {cluster_name}: fewer nodes in service than its minimum for 5 minutes. "
        "Look at the Auto Scaling group's activity (capacity or quota errors, failing "
        "launches) and the nodes' health in EKS; pods may be pending.",
        "AWS/AutoScaling",
        "",
        {"AutoScalingGroupName": autoscaling_group},
        "",
        60,
        5,
        0,
        "GreaterThanThreshold",
        treat_missing_data="breaching",
        expression="IF(in_service < minimum, 1, 0)",
        expression_metrics={
            "in_service": ("GroupInServiceInstances", "Minimum"),
            "minimum": ("GroupMinSize", "Maximum"),
        },
    )


def health_check_alarm(health_check_id: Any, url: str, resource_prefix: str) -> Alarm:
    return Alarm(
        f"{resource_prefix}-health-check-failing",
        f"{url} failed its Route 53 health check from several regions for 3 minutes: users "
        "cannot reach the application. Check the ALB's targets, the pods' readiness and the "
        "last deploy (roll back if it was it).",
        "AWS/Route53",
        "HealthCheckStatus",
        {"HealthCheckId": health_check_id},
        "Minimum",
        60,
        3,
        1,
        "LessThanThreshold",
        treat_missing_data="breaching",
    )
