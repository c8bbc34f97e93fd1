"""Cost controls that act: budgets, the off-hours schedule, Spot capacity, and their prices."""

from __future__ import annotations

import json
from typing import Any

import pytest

from infra import off_hours
from infra.config import ConfigError, parse_stack_config
from stagecraft.cli.main import main
from stagecraft.cost import commitment, estimate, load_prices
from stagecraft.offline.engine import Plan, evaluate
from tests.conftest import edit_stack, environment_key

BUDGET = "aws:budgets/budget:Budget"
SCHEDULE = "aws:scheduler/schedule:Schedule"
NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"
ROLE = "aws:iam/role:Role"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
SECRETS = frozenset(
    {
        "stagecraft:alertSlackWebhookUrl",
        "stagecraft:alertPagerdutyRoutingKey",
        "stagecraft:alertPagerdutyCloudwatchKey",
    }
)


def _problems(project: Any, stack: str, **changes: Any) -> list[str]:
    overrides = {f"stagecraft:{k}": v for k, v in changes.items()}
    values = project.config_map(stack, overrides).values
    with pytest.raises(ConfigError) as caught:
        parse_stack_config(values, project="stagecraft", stack=stack, secret_keys=SECRETS)
    return [str(p) for p in caught.value.problems]


def _schedules(plan: Plan) -> dict[str, Any]:
    return {s.inputs["name"]: s.inputs for s in plan.of_type(SCHEDULE)}


# --------------------------------------------------------------------------- #
# Budgets per stack kind
# --------------------------------------------------------------------------- #


def test_every_full_environment_has_a_budget_of_its_own_tagged_resources(plans):
    for stack, plan in plans.items():
        budget = plan.one(BUDGET).inputs
        assert (
            budget["limitAmount"] == {"dev": "200", "staging": "500", "production": "1800"}[stack]
        )
        assert budget["timeUnit"] == "MONTHLY"
        assert budget["costFilters"] == [
            {"name": "TagKeyValue", "values": [f"user:stack$stagecraft/{stack}"]}
        ]
        kinds = {n["notificationType"]: n["threshold"] for n in budget["notifications"]}
        assert kinds == {"ACTUAL": 80, "FORECASTED": 100}


def test_budgets_tell_the_topic_or_email_as_each_stack_file_says(dev, staging, production):
    def subscribers(plan: Plan) -> list[tuple[list[str], list[str]]]:
        return [
            (n.get("subscriberEmailAddresses") or [], n.get("subscriberSnsTopicArns") or [])
            for n in plan.one(BUDGET).inputs["notifications"]
        ]

    # Dev has no alert topic: e-mail only.
    assert subscribers(dev) == [(["platform-team@example.com"], [])] * 2
    # Staging: its alert topic (Slack), no e-mail.
    ((emails, topics),) = {(tuple(e), tuple(t)) for e, t in subscribers(staging)}
    assert emails == ()
    assert topics[0].endswith(":stagecraft-staging-alerts")
    # Production: e-mail, never the topic that pages the on-call.
    assert (
        subscribers(production) == [(["platform-team@example.com", "finance@example.com"], [])] * 2
    )


def test_the_alert_topic_and_its_key_admit_budgets_from_this_account_only(staging):
    policy = json.loads(staging.one("aws:sns/topicPolicy:TopicPolicy").inputs["policy"])
    (budgets,) = [s for s in policy["Statement"] if s.get("Sid") == "BudgetsPublish"]
    assert budgets["Principal"] == {"Service": "budgets.amazonaws.com"}
    assert budgets["Condition"]["StringEquals"] == {"aws:SourceAccount": "123456789012"}
    assert budgets["Condition"]["ArnLike"] == {"aws:SourceArn": "arn:aws:budgets::123456789012:*"}
    key = json.loads(environment_key(staging).inputs["policy"])
    (grant,) = [s for s in key["Statement"] if s["Sid"] == "BudgetsPublishToTheTopic"]
    assert grant["Condition"] == {"StringEquals": {"aws:SourceAccount": "123456789012"}}


def test_small_stacks_get_no_budget(scratch):
    assert main(["--project-dir", str(scratch), "env", "create", "pr-7"]) == 0
    plan = evaluate("pr-7", project_dir=scratch / "ephemeral")
    assert plan.of_type(BUDGET) == []


def test_a_budget_that_tells_nobody_is_refused(project):
    problems = _problems(project, "production", budgetAlertEmails=[])
    assert problems == [
        "stagecraft:budgetAlertEmails = []: must list at least one address: the stack's AWS "
        "budget tells nobody otherwise (budgetAlertTopic is false)"
    ]
    assert _problems(project, "dev", budgetAlertEmails=["not-an-address"]) == [
        "stagecraft:budgetAlertEmails = [\"not-an-address\"]: 'not-an-address' is not an e-mail "
        "address such as 'ops@example.org'"
    ]


# --------------------------------------------------------------------------- #
# Off-hours schedules: only where configured, scoped to one resource
# --------------------------------------------------------------------------- #


def test_dev_stops_outside_working_hours_and_production_never(dev, staging, production):
    schedules = _schedules(dev)
    assert set(schedules) == {
        "stagecraft-dev-nodes-start",
        "stagecraft-dev-nodes-stop",
        "stagecraft-dev-database-start",
        "stagecraft-dev-database-stop",
    }
    stop = schedules["stagecraft-dev-database-stop"]
    assert stop["scheduleExpression"] == "cron(0 20 ? * MON-FRI *)"
    assert stop["scheduleExpressionTimezone"] == "Europe/Madrid"
    assert stop["target"]["arn"] == "arn:aws:scheduler:::aws-sdk:rds:stopDBInstance"
    assert json.loads(stop["target"]["input"]) == {"DbInstanceIdentifier": "stagecraft-dev"}
    nodes_stop = json.loads(schedules["stagecraft-dev-nodes-stop"]["target"]["input"])
    assert nodes_stop["ScalingConfig"] == {"MinSize": 0, "MaxSize": 3, "DesiredSize": 0}
    nodes_start = json.loads(schedules["stagecraft-dev-nodes-start"]["target"]["input"])
    assert nodes_start["ScalingConfig"] == {"MinSize": 1, "MaxSize": 3, "DesiredSize": 1}
    assert _schedules(staging) == {}
    assert _schedules(production) == {}


def test_the_scheduler_roles_may_act_on_one_instance_and_this_stacks_node_groups(dev):
    roles = [r for r in dev.resources if r.type == ROLE and "off-hours" in r.urn]
    assert len(roles) == 2
    group_arn = "arn:aws:scheduler:us-east-1:123456789012:schedule-group/stagecraft-dev-off-hours"
    for role in roles:
        (trust,) = json.loads(role.inputs["assumeRolePolicy"])["Statement"]
        assert trust["Principal"] == {"Service": "scheduler.amazonaws.com"}
        assert trust["Condition"]["StringEquals"] == {
            "aws:SourceAccount": "123456789012",
            "aws:SourceArn": group_arn,
        }
    policies = {
        p.name: json.loads(p.inputs["policy"])["Statement"]
        for p in dev.resources
        if p.type == ROLE_POLICY and "off-hours" in p.urn
    }
    (database,) = policies["stagecraft-dev-off-hours-database"]
    assert database["Action"] == ["rds:StopDBInstance", "rds:StartDBInstance"]
    assert database["Resource"] == "arn:aws:rds:us-east-1:123456789012:db:stagecraft-dev"
    (nodes,) = policies["stagecraft-dev-off-hours-nodes"]
    assert nodes["Action"] == "eks:UpdateNodegroupConfig"
    (node_group_arn,) = nodes["Resource"]
    assert node_group_arn.startswith("arn:aws:eks:us-east-1:123456789012:nodegroup/stagecraft-dev/")


@pytest.mark.parametrize(
    ("stack", "changes", "message"),
    [
        ("dev", {"workingHours": "20:00-08:00"},
         'stagecraft:workingHours = "20:00-08:00": must end after it starts on the same day'),
        ("dev", {"workingHours": "8-20"},
         'stagecraft:workingHours = "8-20": must be \'HH:MM-HH:MM\' on a 24-hour clock'),
        ("dev", {"workingHoursTimeZone": "Europe/Madird"},
         'stagecraft:workingHoursTimeZone = "Europe/Madird": must be an IANA time zone name '
         "such as 'Europe/Madrid' or 'UTC'; did you mean 'Europe/Madrid'?"),
        ("dev", {"workingDays": []}, "stagecraft:workingDays = []: must list at least one day"),
        ("dev", {"protectStatefulResources": True},
         'stagecraft:workingHours = "08:00-20:00": stops the database every night, and '
         "protectStatefulResources says this stack's data must stay"),
        ("dev", {"dbReadReplicas": 1},
         "RDS cannot stop an instance that has read replicas (dbReadReplicas is 1)"),
        ("staging", {"workingHours": "08:00-20:00"},
         "and healthCheckPath would then alarm every night"),
        ("production", {"workingHours": "08:00-20:00"},
         'stagecraft:workingHours = "08:00-20:00": must be empty in production'),
        ("staging", {"workingDays": ["mon"]},
         'stagecraft:workingDays = ["mon"]: applies only to the off-hours schedule'),
        ("sandbox", {"dbResetSchedule": "0 4 * * *"},
         'stagecraft:dbResetSchedule = "0 4 * * *": must fire on working days (mon, tue, wed, '
         "thu, fri) between 06:20 and 20:00 UTC"),
    ],
)  # fmt: skip
def test_a_schedule_that_makes_no_sense_is_refused(project, stack, changes, message):
    problems = _problems(project, stack, **changes)
    assert any(message in p for p in problems), problems


def test_a_refused_schedule_stops_the_plan_without_a_traceback(scratch, capsys):
    edit_stack(scratch, "production", **{"stagecraft:workingHours": "08:00-20:00"})
    assert main(["--project-dir", str(scratch), "plan", "--stack", "production"]) != 0
    err = capsys.readouterr().err
    assert 'stagecraft:workingHours = "08:00-20:00": must be empty in production' in err
    assert "Traceback" not in err


def test_the_longest_stop_is_shorter_than_rds_restarting_by_itself():
    one_day = off_hours.WorkingHours(days=("wed",), start="09:00", end="10:00")
    assert one_day.longest_stop_minutes == 7 * 24 * 60 - 60
    assert one_day.longest_stop_minutes < off_hours.RDS_AUTO_START_MINUTES
    week = off_hours.WorkingHours(
        days=("mon", "tue", "wed", "thu", "fri"), start="08:00", end="20:00"
    )
    assert week.longest_stop_minutes == (4 + 48 + 8) * 60  # Friday 20:00 to Monday 08:00


def test_crons_read_back_as_the_hours_they_were_written_from():
    hours = off_hours.WorkingHours(
        days=("mon", "tue", "wed", "fri", "sun"), start="07:30", end="19:00"
    )
    assert hours.start_cron == "cron(30 7 ? * MON-WED,FRI,SUN *)"
    share = off_hours.on_fraction([hours.start_cron], [hours.stop_cron])
    assert share == pytest.approx(hours.hours_per_week / off_hours.HOURS_PER_WEEK)
    with pytest.raises(ValueError, match="not a weekly cron"):
        off_hours.cron_minutes("rate(1 hour)")


# --------------------------------------------------------------------------- #
# Spot capacity
# --------------------------------------------------------------------------- #


def test_staging_has_a_tainted_spot_group_the_workloads_opt_into(staging, production):
    (spot,) = [g for g in staging.of_type(NODE_GROUP) if g.inputs["capacityType"] == "SPOT"]
    inputs = spot.inputs
    assert inputs["instanceTypes"] == ["m5.large", "m5a.large", "m6i.large", "m6a.large"]
    assert inputs["taints"] == [
        {"key": "stagecraft.io/capacity", "value": "spot", "effect": "NO_SCHEDULE"}
    ]
    assert inputs["labels"] == {"stagecraft.io/node-group": "spot"}
    assert inputs["scalingConfig"] == {"minSize": 0, "maxSize": 3, "desiredSize": 0}
    assert spot.ignore_changes == ["scalingConfig.desiredSize"]
    assert [g.inputs["capacityType"] for g in production.of_type(NODE_GROUP)] == ["ON_DEMAND"]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"spotInstanceTypes": ["m5.large"]}, "must list at least two instance types"),
        ({"spotInstanceTypes": ["m5.large", "t3.medium"]},
         "must share one size, vCPUs and memory (the Cluster Autoscaler plans with the first "
         "type's): m5.large (2 vCPU, 8 GiB), t3.medium (2 vCPU, 4 GiB)"),
        ({"spotInstanceTypes": ["m5.large", "m6g.large"]}, "must all be x86_64 or all arm64"),
        ({"spotInstanceTypes": ["m5.large", "m9.large"]}, "'m9.large': family 'm9'"),
        ({"spotMaxSize": 0}, "stagecraft:spotMaxSize = 0: must be at least 1"),
        ({"clusterAutoscaler": False}, "need clusterAutoscaler: true"),
    ],
)  # fmt: skip
def test_a_spot_group_that_cannot_work_is_refused(project, changes, message):
    problems = _problems(project, "staging", **changes)
    assert any(message in p for p in problems), problems


def test_spot_sizes_without_types_are_refused(project):
    assert _problems(project, "dev", spotMaxSize=2) == [
        "stagecraft:spotMaxSize = 2: sizes the Spot node group, which needs "
        "stagecraft:spotInstanceTypes; set them or remove it"
    ]


# --------------------------------------------------------------------------- #
# What the estimate shows
# --------------------------------------------------------------------------- #


def test_scheduled_nodes_and_database_are_priced_at_their_hours(dev):
    prices = load_prices()
    cost = estimate(dev, budget=200)
    share = 60 / 168  # 08:00-20:00, Monday to Friday
    (nodes, disks) = [line for line in cost.lines if line.type == NODE_GROUP]
    assert nodes.monthly == pytest.approx(0.0416 * 730 * share)
    assert nodes.monthly_always_on == pytest.approx(0.0416 * 730)
    assert disks.monthly == pytest.approx(50 * 0.08 * share)
    (instance, storage, *_) = [
        line for line in cost.lines if line.type == "aws:rds/instance:Instance"
    ]
    assert instance.monthly == pytest.approx(0.018 * 730 * share)
    assert storage.monthly == storage.monthly_always_on  # storage is billed stopped or not
    saved = (0.0416 * 730 + 50 * 0.08 + 0.018 * 730) * (1 - share)
    assert cost.total_always_on - cost.total == pytest.approx(saved)
    assert prices.hours == 730


def test_cost_prints_the_always_on_figure_and_the_saving(capsys):
    assert main(["cost", "--stack", "dev"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    cost = estimate(evaluate("dev"), budget=200)
    assert (
        f"dev: ${cost.total_always_on:,.2f}/month always on and on demand; ${cost.total:,.2f} "
        f"with the off-hours schedule and Spot prices: saves "
        f"${cost.total_always_on - cost.total:,.2f} ({cost.saving_percent:.0f}%)."
    ) in out


def test_spot_nodes_are_priced_at_the_tables_discount(project, scratch):
    edit_stack(scratch, "staging", **{"stagecraft:spotDesiredSize": 2})
    plan = evaluate("staging", project_dir=scratch)
    (spot, _disk) = [
        line for line in estimate(plan, budget=500).lines
        if line.type == NODE_GROUP and "spot" in line.name
    ]  # fmt: skip
    assert spot.monthly == pytest.approx(2 * 0.096 * (1 - 0.66) * 730)
    assert spot.monthly_at_max == pytest.approx(3 * 0.096 * (1 - 0.66) * 730)
    assert spot.monthly_always_on == pytest.approx(2 * 0.096 * 730)
    assert "Spot, $0.096/h on demand less 66%" in spot.description


def test_a_spot_type_without_a_discount_is_unpriced_not_guessed(scratch):
    edit_stack(scratch, "staging", **{"stagecraft:spotInstanceTypes": ["m5a.large", "m6a.large"]})
    plan = evaluate("staging", project_dir=scratch)
    unpriced = [line for line in estimate(plan, budget=500).unpriced if line.type == NODE_GROUP]
    assert [line.description for line in unpriced] == [
        "Spot m5a.large (no discount in the price table): not in the price table"
    ]


def test_commitment_prices_productions_steady_part(production):
    cost = estimate(production, budget=1800)
    committed = commitment(production, cost)
    by_name = {line.name: line for line in committed.lines}
    nodes = by_name["stagecraft-production-cluster-nodes"]
    assert nodes.on_demand == pytest.approx(3 * 0.096 * 730)
    assert nodes.committed == pytest.approx(3 * 0.060 * 730)
    primary = by_name["stagecraft-production-database"]
    assert primary.committed == pytest.approx(2 * 0.124 * 730)  # Multi-AZ reserves twice
    assert 0 < committed.total_saving_percent < committed.steady_saving_percent < 72


def test_commitment_leaves_scheduled_resources_on_demand(dev):
    committed = commitment(dev, estimate(dev, budget=200))
    assert [line.name for line in committed.lines] == ["stagecraft-dev-cache"]
