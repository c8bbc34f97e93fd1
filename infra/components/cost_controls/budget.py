"""Budget: an AWS Budgets budget for the stack's own resources, and who hears of it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from infra.components._common import child, type_token

# The tag every resource of a stack carries (`<project>/<stack>`, the
# provider's default tags); the budget counts what carries this stack's.
# Cost Explorer and Budgets see a tag only once it is activated as a
# cost-allocation tag, which the bootstrap does (`costAllocationTag`).
COST_ALLOCATION_TAG = "stack"


def tag_filter(tag_key: str, tag_value: str) -> str:
    """A Budgets `TagKeyValue` filter value: user-defined tags read `user:<key>$<value>`.

    https://docs.aws.amazon.com/aws-cost-management/latest/APIReference/API_budgets_Budget.html
    """
    return f"user:{tag_key}${tag_value}"


def budget_name(resource_prefix: str) -> str:
    return f"{resource_prefix}-monthly"


@dataclass(frozen=True)
class BudgetArgs:
    resource_prefix: str
    stack_tag: str  # this stack's value of COST_ALLOCATION_TAG
    monthly_limit_usd: int
    actual_alert_percent: int
    forecast_alert_percent: int
    emails: Sequence[str]
    # The environment's alert topic, when the budget notifies it (its policy
    # and key admit AWS Budgets: alerting.topic_policy, secrets._key_policy).
    topic_arn: pulumi.Input[str] | None


class Budget(pulumi.ComponentResource):
    """A monthly cost budget with an actual and a forecast notification."""

    budget: aws.budgets.Budget

    def __init__(
        self, name: str, args: BudgetArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(type_token("Budget"), name, None, opts)
        emails = list(args.emails) or None
        topics = [args.topic_arn] if args.topic_arn is not None else None
        notifications = [
            aws.budgets.BudgetNotificationArgs(
                notification_type=kind,
                comparison_operator="GREATER_THAN",
                threshold=percent,
                threshold_type="PERCENTAGE",
                subscriber_email_addresses=emails,
                subscriber_sns_topic_arns=topics,
            )
            for kind, percent in (
                ("ACTUAL", args.actual_alert_percent),
                ("FORECASTED", args.forecast_alert_percent),
            )
        ]
        self.budget = aws.budgets.Budget(
            name,
            name=budget_name(args.resource_prefix),
            budget_type="COST",
            limit_amount=str(args.monthly_limit_usd),
            limit_unit="USD",
            time_unit="MONTHLY",
            cost_filters=[
                aws.budgets.BudgetCostFilterArgs(
                    name="TagKeyValue",
                    values=[tag_filter(COST_ALLOCATION_TAG, args.stack_tag)],
                )
            ],
            # Credits and refunds would hide what the stack really spends.
            cost_types=aws.budgets.BudgetCostTypesArgs(include_credit=False, include_refund=False),
            notifications=notifications,
            opts=child(self),
        )
        self.register_outputs({"budgetName": self.budget.name})
