"""Cluster: EKS control plane, node group, IRSA and access entries."""

from __future__ import annotations

import json

import pytest

from tests.conftest import edit_stack

CLUSTER = "aws:eks/cluster:Cluster"
NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"
ASSOCIATION = "aws:eks/accessPolicyAssociation:AccessPolicyAssociation"


def test_control_plane_version_endpoints_logging_and_encryption(production):
    cluster = production.one(CLUSTER)
    assert cluster.inputs["name"] == "stagecraft-production"
    assert cluster.inputs["version"] == "1.34"
    vpc = cluster.inputs["vpcConfig"]
    assert vpc["endpointPrivateAccess"] is True
    assert vpc["endpointPublicAccess"] is False
    assert vpc.get("publicAccessCidrs") is None
    assert cluster.inputs["enabledClusterLogTypes"] == ["api", "audit", "authenticator"]
    encryption = cluster.inputs["encryptionConfig"]
    assert encryption["resources"] == ["secrets"]
    assert encryption["provider"]["keyArn"].startswith("arn:aws:kms:us-east-1:123456789012:key/")


def test_public_endpoint_only_from_listed_cidrs(staging):
    vpc = staging.one(CLUSTER).inputs["vpcConfig"]
    assert vpc["endpointPublicAccess"] is True
    assert vpc["publicAccessCidrs"] == ["198.51.100.0/24"]


@pytest.mark.parametrize(("stack", "days"), [("dev", 3), ("staging", 7), ("production", 30)])
def test_control_plane_logs_kept_for_the_env_retention(plans, stack, days):
    plan = plans[stack]
    cluster = plan.one(CLUSTER)
    group = next(
        g
        for g in plan.of_type("aws:cloudwatch/logGroup:LogGroup")
        if g.inputs["name"] == f"/aws/eks/stagecraft-{stack}/cluster"
    )
    assert group.inputs["retentionInDays"] == days
    assert group.urn in cluster.dependencies  # exists before EKS would create it


@pytest.mark.parametrize(
    ("stack", "instance", "scaling"),
    [
        ("dev", "t3.medium", {"minSize": 1, "maxSize": 3, "desiredSize": 1}),
        ("staging", "m5.large", {"minSize": 2, "maxSize": 5, "desiredSize": 2}),
        ("production", "m5.large", {"minSize": 3, "maxSize": 10, "desiredSize": 3}),
    ],
)
def test_node_group_sized_from_config(plans, stack, instance, scaling):
    group = plans[stack].one(NODE_GROUP)
    assert group.inputs["instanceTypes"] == [instance]
    assert group.inputs["scalingConfig"] == scaling
    assert group.inputs["amiType"] == "AL2023_x86_64_STANDARD"


def test_autoscaler_owns_the_desired_size(plans):
    for plan in plans.values():
        assert plan.one(NODE_GROUP).ignore_changes == ["scalingConfig.desiredSize"]


def test_nodes_run_in_private_subnets_only(production):
    group = production.one(NODE_GROUP)
    private = {s.urn for s in production.of_type("aws:ec2/subnet:Subnet") if "private" in s.name}
    public = {s.urn for s in production.of_type("aws:ec2/subnet:Subnet") if "public" in s.name}
    assert private <= set(group.dependencies)
    assert not public & set(group.dependencies)
    assert len(group.inputs["subnetIds"]) == 3


def test_oidc_provider_for_irsa_trusts_the_cluster_issuer(production):
    oidc = production.one("aws:iam/openIdConnectProvider:OpenIdConnectProvider")
    assert oidc.inputs["clientIdLists"] == ["sts.amazonaws.com"]
    assert oidc.inputs["url"].startswith("https://oidc.eks.us-east-1.amazonaws.com/id/")
    assert production.outputs["oidcProviderArn"].startswith(
        "arn:aws:iam::123456789012:oidc-provider/oidc.eks.us-east-1.amazonaws.com/id/"
    )


def _policies(plan):
    return {
        a.inputs["principalArn"].rsplit("/", 1)[-1]: a.inputs["policyArn"].rsplit("/", 1)[-1]
        for a in plan.of_type(ASSOCIATION)
    }


def test_developers_are_read_only_in_production(production, staging):
    assert _policies(production) == {
        "platform-admin": "AmazonEKSClusterAdminPolicy",
        "developer": "AmazonEKSViewPolicy",
    }
    assert _policies(staging)["developer"] == "AmazonEKSEditPolicy"
    for association in production.of_type(ASSOCIATION):
        assert association.inputs["accessScope"] == {"type": "cluster"}
        assert association.inputs["policyArn"].startswith("arn:aws:eks::aws:cluster-access-policy/")


def test_api_authentication_with_access_entries(production):
    access = production.one(CLUSTER).inputs["accessConfig"]
    assert access == {"authenticationMode": "API", "bootstrapClusterCreatorAdminPermissions": True}
    entries = production.of_type("aws:eks/accessEntry:AccessEntry")
    assert {e.inputs["type"] for e in entries} == {"STANDARD"}
    assert len(entries) == 2


def test_node_role_has_exactly_the_worker_policies(production):
    attached = {
        a.inputs["policyArn"].rsplit("/", 1)[-1]
        for a in production.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment")
        if "-nodes-" in a.name
    }
    assert attached == {
        "AmazonEKSWorkerNodePolicy",
        "AmazonEKS_CNI_Policy",
        "AmazonEC2ContainerRegistryReadOnly",
    }


def test_cluster_protected_only_where_config_says(production, staging):
    assert production.one(CLUSTER).protect is True
    assert staging.one(CLUSTER).protect is False


def test_network_policies_are_enforced_by_the_vpc_cni(plans):
    for plan in plans.values():
        addon = plan.one("aws:eks/addon:Addon")
        assert addon.inputs["addonName"] == "vpc-cni"
        assert json.loads(addon.inputs["configurationValues"]) == {"enableNetworkPolicy": "true"}
        provider = plan.one("pulumi:providers:kubernetes")
        assert addon.urn in provider.dependencies
        assert plan.one(NODE_GROUP).urn in provider.dependencies


def test_private_endpoint_reachable_from_listed_operator_networks(production, staging):
    rules = [
        r
        for r in production.of_type("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule")
        if "-api-from-" in r.name
    ]
    assert [(r.inputs["cidrIpv4"], r.inputs["fromPort"], r.inputs["toPort"]) for r in rules] == [
        ("10.200.0.0/16", 443, 443)
    ]
    assert rules[0].inputs["securityGroupId"].startswith("sg-")
    assert production.one(CLUSTER).urn in rules[0].dependencies
    assert not [
        r
        for r in staging.of_type("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule")
        if "-api-from-" in r.name
    ]


def test_same_role_name_in_two_paths_gets_two_access_entries(scratch):
    from stagecraft.offline.engine import evaluate

    edit_stack(
        scratch,
        "staging",
        **{
            "stagecraft:clusterAdminRoleArns": [
                "arn:aws:iam::123456789012:role/platform-admin",
                "arn:aws:iam::123456789012:role/ops/platform-admin",
            ]
        },
    )
    plan = evaluate("staging", project_dir=scratch)
    admins = [
        a.inputs["principalArn"]
        for a in plan.of_type(ASSOCIATION)
        if a.inputs["policyArn"].endswith("AmazonEKSClusterAdminPolicy")
    ]
    assert sorted(admins) == [
        "arn:aws:iam::123456789012:role/ops/platform-admin",
        "arn:aws:iam::123456789012:role/platform-admin",
    ]
