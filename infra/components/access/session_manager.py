"""SessionManager: shell and database access without SSH (README "Shell access").

A small instance in a private subnet, with no public address and a security
group without a single inbound rule, is reached only through AWS Systems
Manager Session Manager: its agent dials out (HTTPS through the NAT) and
relays what the person's `aws ssm start-session` sends. Two session documents
of this environment say what a session may be:

- ``<prefix>-shell`` (Standard_Stream): a shell whose every keystroke and
  output streams to a CloudWatch log group encrypted with the environment's
  key, the session itself encrypted with that key too, no Run As;
- ``<prefix>-data-stores`` (Port): port forwarding to this environment's
  database and cache endpoints only, on their ports only.

The account-wide default document `SSM-SessionManagerRunShell` is one per
account and region, and environments share accounts, so it is never relied
on: the policy a person's role gets (:func:`session_statements`) names only
this environment's documents and requires the document check
(`ssm:SessionDocumentAccessCheck`), so a session without `--document-name`
is refused rather than run with another environment's or AWS's defaults.
https://docs.aws.amazon.com/systems-manager/latest/userguide/getting-started-sessiondocumentaccesscheck.html
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import pulumi
import pulumi_aws as aws

from infra.aws_types import SECURITY_GROUP, physical_name
from infra.components._common import (
    attach_policies,
    child,
    encrypted_log_group,
    name_tag,
    service_role,
    type_token,
)
from infra.config import ShellAccessSpec, architecture_of

# The latest Amazon Linux 2023 image per architecture, as AWS publishes it in
# SSM Parameter Store (public parameters; SSM Agent is preinstalled).
# https://docs.aws.amazon.com/linux/al2023/ug/ec2.html
AMI_PARAMETER = "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-{arch}"
# The AL2023 image's root snapshot is 8 GiB; a volume may not be smaller.
ROOT_VOLUME_GB = 8
# What the instance role needs for Session Manager itself (ssm, ssmmessages,
# ec2messages): https://docs.aws.amazon.com/systems-manager/latest/userguide/setup-instance-permissions.html
INSTANCE_CORE_POLICY = "AmazonSSMManagedInstanceCore"
HTTPS_PORT = 443

SessionKind = Literal["shell", "port-forwarding"]


@dataclass(frozen=True)
class SessionTarget:
    """What a person's policy names: one environment's bastion, documents and key."""

    partition: str
    region: str
    account_id: str
    instance_id: str
    shell_document: str
    port_forwarding_document: str
    key_arn: str

    def arn(self, service: str, resource: str) -> str:
        return f"arn:{self.partition}:{service}:{self.region}:{self.account_id}:{resource}"


def session_statements(kind: SessionKind, target: SessionTarget) -> list[dict[str, Any]]:
    """IAM statements letting a person's role open ``kind`` sessions on this bastion only.

    Per AWS's end-user policies for Session Manager:
    https://docs.aws.amazon.com/systems-manager/latest/userguide/getting-started-restrict-access-quickstart.html

    - ``ssm:StartSession`` on exactly this instance and exactly one of this
      environment's documents (``shell`` or ``port-forwarding``), with the
      document check on, so omitting ``--document-name`` (the account's
      default shell) is refused;
    - the data channel, resuming and ending only of the caller's own
      sessions (a session's id starts with the caller's ``aws:userid``);
    - for a shell, ``kms:GenerateDataKey`` on the environment's key, which
      encrypts the session's data end to end.
    """
    document = target.shell_document if kind == "shell" else target.port_forwarding_document
    own_sessions = target.arn("ssm", "session/${aws:userid}-*")
    statements: list[dict[str, Any]] = [
        {
            "Sid": "StartSessionOnTheBastion" if kind == "shell" else "ForwardToTheDataStores",
            "Effect": "Allow",
            "Action": "ssm:StartSession",
            "Resource": [
                target.arn("ec2", f"instance/{target.instance_id}"),
                target.arn("ssm", f"document/{document}"),
            ],
            "Condition": {"BoolIfExists": {"ssm:SessionDocumentAccessCheck": "true"}},
        },
        {
            "Sid": "OwnSessionsOnly",
            "Effect": "Allow",
            "Action": ["ssmmessages:OpenDataChannel", "ssm:ResumeSession", "ssm:TerminateSession"],
            "Resource": own_sessions,
        },
        {
            # An assumed role's (an SSO user's) session id does not start with its
            # aws:userid; Session Manager tags each session with its starter's
            # instead ("allow users to end only sessions they started", for
            # federated users, in AWS's Session Manager policy examples).
            "Sid": "OwnSessionsOfAssumedRoles",
            "Effect": "Allow",
            "Action": ["ssm:ResumeSession", "ssm:TerminateSession"],
            "Resource": target.arn("ssm", "session/*"),
            "Condition": {
                "StringLike": {"ssm:resourceTag/aws:ssmmessages:session-id": ["${aws:userid}"]}
            },
        },
        {
            # Reads that take no resource: the CLI's status checks.
            "Sid": "SessionStatus",
            "Effect": "Allow",
            "Action": ["ssm:DescribeSessions", "ssm:GetConnectionStatus"],
            "Resource": "*",
        },
    ]
    if kind == "shell":
        statements.append(
            {
                "Sid": "EncryptTheSession",
                "Effect": "Allow",
                "Action": "kms:GenerateDataKey",
                "Resource": target.key_arn,
            }
        )
    return statements


def session_policy(kinds: Sequence[SessionKind], target: SessionTarget) -> str:
    """:func:`session_statements` of each kind as one policy document (an inline role
    policy). One statement per Sid, as IAM requires: the kinds share their
    own-sessions statements."""
    statements = {
        statement["Sid"]: statement
        for kind in kinds
        for statement in session_statements(kind, target)
    }
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements.values())})


def shell_document(
    *, log_group: str, key_arn: str, idle_minutes: int, max_minutes: int
) -> dict[str, Any]:
    """The Standard_Stream preferences: logged, encrypted, no Run As, time-limited.

    https://docs.aws.amazon.com/systems-manager/latest/userguide/session-manager-schema.html
    """
    return {
        "schemaVersion": "1.0",
        "description": "Shell on the bastion: logged to CloudWatch (encrypted), KMS-encrypted",
        "sessionType": "Standard_Stream",
        "inputs": {
            "s3BucketName": "",
            "s3KeyPrefix": "",
            "s3EncryptionEnabled": True,
            "cloudWatchLogGroupName": log_group,
            # The agent refuses to log to a group without a KMS key.
            "cloudWatchEncryptionEnabled": True,
            # Streamed as typed: a session cut off still left its trail.
            "cloudWatchStreamingEnabled": True,
            "kmsKeyId": key_arn,
            "runAsEnabled": False,
            "runAsDefaultUser": "",
            "idleSessionTimeout": str(idle_minutes),
            "maxSessionDuration": str(max_minutes),
            "shellProfile": {"linux": "", "windows": ""},
        },
    }


def port_forwarding_document(hosts: Sequence[str], ports: Sequence[int]) -> dict[str, Any]:
    """A Port session to one of ``hosts`` on one of ``ports``, nothing else.

    The same properties as AWS-StartPortForwardingSessionToRemoteHost, with
    the host and port limited to this environment's data stores.
    """
    return {
        "schemaVersion": "1.0",
        "description": "Port forwarding to this environment's database and cache only",
        "sessionType": "Port",
        "parameters": {
            "host": {
                "type": "String",
                "description": "The database or cache endpoint",
                "allowedValues": list(hosts),
                "default": hosts[0],
            },
            "portNumber": {
                "type": "String",
                "description": "Its port",
                "allowedValues": [str(p) for p in ports],
                "default": str(ports[0]),
            },
            "localPortNumber": {
                "type": "String",
                "description": "Local port (0: any free one)",
                "allowedPattern": (
                    r"^([0-9]|[1-9][0-9]{1,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}"
                    r"|655[0-2][0-9]|6553[0-5])$"
                ),
                "default": "0",
            },
        },
        "properties": {
            "portNumber": "{{ portNumber }}",
            "type": "LocalPortForwarding",
            "localPortNumber": "{{ localPortNumber }}",
            "host": "{{ host }}",
        },
    }


def instance_role_policy(*, log_group_arn: str, key_arn: str) -> dict[str, Any]:
    """What the bastion's agent needs beyond AmazonSSMManagedInstanceCore: writing
    session logs to its one group, and decrypting the KMS-encrypted sessions.

    https://docs.aws.amazon.com/systems-manager/latest/userguide/getting-started-create-iam-instance-profile.html
    """
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "WriteSessionLogs",
                "Effect": "Allow",
                "Action": ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"],
                "Resource": [log_group_arn, f"{log_group_arn}:log-stream:*"],
            },
            {
                # The agent checks that the group is encrypted before it logs;
                # DescribeLogGroups takes no resource.
                "Sid": "CheckLogGroupEncryption",
                "Effect": "Allow",
                "Action": "logs:DescribeLogGroups",
                "Resource": "*",
            },
            {
                "Sid": "DecryptSessions",
                "Effect": "Allow",
                "Action": "kms:Decrypt",
                "Resource": key_arn,
            },
        ],
    }


@dataclass(frozen=True)
class SessionManagerArgs:
    spec: ShellAccessSpec
    resource_prefix: str
    region: str
    account_id: str
    partition: str
    vpc_id: pulumi.Input[str]
    private_subnet_ids: Sequence[pulumi.Input[str]]
    # The environment's key: root volume, session data, session logs.
    kms_key_arn: pulumi.Input[str]
    # The data stores port forwarding reaches: their security groups admit
    # the bastion's, on their port, beside the nodes' rule they already have.
    database_security_group_id: pulumi.Input[str]
    database_port: int
    database_hosts: Sequence[pulumi.Input[str]]
    cache_security_group_id: pulumi.Input[str]
    cache_port: int
    cache_hosts: Sequence[pulumi.Input[str]]
    boundary_arn: pulumi.Input[str] | None


class SessionManager(pulumi.ComponentResource):
    """The bastion, its role and security group, the session documents and their log group."""

    instance: aws.ec2.Instance
    security_group: aws.ec2.SecurityGroup
    log_group: aws.cloudwatch.LogGroup
    shell_document: aws.ssm.Document
    port_forwarding_document: aws.ssm.Document
    target: pulumi.Output[SessionTarget]
    outputs: dict[str, pulumi.Output[Any]]

    def __init__(
        self, name: str, args: SessionManagerArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(type_token("SessionManager"), name, None, opts)
        spec, prefix = args.spec, args.resource_prefix

        self.log_group = encrypted_log_group(
            self,
            f"{name}-session-logs",
            log_group_name=f"/aws/ssm/{prefix}/sessions",
            retention_days=spec.session_log_retention_days,
            kms_key_arn=args.kms_key_arn,
        )
        self.shell_document = aws.ssm.Document(
            f"{name}-shell",
            name=f"{prefix}-shell",
            document_type="Session",
            document_format="JSON",
            content=pulumi.Output.all(self.log_group.name, args.kms_key_arn).apply(
                lambda v: json.dumps(
                    shell_document(
                        log_group=str(v[0]),
                        key_arn=str(v[1]),
                        idle_minutes=spec.session_idle_timeout_minutes,
                        max_minutes=spec.session_max_duration_minutes,
                    ),
                    indent=2,
                )
            ),
            opts=child(self),
        )
        hosts = [*args.database_hosts, *args.cache_hosts]
        self.port_forwarding_document = aws.ssm.Document(
            f"{name}-data-stores",
            name=f"{prefix}-data-stores",
            document_type="Session",
            document_format="JSON",
            content=pulumi.Output.all(*hosts).apply(
                lambda found: json.dumps(
                    port_forwarding_document(
                        [str(h) for h in found], [args.database_port, args.cache_port]
                    ),
                    indent=2,
                )
            ),
            opts=child(self),
        )

        self.security_group = self._network(name, args)
        profile, ready = self._identity(name, args)
        architecture = architecture_of(spec.bastion_instance_type)
        image = aws.ssm.get_parameter_output(
            name=AMI_PARAMETER.format(arch=architecture),
            opts=pulumi.InvokeOutputOptions(parent=self),
        )
        self.instance = aws.ec2.Instance(
            f"{name}-bastion",
            ami=image.value,
            instance_type=spec.bastion_instance_type,
            subnet_id=args.private_subnet_ids[0],
            vpc_security_group_ids=[self.security_group.id],
            associate_public_ip_address=False,
            iam_instance_profile=profile.name,
            metadata_options=aws.ec2.InstanceMetadataOptionsArgs(
                http_endpoint="enabled",
                http_tokens="required",  # IMDSv2 only
                http_put_response_hop_limit=1,
                instance_metadata_tags="disabled",
            ),
            root_block_device=aws.ec2.InstanceRootBlockDeviceArgs(
                encrypted=True,
                kms_key_id=args.kms_key_arn,
                volume_type="gp3",
                volume_size=ROOT_VOLUME_GB,
                delete_on_termination=True,
            ),
            tags=name_tag(f"{prefix}-bastion"),
            opts=child(
                self,
                depends_on=ready,
                # A new image is published every few weeks; following it would
                # replace the bastion (and cut every open session) on an
                # unrelated `pulumi up`. `dnf upgrade` on the instance patches
                # it; README "Shell access" says how to move to a new image.
                ignore_changes=["ami"],
            ),
        )
        self.target = pulumi.Output.all(
            self.instance.id,
            self.shell_document.name,
            self.port_forwarding_document.name,
            args.kms_key_arn,
        ).apply(
            lambda v: SessionTarget(
                partition=args.partition,
                region=args.region,
                account_id=args.account_id,
                instance_id=str(v[0]),
                shell_document=str(v[1]),
                port_forwarding_document=str(v[2]),
                key_arn=str(v[3]),
            )
        )
        self.outputs = {
            "bastionInstanceId": self.instance.id,
            "sessionDocumentName": self.shell_document.name,
            "portForwardingDocumentName": self.port_forwarding_document.name,
            "sessionLogGroup": self.log_group.name,
        }
        self.register_outputs(self.outputs)

    def _network(self, name: str, args: SessionManagerArgs) -> aws.ec2.SecurityGroup:
        """A group with no inbound rule at all; out only to what sessions need.

        Security groups do not filter the Amazon DNS resolver, instance
        metadata or the time service, so those need no rule:
        https://docs.aws.amazon.com/vpc/latest/userguide/vpc-security-groups.html
        """
        group = aws.ec2.SecurityGroup(
            f"{name}-bastion",
            name=physical_name(SECURITY_GROUP, f"{name}-bastion"),
            vpc_id=args.vpc_id,
            description="Session Manager bastion: no inbound rule",
            opts=child(self),
        )
        aws.vpc.SecurityGroupEgressRule(
            f"{name}-bastion-to-ssm",
            security_group_id=group.id,
            ip_protocol="tcp",
            from_port=HTTPS_PORT,
            to_port=HTTPS_PORT,
            cidr_ipv4="0.0.0.0/0",
            description="HTTPS to Systems Manager and CloudWatch Logs (through the NAT)",
            opts=child(self),
        )
        for store, group_id, port in (
            ("database", args.database_security_group_id, args.database_port),
            ("cache", args.cache_security_group_id, args.cache_port),
        ):
            aws.vpc.SecurityGroupEgressRule(
                f"{name}-bastion-to-{store}",
                security_group_id=group.id,
                referenced_security_group_id=group_id,
                ip_protocol="tcp",
                from_port=port,
                to_port=port,
                description=f"Port forwarding to the {store}",
                opts=child(self),
            )
            # A rule of its own beside the nodes' one: that one is unchanged.
            aws.vpc.SecurityGroupIngressRule(
                f"{name}-{store}-from-bastion",
                security_group_id=group_id,
                referenced_security_group_id=group.id,
                ip_protocol="tcp",
                from_port=port,
                to_port=port,
                description=f"The {store} from the Session Manager bastion (port forwarding)",
                opts=child(self),
            )
        return group

    def _identity(
        self, name: str, args: SessionManagerArgs
    ) -> tuple[aws.iam.InstanceProfile, list[pulumi.Resource]]:
        """The instance profile: Session Manager's managed policy, and logging to its group."""
        policy = pulumi.Output.all(self.log_group.arn, args.kms_key_arn).apply(
            lambda v: json.dumps(instance_role_policy(log_group_arn=str(v[0]), key_arn=str(v[1])))
        )
        role, inline = service_role(
            self,
            f"{name}-bastion",
            service="ec2.amazonaws.com",
            description=f"Session Manager bastion of {args.resource_prefix}",
            policy=policy,
            boundary_arn=args.boundary_arn,
        )
        attached = attach_policies(
            self, role, f"{name}-bastion", args.partition, [INSTANCE_CORE_POLICY]
        )
        profile = aws.iam.InstanceProfile(
            f"{name}-bastion",
            role=role.name,
            opts=child(self),
        )
        # The agent registers at boot: its permissions must be there by then.
        return profile, [inline, *attached]
