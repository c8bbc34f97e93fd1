"""Cluster: EKS control plane, node group, IRSA and access entries."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
import yaml

from stagecraft.offline.engine import Plan, PlannedResource
from tests.conftest import ACCOUNT, REPO, edit_stack, environment_key, shipped_value, stack_config

CLUSTER = "aws:eks/cluster:Cluster"
NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"


def general_nodes(plan: Plan) -> PlannedResource:
    """The on-demand node group every stack has (staging also has a Spot one)."""
    (group,) = [g for g in plan.of_type(NODE_GROUP) if g.inputs["capacityType"] == "ON_DEMAND"]
    return group


ASSOCIATION = "aws:eks/accessPolicyAssociation:AccessPolicyAssociation"
ENTRY = "aws:eks/accessEntry:AccessEntry"
ROLE_BINDING = "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding"


def test_control_plane_version_endpoints_logging_and_encryption(production):
    cluster = production.one(CLUSTER)
    assert cluster.inputs["name"] == "stagecraft-production"
    assert cluster.inputs["version"] == "1.34"
    vpc = cluster.inputs["vpcConfig"]
    assert vpc["endpointPrivateAccess"] is True
    assert vpc["endpointPublicAccess"] is False
    assert vpc.get("publicAccessCidrs") is None
    # Production logs all five (Security Hub EKS.8); the others what config says.
    assert cluster.inputs["enabledClusterLogTypes"] == [
        "api",
        "audit",
        "authenticator",
        "controllerManager",
        "scheduler",
    ]
    encryption = cluster.inputs["encryptionConfig"]
    assert encryption["resources"] == ["secrets"]
    assert encryption["provider"]["keyArn"].startswith(f"arn:aws:kms:us-east-1:{ACCOUNT}:key/")


def test_public_endpoint_only_from_listed_cidrs(staging):
    vpc = staging.one(CLUSTER).inputs["vpcConfig"]
    assert vpc["endpointPublicAccess"] is True
    assert vpc["publicAccessCidrs"] == shipped_value("stagecraft:clusterPublicAccessCidrs")


def test_other_stacks_log_what_config_lists(staging):
    assert staging.one(CLUSTER).inputs["enabledClusterLogTypes"] == [
        "api",
        "audit",
        "authenticator",
    ]


# Control-plane logs are audit trail: auditLogRetentionDays, not logRetentionDays.
@pytest.mark.parametrize(("stack", "days"), [("dev", 14), ("staging", 90), ("production", 365)])
def test_control_plane_logs_kept_for_the_audit_retention(plans, stack, days):
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
        ("production", "m5.large", {"minSize": 3, "maxSize": 9, "desiredSize": 3}),
    ],
)
def test_node_group_sized_from_config(plans, stack, instance, scaling):
    group = general_nodes(plans[stack])
    assert group.inputs["instanceTypes"] == [instance]
    assert group.inputs["scalingConfig"] == scaling
    assert group.inputs["amiType"] == "AL2023_x86_64_STANDARD"


def test_autoscaler_owns_the_desired_size(plans):
    for plan in plans.values():
        for group in plan.of_type(NODE_GROUP):
            assert group.ignore_changes == ["scalingConfig.desiredSize"]


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
        f"arn:aws:iam::{ACCOUNT}:oidc-provider/oidc.eks.us-east-1.amazonaws.com/id/"
    )


def _from_the_stack_file(association: PlannedResource) -> bool:
    """Granted to a role the cluster keys list, not to an audience role (tests/test_access.py)."""
    return not re.fullmatch(
        r"arn:aws:iam::\d{12}:role/stagecraft-[a-z0-9-]+-(developers|qa|oncall)",
        association.inputs["principalArn"],
    )


def _policies(plan):
    return {
        a.inputs["principalArn"].rsplit("/", 1)[-1]: a.inputs["policyArn"].rsplit("/", 1)[-1]
        for a in plan.of_type(ASSOCIATION)
        if _from_the_stack_file(a)
    }


def _expected_policies(stack: str) -> dict[str, str]:
    """Each role the stack file lists, with the access policy its level means."""
    levels = {
        "stagecraft:clusterAdminRoleArns": "AmazonEKSClusterAdminPolicy",
        "stagecraft:clusterReadOnlyRoleArns": "AmazonEKSViewPolicy",
        "stagecraft:clusterDeveloperRoleArns": "AmazonEKSViewPolicy",
        "stagecraft:clusterSmallStackDeployerRoleArns": "AmazonEKSAdminPolicy",
    }
    config = yaml.safe_load((REPO / f"Pulumi.{stack}.yaml").read_text())["config"]
    return {
        arn.rsplit("/", 1)[-1]: policy
        for key, policy in levels.items()
        for arn in config.get(key) or []
    }


def test_developers_read_cluster_wide_and_never_hold_cluster_scoped_edit(production, staging):
    assert _policies(production) == _expected_policies("production")
    assert _policies(staging) == _expected_policies("staging")
    # The CI roles at the levels their workflows need.
    assert _policies(production)["stagecraft-ci-deploy-production"] == (
        "AmazonEKSClusterAdminPolicy"
    )
    assert _policies(production)["stagecraft-ci-plan-production"] == "AmazonEKSViewPolicy"
    assert _policies(staging)["stagecraft-ci-preview"] == "AmazonEKSViewPolicy"
    assert _policies(staging)["stagecraft-ci-preview-environments"] == "AmazonEKSAdminPolicy"
    for plan in (production, staging):
        for association in filter(_from_the_stack_file, plan.of_type(ASSOCIATION)):
            if association.inputs["principalArn"].endswith("preview-environments"):
                continue  # namespace-scoped: test_the_preview_deployer_role_...
            assert association.inputs["accessScope"] == {"type": "cluster"}
            assert association.inputs["policyArn"].startswith(
                "arn:aws:eks::aws:cluster-access-policy/"
            )
    (developer_arn,) = shipped_value("stagecraft:clusterDeveloperRoleArns")
    developer = next(e for e in staging.of_type(ENTRY) if e.inputs["principalArn"] == developer_arn)
    assert developer.inputs["kubernetesGroups"] == ["stagecraft-developers"]


def test_edit_is_granted_in_the_environment_namespace_only(staging, production):
    # (The External Secrets Operator's token RoleBinding aside.)
    (binding,) = [
        b for b in staging.of_type(ROLE_BINDING) if b.inputs["roleRef"]["kind"] == "ClusterRole"
    ]
    assert binding.inputs["metadata"]["namespace"] == "staging"
    assert binding.inputs["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "ClusterRole",
        "name": "edit",
    }
    assert binding.inputs["subjects"] == [
        {"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "stagecraft-developers"}
    ]
    # View only there: nothing binds a ClusterRole in production's namespace.
    assert [
        b for b in production.of_type(ROLE_BINDING) if b.inputs["roleRef"]["kind"] == "ClusterRole"
    ] == []
    # The only cluster-wide binding is the small-stack deployers' (below).
    (cluster_binding,) = staging.of_type(
        "kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding"
    )
    assert cluster_binding.inputs["subjects"][0]["name"] == "stagecraft-small-stack-deployers"
    assert production.of_type("kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding") == []


def test_admins_are_listed_never_implied_by_who_created_the_cluster(production):
    access = production.one(CLUSTER).inputs["accessConfig"]
    # The creator's implicit entry is off: with it, listing the creator as an
    # admin too fails with 409 (the entry exists already).
    assert access == {"authenticationMode": "API", "bootstrapClusterCreatorAdminPermissions": False}
    entries = production.of_type(ENTRY)
    assert {e.inputs["type"] for e in entries} == {"STANDARD"}
    # platform-admin, the deploy workflow's role, its plan role, developers;
    # and the audience roles (developers, on-call: tests/test_access.py)
    assert len(entries) == 4 + 2
    # The first Kubernetes object waits for the admins' access.
    provider = production.one("pulumi:providers:kubernetes")
    listed = filter(_from_the_stack_file, production.of_type(ASSOCIATION))
    assert {r.urn for r in listed} <= set(provider.dependencies)


def test_pulumi_up_by_an_unlisted_role_is_refused_before_anything_is_created(scratch):
    from infra.config import ConfigError
    from stagecraft.offline.engine import evaluate

    # The offline identity is the placeholder account's platform-admin; drop it.
    edit_stack(
        scratch,
        "staging",
        **{"stagecraft:clusterAdminRoleArns": [f"arn:aws:iam::{ACCOUNT}:role/someone-else"]},
    )
    evaluate("staging", project_dir=scratch)  # a preview does not check who runs it
    with pytest.raises(ConfigError) as caught:
        evaluate("staging", project_dir=scratch, dry_run=False)
    assert [str(p) for p in caught.value.problems] == [
        f'stagecraft:clusterAdminRoleArns = ["arn:aws:iam::{ACCOUNT}:role/someone-else"]: '
        "must list the role running `pulumi up` "
        f"(arn:aws:iam::{ACCOUNT}:role/platform-admin): only listed roles can reach the "
        "cluster, and this run creates Kubernetes objects in it"
    ]


def test_nodes_follow_the_control_plane_version(production):
    cluster, group = production.one(CLUSTER), production.one(NODE_GROUP)
    # The cluster's version *output*: after the control plane, in the same update.
    assert group.inputs["version"] == "1.34"
    assert cluster.urn in group.dependencies


def _cni(plan: Any) -> Any:
    (addon,) = [
        a for a in plan.of_type("aws:eks/addon:Addon") if a.inputs["addonName"] == "vpc-cni"
    ]
    return addon


def test_the_cni_add_on_is_eks_default_for_the_cluster_version(production, scratch):
    from stagecraft.offline.engine import evaluate

    addon = _cni(production)
    assert addon.inputs["addonVersion"] == "v1.20.4-eksbuild.1"
    assert production.one(CLUSTER).urn in addon.dependencies
    edit_stack(scratch, "production", **{"stagecraft:kubernetesVersion": "1.35"})
    upgraded = evaluate("production", project_dir=scratch)
    assert _cni(upgraded).inputs["addonVersion"] == "v1.21.1-eksbuild.1"
    assert upgraded.one(NODE_GROUP).inputs["version"] == "1.35"


def test_node_root_volumes_are_encrypted_with_the_environment_key(production):
    template = production.one("aws:ec2/launchTemplate:LaunchTemplate")
    (root,) = template.inputs["blockDeviceMappings"]
    assert root["deviceName"] == "/dev/xvda"
    assert root["ebs"]["encrypted"] == "true"
    assert root["ebs"]["kmsKeyId"].startswith(f"arn:aws:kms:us-east-1:{ACCOUNT}:key/")
    assert root["ebs"]["volumeType"] == "gp3"
    assert root["ebs"]["volumeSize"] == 100
    assert template.inputs["metadataOptions"]["httpTokens"] == "required"
    assert template.inputs["metadataOptions"]["httpPutResponseHopLimit"] == 1
    group = production.one(NODE_GROUP)
    assert template.urn in group.dependencies
    assert "diskSize" not in group.inputs  # a launch template excludes it


def test_the_key_lets_auto_scaling_create_the_node_volumes(production):
    key = environment_key(production)
    statements = {s["Sid"]: s for s in json.loads(key.inputs["policy"])["Statement"]}
    role = (
        f"arn:aws:iam::{ACCOUNT}:role/aws-service-role/autoscaling.amazonaws.com/"
        "AWSServiceRoleForAutoScaling"
    )
    assert statements["AutoScalingEncryptsNodeVolumes"]["Principal"] == {"AWS": role}
    grants = statements["AutoScalingAttachesNodeVolumes"]
    assert grants["Action"] == "kms:CreateGrant"
    assert grants["Condition"] == {"Bool": {"kms:GrantIsForAWSResource": "true"}}


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
        addon = _cni(plan)
        assert json.loads(addon.inputs["configurationValues"]) == {"enableNetworkPolicy": "true"}
        provider = plan.one("pulumi:providers:kubernetes")
        assert addon.urn in provider.dependencies
        assert general_nodes(plan).urn in provider.dependencies


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
                f"arn:aws:iam::{ACCOUNT}:role/platform-admin",
                f"arn:aws:iam::{ACCOUNT}:role/ops/platform-admin",
            ]
        },
    )
    plan = evaluate("staging", project_dir=scratch)
    admins = [
        a.inputs["principalArn"]
        for a in filter(_from_the_stack_file, plan.of_type(ASSOCIATION))
        if a.inputs["policyArn"].endswith("AmazonEKSClusterAdminPolicy")
    ]
    assert sorted(admins) == [
        f"arn:aws:iam::{ACCOUNT}:role/ops/platform-admin",
        f"arn:aws:iam::{ACCOUNT}:role/platform-admin",
    ]


def test_the_pull_request_preview_role_only_reads(staging, dev):
    for plan in (staging, dev):
        (entry,) = [
            e
            for e in plan.of_type(ENTRY)
            if e.inputs["principalArn"].endswith("/stagecraft-ci-preview")
        ]
        assert not entry.inputs.get("kubernetesGroups")
        (association,) = [
            a
            for a in plan.of_type(ASSOCIATION)
            if a.inputs["principalArn"].endswith("/stagecraft-ci-preview")
        ]
        assert association.inputs["policyArn"].endswith("/AmazonEKSViewPolicy")


def test_the_preview_deployer_role_administers_pr_namespaces_only(staging):
    (association,) = [
        a for a in staging.of_type(ASSOCIATION) if a.inputs["principalArn"].endswith("environments")
    ]
    assert association.inputs["policyArn"].endswith("/AmazonEKSAdminPolicy")
    assert association.inputs["accessScope"] == {"type": "namespace", "namespaces": ["pr-*"]}
    (entry,) = [
        e for e in staging.of_type(ENTRY) if e.inputs["principalArn"].endswith("environments")
    ]
    assert entry.inputs["kubernetesGroups"] == ["stagecraft-small-stack-deployers"]


def test_only_a_cluster_that_hosts_small_stacks_takes_their_deployers(project):
    from infra.config import ConfigError

    with pytest.raises(ConfigError) as caught:
        stack_config(
            project,
            "production",
            clusterSmallStackDeployerRoleArns=[f"arn:aws:iam::{ACCOUNT}:role/ci"],
        )
    assert [str(p) for p in caught.value.problems] == [
        f'stagecraft:clusterSmallStackDeployerRoleArns = ["arn:aws:iam::{ACCOUNT}:role/ci"]: '
        "'production' hosts no pr-<n> or dev-<name> stacks (staging hosts pr-<n>, dev hosts "
        "dev-<name>); remove it"
    ]
