"""OffHours: EventBridge Scheduler scales the node groups to zero and stops the database
outside working hours, and brings them back at the start of each working day.

What it cannot stop, and keeps billing around the clock: the EKS control
plane, the NAT gateways and public IPv4 addresses, the ElastiCache nodes (they
have no stopped state), the database's storage and the load balancer.

Each schedule calls the service API directly (a universal target), with a
role that may call that one API on that one resource:
https://docs.aws.amazon.com/scheduler/latest/UserGuide/managing-targets-universal.html
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from infra.components._common import child, service_role, type_token
from infra.off_hours import WorkingHours

SCHEDULER = "scheduler.amazonaws.com"
# Retries for a call that failed (throttled, or EKS busy with an update);
# after an hour the next scheduled call is the better one.
RETRY_MAX_EVENT_AGE_SECONDS = 3600
RETRY_MAX_ATTEMPTS = 5


def universal_target(partition: str, service: str, action: str) -> str:
    """`arn:aws:scheduler:::aws-sdk:<service>:<apiAction>` (the action in camel case)."""
    return f"arn:{partition}:scheduler:::aws-sdk:{service}:{action}"


@dataclass(frozen=True)
class ScheduledNodeGroup:
    """A managed node group and the sizes it runs at during working hours."""

    label: str  # "nodes", "spot-nodes": names its schedules
    cluster_name: str
    node_group_name: pulumi.Input[str]
    node_group_arn: pulumi.Input[str]
    min_size: int
    max_size: int
    desired_size: int


@dataclass(frozen=True)
class ScheduledDatabase:
    identifier: str
    arn: pulumi.Input[str]


@dataclass(frozen=True)
class OffHoursArgs:
    working_hours: WorkingHours
    time_zone: str
    resource_prefix: str
    account_id: str
    region: str
    partition: str
    node_groups: Sequence[ScheduledNodeGroup]
    database: ScheduledDatabase | None
    boundary_arn: pulumi.Input[str] | None


def schedule_group_name(resource_prefix: str) -> str:
    return f"{resource_prefix}-off-hours"


def schedule_group_arn(partition: str, region: str, account_id: str, group: str) -> str:
    """What Scheduler sends as `aws:SourceArn` when it assumes a schedule's role."""
    return f"arn:{partition}:scheduler:{region}:{account_id}:schedule-group/{group}"


def node_group_scaling_policy(node_group_arns: Sequence[str]) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "ResizeTheseNodeGroups",
                    "Effect": "Allow",
                    "Action": "eks:UpdateNodegroupConfig",
                    "Resource": list(node_group_arns),
                }
            ],
        }
    )


def database_stop_start_policy(database_arn: str) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "StopAndStartThisDatabase",
                    "Effect": "Allow",
                    "Action": ["rds:StopDBInstance", "rds:StartDBInstance"],
                    "Resource": database_arn,
                }
            ],
        }
    )


def scaling_input(
    cluster_name: str, node_group_name: pulumi.Input[str], minimum: int, maximum: int, desired: int
) -> pulumi.Output[str]:
    """UpdateNodegroupConfig's request: the node group and the sizes to set."""
    return pulumi.Output.from_input(node_group_name).apply(
        lambda node_group: json.dumps(
            {
                "ClusterName": cluster_name,
                "NodegroupName": node_group,
                "ScalingConfig": {"MinSize": minimum, "MaxSize": maximum, "DesiredSize": desired},
            }
        )
    )


class OffHours(pulumi.ComponentResource):
    """A schedule group, a role per kind of target, and a start and a stop per target."""

    schedule_group: aws.scheduler.ScheduleGroup

    def __init__(
        self, name: str, args: OffHoursArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(type_token("OffHours"), name, None, opts)
        self._args = args
        self.schedule_group = aws.scheduler.ScheduleGroup(
            name, name=schedule_group_name(args.resource_prefix), opts=child(self)
        )
        self._name = name
        if args.node_groups:
            role, policy = self._role(
                f"{name}-nodes",
                "resizes the node groups for the off-hours schedule",
                pulumi.Output.all(*(g.node_group_arn for g in args.node_groups)).apply(
                    lambda arns: node_group_scaling_policy([str(a) for a in arns])
                ),
            )
            for group in args.node_groups:
                for action, sizes in (
                    ("start", (group.min_size, group.max_size, group.desired_size)),
                    ("stop", (0, group.max_size, 0)),
                ):
                    self._schedule(
                        f"{group.label}-{action}",
                        f"{'Scales' if action == 'start' else 'Scales down'} the node group "
                        f"{group.label} to {sizes[2]} at the {action} of working hours",
                        universal_target(args.partition, "eks", "updateNodegroupConfig"),
                        scaling_input(group.cluster_name, group.node_group_name, *sizes),
                        action,
                        role,
                        policy,
                    )
        if args.database is not None:
            database = args.database
            role, policy = self._role(
                f"{name}-database",
                f"stops and starts {database.identifier} for the off-hours schedule",
                pulumi.Output.from_input(database.arn).apply(
                    lambda arn: database_stop_start_policy(str(arn))
                ),
            )
            for action, api in (("start", "startDBInstance"), ("stop", "stopDBInstance")):
                self._schedule(
                    f"database-{action}",
                    f"{action.capitalize()}s {database.identifier} at the {action} of working "
                    "hours",
                    universal_target(args.partition, "rds", api),
                    json.dumps({"DbInstanceIdentifier": database.identifier}),
                    action,
                    role,
                    policy,
                )
        self.register_outputs({"scheduleGroup": self.schedule_group.name})

    def _role(
        self, name: str, what: str, policy: pulumi.Input[str]
    ) -> tuple[aws.iam.Role, aws.iam.RolePolicy]:
        args = self._args
        # Assumed for this stack's off-hours schedules only, not any schedule of the account.
        return service_role(
            self,
            name,
            service=SCHEDULER,
            description=f"EventBridge Scheduler {what} ({args.resource_prefix})",
            policy=policy,
            boundary_arn=args.boundary_arn,
            source_account=args.account_id,
            source_arn=schedule_group_arn(
                args.partition,
                args.region,
                args.account_id,
                schedule_group_name(args.resource_prefix),
            ),
        )

    def _schedule(
        self,
        label: str,
        description: str,
        target_arn: str,
        target_input: pulumi.Input[str],
        action: str,
        role: aws.iam.Role,
        policy: aws.iam.RolePolicy,
    ) -> aws.scheduler.Schedule:
        args, hours = self._args, self._args.working_hours
        return aws.scheduler.Schedule(
            f"{self._name}-{label}",
            name=f"{args.resource_prefix}-{label}",
            group_name=self.schedule_group.name,
            description=description,
            schedule_expression=hours.start_cron if action == "start" else hours.stop_cron,
            schedule_expression_timezone=args.time_zone,
            flexible_time_window=aws.scheduler.ScheduleFlexibleTimeWindowArgs(mode="OFF"),
            target=aws.scheduler.ScheduleTargetArgs(
                arn=target_arn,
                role_arn=role.arn,
                input=target_input,
                retry_policy=aws.scheduler.ScheduleTargetRetryPolicyArgs(
                    maximum_event_age_in_seconds=RETRY_MAX_EVENT_AGE_SECONDS,
                    maximum_retry_attempts=RETRY_MAX_ATTEMPTS,
                ),
            ),
            # The role's permissions exist before the first call.
            opts=child(self, depends_on=[policy]),
        )
