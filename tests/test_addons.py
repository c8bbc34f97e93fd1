"""Add-ons: autoscaler, metrics-server, ingress (ALB, TLS), DNS zone, certificate, external-dns."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from infra.charts import (
    AWS_LOAD_BALANCER_CONTROLLER,
    CLUSTER_AUTOSCALER,
    EXTERNAL_DNS,
    EXTERNAL_SECRETS,
    METRICS_SERVER,
    MONITORING_CHARTS,
)
from infra.config import ConfigError
from stagecraft.cli.main import main
from stagecraft.offline.engine import Plan, PlannedResource, evaluate
from stagecraft.offline.stackfiles import load_project, scratch_copy
from tests.conftest import ACCOUNT, REPO, edit_stack, shipped_value, stack_config
from tests.iam_evaluation import decide, tag_context

RELEASE = "kubernetes:helm.sh/v3:Release"
ROLE = "aws:iam/role:Role"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
PARAMS = "kubernetes:elbv2.k8s.aws/v1beta1:IngressClassParams"
ZONE = "aws:route53/zone:Zone"
RECORD = "aws:route53/record:Record"
CERTIFICATE = "aws:acm/certificate:Certificate"
ALL_CHARTS = {
    "cluster-autoscaler",
    "metrics-server",
    "aws-load-balancer-controller",
    "external-dns",
    # Every shipped environment lists third-party secret slots.
    "external-secrets",
}
# The ServiceAccount each add-on that calls AWS runs as, all in kube-system.
STAGING_DOMAIN = shipped_value("stagecraft:domain")
SERVICE_ACCOUNTS = {
    "cluster-autoscaler": "cluster-autoscaler",
    "aws-load-balancer-controller": "aws-load-balancer-controller",
    "external-dns": "external-dns",
}


def _release(plan: Plan, chart: str) -> PlannedResource:
    (release,) = [r for r in plan.of_type(RELEASE) if r.inputs["chart"] == chart]
    return release


def _sibling(plan: Plan, resource: PlannedResource, type_token: str) -> PlannedResource:
    (found,) = [r for r in plan.of_type(type_token) if r.parent == resource.parent]
    return found


def _policy(plan: Plan, role: PlannedResource) -> dict[str, Any]:
    (policy,) = [
        p for p in plan.of_type(ROLE_POLICY)
        if p.inputs["role"] == role.id and p.name.endswith("irsa-policy")
    ]  # fmt: skip
    return json.loads(policy.inputs["policy"])


@pytest.fixture(scope="module")
def sandbox() -> Plan:
    return evaluate("sandbox", project_dir=REPO)


@pytest.fixture(scope="module")
def preview(tmp_path_factory: pytest.TempPathFactory) -> Plan:
    root = scratch_copy(load_project(REPO), tmp_path_factory.mktemp("pr")).directory
    assert main(["--project-dir", str(root), "env", "create", "pr-42"]) == 0
    return evaluate("pr-42", project_dir=root / "ephemeral")


# --------------------------------------------------------------------------- #
# Which add-ons, pinned where
# --------------------------------------------------------------------------- #


def test_every_full_environment_runs_every_add_on(plans, sandbox):
    for plan in [*plans.values(), sandbox]:
        add_ons = {r.inputs["chart"] for r in plan.of_type(RELEASE)
                   if r.inputs["namespace"] == "kube-system"}  # fmt: skip
        assert add_ons == ALL_CHARTS, plan.stack
        assert len(plan.of_type(ZONE)) == 1
        assert len(plan.of_type(PARAMS)) == 1


def test_config_turns_add_ons_off(scratch):
    edit_stack(
        scratch,
        "dev",
        **{
            "stagecraft:clusterAutoscaler": False,
            "stagecraft:metricsServer": False,
            "stagecraft:loadBalancerController": False,
        },
    )
    plan = evaluate("dev", project_dir=scratch)
    # External Secrets runs because dev lists third-party slots (thirdPartySecrets).
    assert {r.inputs["chart"] for r in plan.of_type(RELEASE)} == {
        "external-dns",
        "external-secrets",
    }
    assert plan.of_type(PARAMS) == []
    assert "ingressClass" not in plan.outputs
    # No ALB: the namespace gets no ingress settings and lets nothing in from outside.
    names = {
        r.inputs["metadata"]["name"]
        for r in plan.resources
        if r.type.startswith(("kubernetes:core/", "kubernetes:networking"))
    }
    assert "ingress" not in names
    assert "allow-load-balancer" not in names


def test_every_chart_is_the_pinned_version_from_its_repository(plans):
    expected = {
        "metrics-server": METRICS_SERVER,
        "aws-load-balancer-controller": AWS_LOAD_BALANCER_CONTROLLER,
        "external-dns": EXTERNAL_DNS,
        "external-secrets": EXTERNAL_SECRETS,
        "cluster-autoscaler": CLUSTER_AUTOSCALER["1.34"],
        **{pin.chart: pin for pin in MONITORING_CHARTS},
    }
    for plan in plans.values():
        for release in plan.of_type(RELEASE):
            pin = expected[release.inputs["chart"]]
            assert release.inputs["version"] == pin.version
            assert release.inputs["repositoryOpts"] == {"repo": pin.repository}
            # A fixed release name: the ServiceAccount names (and IRSA subjects) follow it.
            assert release.inputs["name"] == release.inputs["chart"]
            in_monitoring = pin in MONITORING_CHARTS
            assert release.inputs["namespace"] == ("monitoring" if in_monitoring else "kube-system")


def test_the_autoscaler_matches_the_clusters_minor_version(scratch):
    edit_stack(scratch, "dev", **{"stagecraft:kubernetesVersion": "1.35"})
    release = _release(evaluate("dev", project_dir=scratch), "cluster-autoscaler")
    assert release.inputs["version"] == CLUSTER_AUTOSCALER["1.35"].version
    assert release.inputs["values"]["image"]["tag"] == "v1.35.0"


def test_a_version_without_a_pinned_autoscaler_is_refused(project):
    with pytest.raises(ConfigError) as caught:
        stack_config(project, "dev", kubernetesVersion="1.31")
    assert [str(p) for p in caught.value.problems] == [
        "stagecraft:clusterAutoscaler = true: no Cluster Autoscaler is pinned for Kubernetes "
        "1.31 (its minor version must equal the cluster's; pinned: 1.33, 1.34, 1.35 in "
        "infra/charts.py); set it false or move kubernetesVersion"
    ]
    # Without the autoscaler the version is fine.
    stack_config(project, "dev", kubernetesVersion="1.31", clusterAutoscaler=False)


# --------------------------------------------------------------------------- #
# IRSA: one role per add-on, one ServiceAccount each
# --------------------------------------------------------------------------- #


@pytest.mark.parametrize("chart", sorted(SERVICE_ACCOUNTS))
def test_each_add_on_role_trusts_exactly_its_service_account(staging, chart):
    release = _release(staging, chart)
    role = _sibling(staging, release, ROLE)
    (statement,) = json.loads(role.inputs["assumeRolePolicy"])["Statement"]
    issuer = staging.outputs["oidcIssuerUrl"].removeprefix("https://")
    assert statement["Principal"] == {"Federated": staging.outputs["oidcProviderArn"]}
    assert statement["Action"] == "sts:AssumeRoleWithWebIdentity"
    assert statement["Condition"] == {
        "StringEquals": {
            f"{issuer}:sub": f"system:serviceaccount:kube-system:{SERVICE_ACCOUNTS[chart]}",
            f"{issuer}:aud": "sts.amazonaws.com",
        }
    }
    # The chart's ServiceAccount is that one, annotated with that role.
    values = release.inputs["values"]
    account = (
        values["rbac"]["serviceAccount"]
        if chart == "cluster-autoscaler"
        else (values["serviceAccount"])
    )
    assert account["name"] == SERVICE_ACCOUNTS[chart]
    assert account["annotations"] == {
        "eks.amazonaws.com/role-arn": f"arn:aws:iam::{ACCOUNT}:role/{role.id}"
    }
    # Capped by the environment's permissions boundary, like every role it makes.
    assert role.inputs["permissionsBoundary"].endswith(":policy/stagecraft-staging-boundary")


def test_the_autoscaler_may_resize_only_this_clusters_groups(staging):
    role = _sibling(staging, _release(staging, "cluster-autoscaler"), ROLE)
    policy = _policy(staging, role)
    group = "arn:aws:autoscaling:us-east-1:1:autoScalingGroup:x:autoScalingGroupName/eks-n"
    ours = tag_context(
        {
            "k8s.io/cluster-autoscaler/enabled": "true",
            "k8s.io/cluster-autoscaler/stagecraft-staging": "owned",
        }
    )
    production = tag_context(
        {
            "k8s.io/cluster-autoscaler/enabled": "true",
            "k8s.io/cluster-autoscaler/stagecraft-production": "owned",
        }
    )
    for action in ("autoscaling:SetDesiredCapacity",
                   "autoscaling:TerminateInstanceInAutoScalingGroup"):  # fmt: skip
        assert decide(policy, action, group, ours) == "allowed"
        assert decide(policy, action, group, production) == "implicitly denied"
        assert decide(policy, action, group, {}) == "implicitly denied"
    assert decide(policy, "autoscaling:DescribeAutoScalingGroups", "*") == "allowed"
    assert decide(policy, "autoscaling:DeleteAutoScalingGroup", group, ours) == (
        "implicitly denied"
    )


def test_autoscaler_scale_down_settings_come_from_config(scratch, staging):
    args = _release(staging, "cluster-autoscaler").inputs["values"]["extraArgs"]
    assert args["scale-down-unneeded-time"] == "10m"
    assert args["scale-down-utilization-threshold"] == "0.5"
    edit_stack(
        scratch,
        "staging",
        **{
            "stagecraft:autoscalerScaleDownUnneededTime": "30m",
            "stagecraft:autoscalerScaleDownUtilizationPercent": 65,
        },
    )
    changed = evaluate("staging", project_dir=scratch)
    args = _release(changed, "cluster-autoscaler").inputs["values"]["extraArgs"]
    assert args["scale-down-unneeded-time"] == "30m"
    assert args["scale-down-utilization-threshold"] == "0.65"


def test_external_dns_may_change_only_its_zone(staging, production):
    release = _release(staging, "external-dns")
    zone = staging.one(ZONE)
    policy = _policy(staging, _sibling(staging, release, ROLE))
    own = f"arn:aws:route53:::hostedzone/{zone.id}"
    other = f"arn:aws:route53:::hostedzone/{production.one(ZONE).id}"
    assert decide(policy, "route53:ChangeResourceRecordSets", own) == "allowed"
    assert decide(policy, "route53:ChangeResourceRecordSets", other) == "implicitly denied"
    assert decide(policy, "route53:DeleteHostedZone", own) == "implicitly denied"
    values = release.inputs["values"]
    assert values["domainFilters"] == [STAGING_DOMAIN]
    assert values["extraArgs"] == {"aws-zone-type": "public", "zone-id-filter": zone.id}
    assert values["txtOwnerId"] == "stagecraft-staging"
    assert values["policy"] == "sync"
    # Production never deletes a record.
    assert _release(production, "external-dns").inputs["values"]["policy"] == "upsert-only"


def test_the_load_balancer_controller_runs_with_its_published_policy(staging):
    release = _release(staging, "aws-load-balancer-controller")
    published = json.loads(
        (
            REPO / "infra/components/addons/aws-load-balancer-controller-iam-policy-v3.5.0.json"
        ).read_text()
    )
    assert _policy(staging, _sibling(staging, release, ROLE)) == published
    values = release.inputs["values"]
    assert values["clusterName"] == "stagecraft-staging"
    assert values["vpcId"] == staging.outputs["vpcId"]
    assert values["defaultSSLPolicy"] == "ELBSecurityPolicy-TLS13-1-2-Res-PQ-2025-09"
    # The ALB and its groups carry the environment's tags (cost allocation, the
    # deploy roles' fences).
    assert values["defaultTags"]["environment"] == "staging"


# --------------------------------------------------------------------------- #
# Ingress: one ALB per environment, HTTPS only
# --------------------------------------------------------------------------- #


def test_one_internet_facing_https_alb_per_environment(staging):
    params = staging.one(PARAMS)
    spec = params.inputs["spec"]
    assert params.inputs["metadata"]["name"] == "alb"
    assert spec["group"] == {"name": "stagecraft-staging"}
    assert spec["scheme"] == "internet-facing"
    assert spec["certificateArn"] == [staging.outputs["certificateArn"]]
    assert spec["sslRedirectPort"] == "443"
    assert spec["sslPolicy"] == "ELBSecurityPolicy-TLS13-1-2-Res-PQ-2025-09"
    assert {"key": "routing.http.drop_invalid_header_fields.enabled", "value": "true"} in (
        spec["loadBalancerAttributes"]
    )
    # Only namespaces labelled for the group may use the class.
    assert spec["namespaceSelector"] == {
        "matchLabels": {"stagecraft.io/ingress-group": "stagecraft-staging"}
    }
    (ingress_class,) = staging.of_type("kubernetes:networking.k8s.io/v1:IngressClass")
    assert ingress_class.inputs["spec"]["controller"] == "ingress.k8s.aws/alb"
    assert ingress_class.inputs["spec"]["parameters"]["name"] == "alb"


def test_production_alb_has_deletion_protection(production):
    spec = production.one(PARAMS).inputs["spec"]
    assert {"key": "deletion_protection.enabled", "value": "true"} in spec["loadBalancerAttributes"]


def test_the_application_namespace_is_reachable_from_the_alb_only(staging):
    namespace = next(
        r for r in staging.of_type("kubernetes:core/v1:Namespace")
        if r.inputs["metadata"]["name"] == "staging"
    )  # fmt: skip
    assert namespace.inputs["metadata"]["labels"]["stagecraft.io/ingress-group"] == (
        "stagecraft-staging"
    )
    policy = next(
        r for r in staging.of_type("kubernetes:networking.k8s.io/v1:NetworkPolicy")
        if r.inputs["metadata"]["name"] == "allow-load-balancer"
    )  # fmt: skip
    (rule,) = policy.inputs["spec"]["ingress"]
    sources = [peer["ipBlock"]["cidr"] for peer in rule["from"]]
    public = sorted(
        s.inputs["cidrBlock"]
        for s in staging.of_type("aws:ec2/subnet:Subnet")
        if "kubernetes.io/role/elb" in s.inputs["tags"]
    )
    assert sorted(sources) == public == staging.outputs["ingressSourceCidrs"]
    settings = next(
        r for r in staging.of_type("kubernetes:core/v1:ConfigMap")
        if r.inputs["metadata"]["name"] == "ingress"
    )  # fmt: skip
    assert settings.inputs["data"]["INGRESS_HOST"] == STAGING_DOMAIN
    assert settings.inputs["data"]["PUBLIC_URL"] == f"https://{STAGING_DOMAIN}"
    assert json.loads(settings.inputs["data"]["INGRESS_ANNOTATIONS"]) == {
        "alb.ingress.kubernetes.io/listen-ports": '[{"HTTP": 80}, {"HTTPS": 443}]',
        "alb.ingress.kubernetes.io/target-type": "ip",
    }


def test_a_preview_joins_stagings_alb_with_its_own_hostname(preview, staging):
    settings = next(
        r for r in preview.of_type("kubernetes:core/v1:ConfigMap")
        if r.inputs["metadata"]["name"] == "ingress"
    )  # fmt: skip
    assert settings.inputs["data"]["INGRESS_CLASS"] == "alb"
    assert settings.inputs["data"]["INGRESS_HOST"] == f"pr-42.{STAGING_DOMAIN}"
    assert preview.outputs["url"] == f"https://pr-42.{STAGING_DOMAIN}"
    namespace = next(
        r for r in preview.of_type("kubernetes:core/v1:Namespace")
        if r.inputs["metadata"]["name"] == "pr-42"
    )  # fmt: skip
    assert (
        namespace.inputs["metadata"]["labels"]["stagecraft.io/ingress-group"]
        == (staging.one(PARAMS).inputs["spec"]["group"]["name"])
    )
    # No load balancer, zone, certificate or chart of its own.
    for type_token in (PARAMS, ZONE, CERTIFICATE, RELEASE, RECORD):
        assert preview.of_type(type_token) == []


# --------------------------------------------------------------------------- #
# DNS and the certificate
# --------------------------------------------------------------------------- #


def test_the_zone_and_its_certificate_for_apex_and_wildcard(staging):
    zone = staging.one(ZONE)
    assert zone.inputs["name"] == STAGING_DOMAIN
    certificate = staging.one(CERTIFICATE)
    assert certificate.inputs["domainName"] == STAGING_DOMAIN
    assert certificate.inputs["subjectAlternativeNames"] == [f"*.{STAGING_DOMAIN}"]
    assert certificate.inputs["validationMethod"] == "DNS"
    assert certificate.inputs["keyAlgorithm"] == "RSA_2048"
    (record,) = staging.of_type(RECORD)  # no delegation without a parent zone id
    assert record.inputs["zoneId"] == zone.id
    assert record.inputs["type"] == "CNAME"
    assert record.inputs["name"].endswith(f".{STAGING_DOMAIN}.")
    (validation,) = staging.of_type("aws:acm/certificateValidation:CertificateValidation")
    assert validation.inputs["validationRecordFqdns"] == [record.inputs["name"].rstrip(".")]
    assert len(staging.outputs["nameServers"]) == 4  # what to delegate to, by hand


def test_a_parent_zone_id_delegates_the_zone(scratch):
    edit_stack(scratch, "staging", **{"stagecraft:parentZoneId": "Z0123456789ABCDEFGHIJ"})
    plan = evaluate("staging", project_dir=scratch)
    (delegation,) = [r for r in plan.of_type(RECORD) if r.inputs["type"] == "NS"]
    assert delegation.inputs["zoneId"] == "Z0123456789ABCDEFGHIJ"
    assert delegation.inputs["name"] == STAGING_DOMAIN
    assert delegation.inputs["records"] == plan.outputs["nameServers"]


def test_the_zone_is_protected_in_production(production):
    assert production.one(ZONE).protect


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"domain": "Staging.Example.com"},
         'stagecraft:domain = "Staging.Example.com": must be a lowercase DNS name'),
        ({"domain": "localhost"}, "must be a DNS name of two or more labels"),
        ({"domain": "-bad.example.com"}, "must be a DNS name of two or more labels"),
        ({"domain": "staging.example.com."}, "without a trailing dot"),
        ({"domain": "a." * 110 + "com"}, "at most 219, so that every pr-<n> and dev-<name>"),
        ({"parentZoneId": "/hostedzone/Z0123"}, "must be a Route 53 hosted zone id"),
        ({"domain": ""},
         "stagecraft:domain = \"\": is required while loadBalancerController is true"),
        ({"ingressTlsPolicy": "ELBSecurityPolicy-2016-08"},
         "must be an ALB policy that refuses TLS 1.0 and 1.1"),
        ({"autoscalerScaleDownUnneededTime": "ten minutes"}, "must be a duration such as"),
        ({"autoscalerScaleDownUtilizationPercent": 100}, "must be at most 99"),
    ],
)  # fmt: skip
def test_bad_add_on_settings_are_one_clear_error(project, overrides, message):
    with pytest.raises(ConfigError) as caught:
        stack_config(project, "staging", **overrides)
    assert any(message in str(p) for p in caught.value.problems), caught.value.problems


@pytest.mark.parametrize(
    ("key", "value", "rule"),
    [
        ("externalDnsPolicy", "sync", "must be 'upsert-only' in production"),
        ("ingressDeletionProtection", False, "must be true in production (Security Hub ELB.6)"),
        ("clusterAutoscaler", False, "must be true in production"),
    ],
)
def test_production_refuses_weaker_add_ons(project, key, value, rule):
    with pytest.raises(ConfigError) as caught:
        stack_config(project, "production", **{key: value})
    assert any(rule in str(p) for p in caught.value.problems), caught.value.problems


def test_two_environments_never_share_a_domain(scratch, capsys):
    edit_stack(scratch, "sandbox", **{"stagecraft:domain": shipped_value("stagecraft:domain")})
    assert main(["--project-dir", str(scratch), "validate"]) == 1
    err = capsys.readouterr().err
    assert "sandbox: stagecraft:domain" in err or "staging: stagecraft:domain" in err
    assert "domain too; two public zones of one name" in err


def test_the_charts_module_is_the_only_place_versions_live():
    # Every component takes its version from infra/charts.py: no literal
    # chart version anywhere else in the program.
    pins = {p.version for p in [METRICS_SERVER, AWS_LOAD_BALANCER_CONTROLLER, EXTERNAL_DNS]}
    pins |= {p.version for p in CLUSTER_AUTOSCALER.values()}
    for path in Path(REPO / "infra").rglob("*.py"):
        if path.name == "charts.py":
            continue
        text = path.read_text()
        for version in pins:
            assert f'"{version}"' not in text, (path, version)


def test_an_environment_inside_anothers_domain_is_refused(scratch, capsys):
    production = shipped_value("stagecraft:domain", "production")
    edit_stack(scratch, "sandbox", **{"stagecraft:domain": f"sandbox.{production}"})
    assert main(["--project-dir", str(scratch), "validate"]) == 1
    assert (
        f'sandbox: stagecraft:domain = "sandbox.{production}": lies inside production\'s domain '
        f"{production}"
    ) in capsys.readouterr().err


def test_a_small_stack_needs_its_shared_stacks_ingress(scratch, capsys):
    assert main(["--project-dir", str(scratch), "env", "create", "pr-5"]) == 0
    # No ALB: nothing for the health check to reach either.
    edit_stack(scratch, "staging", **{"stagecraft:loadBalancerController": False,
                                      "stagecraft:healthCheckPath": ""})  # fmt: skip
    capsys.readouterr()
    assert main(["--project-dir", str(scratch), "validate"]) == 1
    assert (
        "pr-5: stagecraft:sharedStack = \"organization/stagecraft/staging\": 'staging' serves no "
        "ingress"
    ) in capsys.readouterr().err


def test_the_controller_honours_only_the_class_and_changes_only_its_vpc(staging):
    values = _release(staging, "aws-load-balancer-controller").inputs["values"]
    assert values["disableIngressClassAnnotation"] is True
    assert values["disableIngressGroupNameAnnotation"] is True
    role = _sibling(staging, _release(staging, "aws-load-balancer-controller"), ROLE)
    (scope,) = [
        json.loads(p.inputs["policy"])
        for p in staging.of_type(ROLE_POLICY)
        if p.inputs["role"] == role.id and p.name.endswith("own-vpc-only")
    ]
    vpc = f"arn:aws:ec2:us-east-1:{ACCOUNT}:vpc/{staging.outputs['vpcId']}"
    other = f"arn:aws:ec2:us-east-1:{ACCOUNT}:vpc/vpc-0production"
    group = f"arn:aws:ec2:us-east-1:{ACCOUNT}:security-group/sg-1"
    action = "ec2:AuthorizeSecurityGroupIngress"
    assert decide(scope, action, group, {"ec2:Vpc": other}) == "denied"
    assert decide(scope, action, group, {"ec2:Vpc": vpc}) == "implicitly denied"  # no deny


def test_external_dns_owns_the_apex_with_records_inside_the_zone(staging):
    assert _release(staging, "external-dns").inputs["values"]["txtPrefix"] == (
        "_extdns-%{record_type}."
    )


CHART_KEYS = json.loads((REPO / "tests/fixtures/chart-values-keys.json").read_text())["charts"]


def _value_paths(values: Any, prefix: str = "") -> list[str]:
    paths = []
    for key, value in values.items():
        path = f"{prefix}{key}"
        paths.append(path)
        if isinstance(value, dict):
            paths += _value_paths(value, f"{path}.")
    return paths


def test_every_value_set_is_one_the_pinned_chart_has(plans):
    """A misspelled or moved key is silently ignored by Helm: check each against the
    chart's own values.yaml at the pinned version (key paths in tests/fixtures)."""
    for plan in plans.values():
        for release in plan.of_type(RELEASE):
            chart = f"{release.inputs['chart']}@{release.inputs['version']}"
            known = CHART_KEYS[chart]
            # Keys the values.yaml documents in comments only count too.
            keys = set(known["keys"]) | set(known.get("documented", []))
            free = known["freeForm"]
            for path in _value_paths(release.inputs["values"]):
                inside_free_form = any(path.startswith(f"{f}.") for f in free)
                assert path in keys or inside_free_form, (plan.stack, chart, path)


def test_a_developers_stack_joins_devs_alb(tmp_path_factory):
    root = scratch_copy(load_project(REPO), tmp_path_factory.mktemp("dev")).directory
    assert main(["--project-dir", str(root), "env", "create", "dev-alice"]) == 0
    plan = evaluate("dev-alice", project_dir=root / "ephemeral")
    dev_domain = shipped_value("stagecraft:domain", "dev")
    assert plan.outputs["url"] == f"https://dev-alice.{dev_domain}"
    namespace = next(
        r for r in plan.of_type("kubernetes:core/v1:Namespace")
        if r.inputs["metadata"]["name"] == "dev-alice"
    )  # fmt: skip
    assert namespace.inputs["metadata"]["labels"]["stagecraft.io/ingress-group"] == "stagecraft-dev"
