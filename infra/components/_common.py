"""Small pieces every component shares."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from infra.aws_types import ROLE, ROLE_POLICY, SECURITY_GROUP, physical_name

# Components register as `stagecraft:index:<Name>` so the type is never confused
# with a provider's type in previews, policies or state.
TYPE_PREFIX = "stagecraft:index"


def type_token(name: str) -> str:
    return f"{TYPE_PREFIX}:{name}"


def child(parent: pulumi.Resource, **options: Any) -> pulumi.ResourceOptions:
    """Options for a resource owned by ``parent`` (inherits its providers)."""
    return pulumi.ResourceOptions(parent=parent, **options)


def assume_role_policy(
    service: str, *, source_account: str | None = None, source_arn: str | None = None
) -> str:
    """Trust policy letting one AWS service principal assume a role.

    ``source_account`` limits it to requests made on behalf of that account,
    ``source_arn`` to those of one resource (the confused-deputy guards AWS
    recommends where the service sends them).
    """
    statement: dict[str, object] = {
        "Effect": "Allow",
        "Principal": {"Service": service},
        "Action": "sts:AssumeRole",
    }
    conditions = {
        key: value
        for key, value in (("aws:SourceAccount", source_account), ("aws:SourceArn", source_arn))
        if value is not None
    }
    if conditions:
        statement["Condition"] = {"StringEquals": conditions}
    return json.dumps({"Version": "2012-10-17", "Statement": [statement]})


def service_role(
    parent: pulumi.Resource,
    name: str,
    *,
    service: str,
    description: str,
    policy: pulumi.Input[str],
    boundary_arn: pulumi.Input[str] | None,
    source_account: pulumi.Input[str] | None = None,
    source_arn: str | None = None,
) -> tuple[aws.iam.Role, aws.iam.RolePolicy]:
    """A role ``service`` assumes (for ``source_account``'s or ``source_arn``'s
    requests only, where given), with ``policy`` inline and the environment's
    permissions boundary.

    Returns the policy too: what the service checks on first use waits for it.
    """
    role = aws.iam.Role(
        name,
        name=physical_name(ROLE, name),
        assume_role_policy=pulumi.Output.from_input(source_account).apply(
            lambda account: assume_role_policy(
                service, source_account=account, source_arn=source_arn
            )
        ),
        description=description,
        permissions_boundary=boundary_arn,
        opts=child(parent),
    )
    inline = aws.iam.RolePolicy(
        name,
        name=physical_name(ROLE_POLICY, name),
        role=role.id,
        policy=policy,
        opts=child(parent),
    )
    return role, inline


def managed_policy_arn(partition: pulumi.Input[str], name: str) -> pulumi.Output[str]:
    return pulumi.Output.concat("arn:", partition, ":iam::aws:policy/", name)


def attach_policies(
    parent: pulumi.Resource,
    role: aws.iam.Role,
    name_prefix: str,
    partition: pulumi.Input[str],
    policy_names: Sequence[str],
) -> list[aws.iam.RolePolicyAttachment]:
    """Attach AWS-managed policies to ``role``, one child resource each."""
    return [
        aws.iam.RolePolicyAttachment(
            f"{name_prefix}-{policy.split('/')[-1]}",
            role=role.name,
            policy_arn=managed_policy_arn(partition, policy),
            opts=child(parent),
        )
        for policy in policy_names
    ]


def name_tag(name: str, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The Name tag the EC2 console shows, plus any resource-specific tags.

    Environment-wide tags come from the provider's default tags, not from here.
    """
    return {"Name": name, **(extra or {})}


def nodes_only_security_group(
    parent: pulumi.Resource,
    name: str,
    *,
    vpc_id: pulumi.Input[str],
    node_security_group_id: pulumi.Input[str],
    port: int,
    service: str,
) -> aws.ec2.SecurityGroup:
    """A security group whose only way in is ``port`` from the cluster's nodes.

    No CIDR rule exists at all, so nothing outside the cluster (not even the
    rest of the VPC) can reach the data store.
    """
    group = aws.ec2.SecurityGroup(
        name,
        name=physical_name(SECURITY_GROUP, name),
        vpc_id=vpc_id,
        description=f"{service}: EKS cluster nodes only",
        opts=child(parent),
    )
    aws.vpc.SecurityGroupIngressRule(
        f"{name}-from-nodes",
        security_group_id=group.id,
        referenced_security_group_id=node_security_group_id,
        ip_protocol="tcp",
        from_port=port,
        to_port=port,
        description=f"{service} from the EKS nodes",
        opts=child(parent),
    )
    return group


def encrypted_log_group(
    parent: pulumi.Resource,
    name: str,
    *,
    log_group_name: str,
    retention_days: int,
    kms_key_arn: pulumi.Input[str],
    retain_on_delete: bool = False,
) -> aws.cloudwatch.LogGroup:
    """A log group with the environment's retention and KMS key.

    ``retain_on_delete``: for the logs of a resource Pulumi itself only lets
    go of (a protected database replaced by a restore keeps running, and
    logging, until an operator deletes it).

    Services (EKS, RDS) that create their log group on first write create it
    with retention "never" and no key; creating it first under the exact name
    they will use is the only way to set both.

    They also write their last logs *while being deleted*, after `pulumi
    destroy` removed this group, and so re-create it behind our back; a
    later `pulumi up` under the same names would then fail with
    ResourceAlreadyExistsException.  So the group is adopted when it already
    exists: `import` of a group this stack manages is a no-op, and of a
    stray one takes it over and sets its retention and key.
    """
    existing = aws.cloudwatch.get_log_groups(
        log_group_name_prefix=log_group_name, opts=pulumi.InvokeOptions(parent=parent)
    )
    adopt = log_group_name in (existing.log_group_names or [])
    return aws.cloudwatch.LogGroup(
        name,
        name=log_group_name,
        retention_in_days=retention_days,
        kms_key_id=kms_key_arn,
        opts=child(
            parent,
            import_=log_group_name if adopt else None,
            retain_on_delete=retain_on_delete or None,
        ),
    )


def denying_admission_policy(
    parent: pulumi.Resource,
    name: str,
    *,
    policy_name: str,
    labels: Mapping[str, str],
    spec: k8s.admissionregistration.v1.ValidatingAdmissionPolicySpecArgs,
    provider: k8s.Provider | None = None,
    depends_on: Sequence[pulumi.Resource] = (),
) -> k8s.admissionregistration.v1.ValidatingAdmissionPolicyBinding:
    """A ValidatingAdmissionPolicy and the binding that makes it deny (bound after it).

    Returns the binding: what must exist before the rights the policy guards.
    """
    metadata = k8s.meta.v1.ObjectMetaArgs(name=policy_name, labels=dict(labels))
    policy = k8s.admissionregistration.v1.ValidatingAdmissionPolicy(
        f"{name}-policy",
        metadata=metadata,
        spec=spec,
        opts=child(parent, provider=provider, depends_on=list(depends_on)),
    )
    return k8s.admissionregistration.v1.ValidatingAdmissionPolicyBinding(
        f"{name}-policy-binding",
        metadata=metadata,
        spec=k8s.admissionregistration.v1.ValidatingAdmissionPolicyBindingSpecArgs(
            policy_name=policy_name, validation_actions=["Deny"]
        ),
        opts=child(parent, provider=provider, depends_on=[policy]),
    )
