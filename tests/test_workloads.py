"""Workloads: namespace, connection Secret, feature flags, quota, network policy."""

from __future__ import annotations

import pytest

from tests.conftest import inside

NETWORK_POLICY = "kubernetes:networking.k8s.io/v1:NetworkPolicy"


def test_kubernetes_provider_is_built_from_the_cluster(production):
    provider = production.one("pulumi:providers:kubernetes")
    assert provider.inputs["kubeconfig"] == "[secret]"
    assert provider.inputs["clusterIdentifier"] == "stagecraft-production"
    assert production.one("aws:eks/cluster:Cluster").urn in provider.dependencies


def test_every_kubernetes_object_goes_through_that_provider(plans):
    for plan in plans.values():
        provider = plan.one("pulumi:providers:kubernetes")
        objects = [r for r in plan.resources if r.type.startswith("kubernetes:")]
        # 9 in the namespace (the ingress ConfigMap and the load balancer's
        # NetworkPolicy among them), 6 of the add-ons (4 charts, the ingress
        # class and its parameters), plus the developers' edit RoleBinding
        # where config grants edit, plus the small-stack deployers' access
        # (4) where the cluster hosts them, plus the admission policy and
        # binding that confine the small stacks' Ingresses (2) where it hosts
        # any (dev hosts dev-<name>, staging pr-<n>). 8 of the add-ons: 4
        # charts, the ingress class and its parameters, the gp3 StorageClass and
        # its always-deleting scratch twin.
        # Monitoring (off in dev): its namespace, 5 charts (CRDs,
        # kube-prometheus-stack, Loki, Alloy, Tempo) and 2 Secrets (Grafana's
        # admin, Alertmanager's receivers); production's long-term metrics add
        # Thanos and its bucket config.
        edit = plan.stack in ("dev", "staging")
        small_stacks = 4 if plan.stack == "staging" else 0
        ingress_policy = 2 if plan.stack in ("dev", "staging") else 0
        # Plus the namespace's policy letting the monitoring namespace scrape it
        # and receive its traces.
        monitoring = {"dev": 0, "staging": 9, "production": 11}[plan.stack]
        # The data sync: its namespace, ConfigMap, ServiceAccount and CronJob;
        # production's export role Job.
        data_sync = {"dev": 0, "staging": 4, "production": 5}[plan.stack]
        # Who may do what: the database-admin namespace, its ServiceAccount and
        # SQL, the access-roles Job; the application's ServiceAccount.
        access = 5
        # Third-party secrets (every shipped stack lists slots): the External
        # Secrets chart, the reader ServiceAccount, its token Role and
        # RoleBinding, the SecretStore and the ExternalSecret.
        third_party = 6
        # The post-deploy smoke test: its CronJob and the ConfigMap of its script.
        smoke_test = 2
        assert len(objects) == (
            9
            + 8
            + edit
            + small_stacks
            + ingress_policy
            + monitoring
            + data_sync
            + access
            + third_party
            + smoke_test
        )
        assert {o.provider for o in objects} == {provider.urn}


@pytest.mark.parametrize("stack", ["dev", "staging", "production"])
def test_namespace_named_from_config(plans, stack):
    (namespace,) = [
        r for r in inside(plans[stack], "stagecraft:index:Workloads")
        if r.type == "kubernetes:core/v1:Namespace"
    ]  # fmt: skip
    assert namespace.inputs["metadata"]["name"] == stack
    assert namespace.inputs["metadata"]["labels"]["stagecraft.io/environment"] == stack
    assert plans[stack].outputs["namespace"] == stack
    for resource in inside(plans[stack], "stagecraft:index:Workloads"):
        if (
            resource.type.startswith("kubernetes:")
            and resource.type != "kubernetes:core/v1:Namespace"
        ):
            assert resource.inputs["metadata"]["namespace"] == stack


@pytest.mark.parametrize(
    ("stack", "flags"),
    [
        (
            "dev",
            {
                "realData": "false",
                "webhooks": "false",
                "highSla": "false",
                "backupRecovery": "false",
            },
        ),
        (
            "staging",
            {
                "realData": "false",
                "webhooks": "true",
                "highSla": "false",
                "backupRecovery": "false",
            },
        ),
        (
            "production",
            {"realData": "true", "webhooks": "true", "highSla": "true", "backupRecovery": "true"},
        ),
    ],
)
def test_feature_flags_follow_the_seed_feature_table(plans, stack, flags):
    (config_map,) = [
        c for c in plans[stack].of_type("kubernetes:core/v1:ConfigMap")
        if c.inputs["metadata"]["name"] == "feature-flags"
    ]  # fmt: skip
    data = config_map.inputs["data"]
    assert {k: data[k] for k in flags} == flags
    assert data["ENVIRONMENT"] == stack
    assert config_map.inputs["metadata"]["name"] == "feature-flags"


def test_connection_secret_is_secret(production):
    (secret,) = [
        r for r in production.of_type("kubernetes:core/v1:Secret")
        if r.inputs["metadata"]["name"] == "app-connection"
    ]  # fmt: skip
    assert secret.inputs["stringData"] == "[secret]"


def test_quota_and_container_defaults_from_config(staging):
    quota = staging.one("kubernetes:core/v1:ResourceQuota").inputs["spec"]["hard"]
    assert quota == {
        "requests.cpu": "8",
        "requests.memory": "16Gi",
        "limits.cpu": "16",
        "limits.memory": "32Gi",
        "pods": "100",
    }
    (limits,) = staging.one("kubernetes:core/v1:LimitRange").inputs["spec"]["limits"]
    assert limits["type"] == "Container"
    assert limits["defaultRequest"] == {"cpu": "100m", "memory": "128Mi"}
    assert limits["default"] == {"cpu": "500m", "memory": "512Mi"}


def _policy(plan, name):
    return next(
        p for p in plan.of_type(NETWORK_POLICY) if p.inputs["metadata"]["name"] == name
    ).inputs["spec"]


def test_default_deny_selects_every_pod_both_ways(staging):
    deny = _policy(staging, "default-deny-all")
    assert deny == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}


def test_only_the_needed_traffic_is_allowed(staging):
    allow = _policy(staging, "allow-app-traffic")
    ingress_sources = [rule["from"] for rule in allow["ingress"]]
    assert ingress_sources == [
        [{"podSelector": {}}],
        [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ingress-nginx"}}}],
    ]
    egress = allow["egress"]
    assert {"to": [{"podSelector": {}}]} in egress
    data_stores = next(r for r in egress if r.get("to") == [{"ipBlock": {"cidr": "10.20.0.0/16"}}])
    assert sorted(p["port"] for p in data_stores["ports"]) == [5432, 6379]
    dns = next(r for r in egress if any(p["port"] == 53 for p in r.get("ports", [])))
    assert dns["to"] == [
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}}}
    ]
    assert {"ports": [{"port": 443, "protocol": "TCP"}]} in egress
    # Nothing else: no rule lets other namespaces in.
    assert len(allow["ingress"]) == 2
    assert len(egress) == 4
