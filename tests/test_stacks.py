"""Each real stack's plan matches the environment table of the foundation issue."""

from __future__ import annotations

from typing import Any

import pytest

NAT = "aws:ec2/natGateway:NatGateway"
SUBNET = "aws:ec2/subnet:Subnet"
INSTANCE = "aws:rds/instance:Instance"
CACHE = "aws:elasticache/replicationGroup:ReplicationGroup"

# | | dev | staging | production |  (the table, as numbers)
TABLE: dict[str, dict[str, Any]] = {
    "dev": {
        "zones": 2, "nats": 1, "node": ("t3.medium", 1, 3, 1),
        "db": ("db.t3.micro", 20, False, 1), "replicas": 0,
        "redis": (1, "cache.t4g.micro", False), "retention": 3, "audit": 14, "sessions": 30,
    },
    "staging": {
        "zones": 2, "nats": 1, "node": ("m5.large", 2, 5, 2),
        "db": ("db.t3.medium", 100, False, 7), "replicas": 0,
        "redis": (1, "cache.t4g.micro", False), "retention": 7, "audit": 90, "sessions": 90,
    },
    "production": {
        "zones": 3, "nats": 3, "node": ("m5.large", 3, 9, 3),
        "db": ("db.m5.large", 500, True, 30), "replicas": 1,
        "redis": (2, "cache.m6g.large", True), "retention": 30, "audit": 365, "sessions": 365,
    },
}  # fmt: skip


@pytest.mark.parametrize("stack", list(TABLE))
def test_plan_matches_the_environment_table(plans, stack):
    plan, row = plans[stack], TABLE[stack]

    assert len(plan.of_type(SUBNET)) == 2 * row["zones"]
    assert len(plan.of_type(NAT)) == row["nats"]

    (group,) = [
        g.inputs
        for g in plan.of_type("aws:eks/nodeGroup:NodeGroup")
        if g.inputs["capacityType"] == "ON_DEMAND"
    ]
    scaling = group["scalingConfig"]
    node = (
        group["instanceTypes"][0],
        scaling["minSize"],
        scaling["maxSize"],
        scaling["desiredSize"],
    )
    assert node == row["node"]

    primary = next(i for i in plan.of_type(INSTANCE) if "replicateSourceDb" not in i.inputs)
    db = primary.inputs
    assert (
        db["instanceClass"],
        db["allocatedStorage"],
        db["multiAz"],
        db["backupRetentionPeriod"],
    ) == row["db"]
    assert len(plan.of_type(INSTANCE)) - 1 == row["replicas"]

    cache = plan.one(CACHE).inputs
    assert (cache["numCacheClusters"], cache["nodeType"], cache["automaticFailoverEnabled"]) == row[
        "redis"
    ]

    retentions = {
        g.inputs["name"]: g.inputs["retentionInDays"]
        for g in plan.of_type("aws:cloudwatch/logGroup:LogGroup")
    }
    audit = {
        name
        for name in retentions
        if name.startswith(("/aws/eks/", "/aws/vpc/", "/aws/cloudtrail/"))
    }
    assert {retentions[n] for n in audit} == {row["audit"]}
    # Session Manager shell logs: their own key (sessionLogRetentionDays).
    sessions = {name for name in retentions if name.startswith("/aws/ssm/")}
    assert {retentions[n] for n in sessions} == {row["sessions"]}
    assert {d for n, d in retentions.items() if n not in audit | sessions} == {row["retention"]}


def test_production_has_every_safety_setting(production):
    primary = next(i for i in production.of_type(INSTANCE) if "replicateSourceDb" not in i.inputs)
    assert primary.inputs["deletionProtection"] is True
    assert primary.inputs["performanceInsightsEnabled"] is True
    assert primary.inputs["monitoringInterval"] > 0
    assert production.one("aws:ec2/flowLog:FlowLog")
    assert (
        production.one("aws:eks/cluster:Cluster").inputs["vpcConfig"]["endpointPublicAccess"]
        is False
    )


def test_staging_redis_evicts_any_key(staging):
    parameters = staging.one("aws:elasticache/parameterGroup:ParameterGroup").inputs["parameters"]
    assert {"name": "maxmemory-policy", "value": "allkeys-lru"} in parameters
