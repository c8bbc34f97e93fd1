"""Alerting on the AWS side: the environment's SNS topic, who it reaches, and the alarms.

The CloudWatch alarms (database, replicas, cache nodes, NAT gateways, node
group, the synthetic check) notify one SNS topic, encrypted with the
environment's key; the receivers of `alertReceivers` subscribe to it:
PagerDuty through its Amazon CloudWatch integration (HTTPS), Slack through
AWS Chatbot, email addresses directly. Alertmanager reaches the same
receivers for what Prometheus sees (routing.py).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from infra.components._common import child, service_role, type_token
from infra.components.observability import alarms
from infra.components.observability.alarms import Alarm
from infra.components.observability.asg_metrics import AsgMetricsCollection
from infra.config import AlertingSpec, revealed

PAGERDUTY_CLOUDWATCH_URL = "https://events.pagerduty.com/integration/{key}/enqueue"
# AWS Chatbot's API is served from a few regions only (not us-east-1); its
# channel configurations are global and may name a topic in any region.
# https://docs.aws.amazon.com/chatbot/latest/adminguide/chatbot-regions.html
CHATBOT_REGION = "us-east-2"
# What people in the Slack channel may do through Chatbot: read CloudWatch.
CHATBOT_GUARDRAIL = "CloudWatchReadOnlyAccess"
HEALTH_CHECK_INTERVAL_SECONDS = 30
HEALTH_CHECK_FAILURES = 3


def topic_policy(topic_arn: str, account_id: str, partition: str, region: str) -> str:
    """The account manages the topic; its CloudWatch alarms and budgets may publish; TLS only."""
    alarms_arn = f"arn:{partition}:cloudwatch:{region}:{account_id}:alarm:*"
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "AccountManagesTopic",
                    "Effect": "Allow",
                    "Principal": {"AWS": f"arn:{partition}:iam::{account_id}:root"},
                    "Action": [
                        "sns:GetTopicAttributes",
                        "sns:SetTopicAttributes",
                        "sns:AddPermission",
                        "sns:RemovePermission",
                        "sns:DeleteTopic",
                        "sns:Subscribe",
                        "sns:ListSubscriptionsByTopic",
                        "sns:Publish",
                    ],
                    "Resource": topic_arn,
                },
                {
                    "Sid": "CloudWatchAlarmsPublish",
                    "Effect": "Allow",
                    "Principal": {"Service": "cloudwatch.amazonaws.com"},
                    "Action": "sns:Publish",
                    "Resource": topic_arn,
                    "Condition": {
                        "StringEquals": {"aws:SourceAccount": account_id},
                        "ArnLike": {"aws:SourceArn": alarms_arn},
                    },
                },
                {
                    # The stack's budget notifications (budgetAlertTopic):
                    # https://docs.aws.amazon.com/cost-management/latest/userguide/budgets-sns-policy.html
                    "Sid": "BudgetsPublish",
                    "Effect": "Allow",
                    "Principal": {"Service": "budgets.amazonaws.com"},
                    "Action": "sns:Publish",
                    "Resource": topic_arn,
                    "Condition": {
                        "StringEquals": {"aws:SourceAccount": account_id},
                        "ArnLike": {"aws:SourceArn": f"arn:{partition}:budgets::{account_id}:*"},
                    },
                },
                {
                    "Sid": "DenyWithoutTls",
                    "Effect": "Deny",
                    "Principal": "*",
                    "Action": "sns:Publish",
                    "Resource": topic_arn,
                    "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                },
            ],
        }
    )


@dataclass(frozen=True)
class WatchedResources:
    """What the alarms watch: ids, or the outputs that become them."""

    database_id: str
    replica_ids: list[str]
    database_instance_class: str
    database_allocated_storage_gb: int
    database_max_storage_gb: int
    cache_member_clusters: list[str]
    nat_gateways: Mapping[str, pulumi.Input[str]]  # id by zone label
    autoscaling_group: pulumi.Input[str]
    # The cluster's name, for the node-group alarm's name.
    cluster_name: str
    # What the database alarms are named after when it differs from
    # database_id: the environment's own identifier, after a restore.
    database_named_after: str = ""


@dataclass(frozen=True)
class AlertingArgs:
    spec: AlertingSpec
    resource_prefix: str
    region: str
    account_id: str
    partition: pulumi.Input[str]
    kms_key_arn: pulumi.Input[str]
    watched: WatchedResources
    # https://<domain><healthCheckPath> when the stack has a synthetic check.
    domain: str
    tags: Mapping[str, str]
    boundary_arn: pulumi.Input[str] | None


class Alerting(pulumi.ComponentResource):
    """SNS topic, its subscriptions, CloudWatch alarms and the Route 53 health check."""

    topic: aws.sns.Topic
    alarm_names: list[str]

    def __init__(
        self, name: str, args: AlertingArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(type_token("Alerting"), name, None, opts)
        spec, prefix = args.spec, args.resource_prefix
        self._resource_prefix = prefix
        self.topic = aws.sns.Topic(
            f"{name}-topic",
            name=f"{prefix}-alerts",
            display_name=f"{prefix} alerts",
            kms_master_key_id=args.kms_key_arn,
            opts=child(self),
        )
        self.topic_policy = aws.sns.TopicPolicy(
            f"{name}-topic-policy",
            arn=self.topic.arn,
            policy=pulumi.Output.all(self.topic.arn, args.partition).apply(
                lambda v: topic_policy(str(v[0]), args.account_id, str(v[1]), args.region)
            ),
            opts=child(self),
        )
        self._subscribe(name, args)

        watched = args.watched
        definitions: list[Alarm] = [
            *alarms.database_alarms(
                spec,
                instance_id=watched.database_id,
                replica_ids=watched.replica_ids,
                instance_class=watched.database_instance_class,
                allocated_storage_gb=watched.database_allocated_storage_gb,
                max_storage_gb=watched.database_max_storage_gb,
                named_after=watched.database_named_after,
            ),
            *alarms.cache_alarms(spec, member_clusters=watched.cache_member_clusters),
            *alarms.nat_alarms(prefix, dict(watched.nat_gateways)),
            alarms.node_group_alarm(watched.autoscaling_group, watched.cluster_name),
        ]
        # Before the alarm on them: without the metrics it would read "breaching".
        self._metrics_collection = AsgMetricsCollection(
            f"{name}-node-group-metrics",
            autoscaling_group_name=watched.autoscaling_group,
            region=args.region,
            account_id=args.account_id,
            opts=child(self),
        )
        if spec.health_check_path:
            url = f"https://{args.domain}{spec.health_check_path}"
            check = aws.route53.HealthCheck(
                f"{name}-health-check",
                type="HTTPS",
                fqdn=args.domain,
                port=443,
                resource_path=spec.health_check_path,
                request_interval=HEALTH_CHECK_INTERVAL_SECONDS,
                failure_threshold=HEALTH_CHECK_FAILURES,
                enable_sni=True,
                tags={"Name": f"{prefix}-health-check"},
                opts=child(self),
            )
            definitions.append(alarms.health_check_alarm(check.id, url, prefix))
        for alarm in definitions:
            self._alarm(name, alarm)
        self.alarm_names = [alarm.name for alarm in definitions]
        self.register_outputs({"alertTopicArn": self.topic.arn, "alarms": self.alarm_names})

    def _subscribe(self, name: str, args: AlertingArgs) -> None:
        spec = args.spec
        kinds = set(spec.alert_receivers)
        if "pagerduty" in kinds:
            endpoint = pulumi.Output.secret(
                PAGERDUTY_CLOUDWATCH_URL.format(key=revealed(spec.alert_pagerduty_cloudwatch_key))
            )
            aws.sns.TopicSubscription(
                f"{name}-pagerduty",
                topic=self.topic.arn,
                protocol="https",
                endpoint=endpoint,
                # PagerDuty confirms the subscription itself.
                endpoint_auto_confirms=True,
                opts=child(self, additional_secret_outputs=["endpoint"]),
            )
        for index, address in enumerate(spec.alert_email_to if "email" in kinds else []):
            # Pending until the address's owner follows the link AWS sends.
            aws.sns.TopicSubscription(
                f"{name}-email-{index + 1}",
                topic=self.topic.arn,
                protocol="email",
                endpoint=address,
                opts=child(self),
            )
        if "slack" in kinds:
            chatbot_region = aws.Provider(
                f"{name}-chatbot-region",
                region=CHATBOT_REGION,
                allowed_account_ids=[args.account_id],
                default_tags={"tags": dict(args.tags)},
                opts=child(self),
            )
            role, _ = service_role(
                self,
                f"{name}-chatbot",
                service="chatbot.amazonaws.com",
                source_account=args.account_id,
                description="AWS Chatbot: posts the environment's alarms to Slack",
                policy=json.dumps(
                    {
                        "Version": "2012-10-17",
                        "Statement": [
                            {
                                "Effect": "Allow",
                                "Action": [
                                    "cloudwatch:DescribeAlarms",
                                    "cloudwatch:GetMetricData",
                                    "cloudwatch:GetMetricWidgetImage",
                                ],
                                "Resource": "*",
                            }
                        ],
                    }
                ),
                boundary_arn=args.boundary_arn,
            )
            aws.chatbot.SlackChannelConfiguration(
                f"{name}-slack",
                configuration_name=f"{args.resource_prefix}-alerts",
                iam_role_arn=role.arn,
                slack_team_id=spec.alert_slack_team_id,
                slack_channel_id=spec.alert_slack_channel_id,
                sns_topic_arns=[self.topic.arn],
                guardrail_policy_arns=[
                    pulumi.Output.concat(
                        "arn:", args.partition, ":iam::aws:policy/", CHATBOT_GUARDRAIL
                    )
                ],
                logging_level="ERROR",
                opts=child(self, provider=chatbot_region),
            )

    def _alarm(self, name: str, alarm: Alarm) -> None:
        suffix = alarm.name.removeprefix(f"{self._resource_prefix}-")
        common: dict[str, Any] = {
            "name": alarm.name,
            "alarm_description": alarm.description,
            "evaluation_periods": alarm.evaluation_periods,
            "threshold": alarm.threshold,
            "comparison_operator": alarm.comparison,
            "treat_missing_data": alarm.treat_missing_data,
            "actions_enabled": True,
            "alarm_actions": [self.topic.arn],
            "ok_actions": [self.topic.arn],
        }
        if alarm.expression:
            queries: list[Any] = [
                {
                    "id": "breached",
                    "expression": alarm.expression,
                    "label": alarm.name,
                    "return_data": True,
                }
            ]
            queries += [
                {
                    "id": query_id,
                    "metric": {
                        "namespace": alarm.namespace,
                        "metric_name": metric,
                        "dimensions": alarm.dimensions,
                        "period": alarm.period,
                        "stat": statistic,
                    },
                    "return_data": False,
                }
                for query_id, (metric, statistic) in alarm.expression_metrics.items()
            ]
            aws.cloudwatch.MetricAlarm(
                f"{name}-{suffix}",
                metric_queries=queries,
                **common,
                # The node group's metrics, which only the collection turns on.
                opts=child(self, depends_on=[self._metrics_collection]),
            )
            return
        aws.cloudwatch.MetricAlarm(
            f"{name}-{suffix}",
            namespace=alarm.namespace,
            metric_name=alarm.metric,
            dimensions=alarm.dimensions,
            statistic=alarm.statistic,
            period=alarm.period,
            **common,
            opts=child(self),
        )
