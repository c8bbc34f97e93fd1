"""`stagecraft cost`: every resource priced (or said to be unpriced), budgets checked."""

from __future__ import annotations

import json

import pytest
import yaml

from stagecraft.cli.main import main
from stagecraft.cost import PRICE_TABLE, Usage, estimate, is_free, load_prices
from stagecraft.offline.engine import evaluate
from tests.conftest import REPO, edit_stack

PRICES = yaml.safe_load(PRICE_TABLE.read_text())
HOURS = PRICES["hours_per_month"]


def test_price_table_says_when_and_where_its_prices_come_from():
    assert PRICES["region"] == "us-east-1"
    assert HOURS == 730
    assert PRICES["read_on"]
    for service in ("eks", "ec2", "rds", "elasticache", "vpc", "kms", "secretsmanager"):
        assert PRICES["sources"][service].startswith("https://aws.amazon.com/")


def test_production_estimate_is_the_sum_of_list_prices(production):
    ec2, rds, cache = (
        PRICES["ec2"]["instance_per_hour"],
        PRICES["rds"]["instance_per_hour"],
        PRICES["elasticache"]["node_per_hour"],
    )
    expected = (
        PRICES["eks"]["cluster_per_hour"] * HOURS
        + 3 * ec2["m5.large"] * HOURS
        + 3 * 100 * PRICES["ebs"]["gp3_per_gb_month"]
        + 3 * PRICES["vpc"]["nat_gateway_per_hour"] * HOURS
        + 3 * PRICES["vpc"]["public_ipv4_per_hour"] * HOURS
        + PRICES["vpc"]["transit_gateway_attachment_per_hour"] * HOURS  # the VPN's path
        + 2 * rds["db.m5.large"] * HOURS  # Multi-AZ primary
        + 500 * PRICES["rds"]["gp3_multi_az_per_gb_month"]
        + rds["db.m5.large"] * HOURS  # read replica
        + 500 * PRICES["rds"]["gp3_per_gb_month"]
        + 2 * cache["cache.m6g.large"] * HOURS
        # The environment's, the dumps', and the two backup vaults' (here and in the copy region).
        + 4 * PRICES["kms"]["key_per_month"]
        # 4 ours + RDS-managed + the data export's mask key + 3 third-party slots
        + 9 * PRICES["secretsmanager"]["secret_per_month"]
        + PRICES["elb"]["alb_per_hour"] * HOURS  # the environment's one ALB
        + 3 * PRICES["vpc"]["public_ipv4_per_hour"] * HOURS  # its address in each zone
        + PRICES["route53"]["hosted_zone_per_month"]
        # Monitoring's gp3 volumes: Prometheus 150, Alertmanager 2, Grafana 10,
        # Loki 20, Tempo 20, the Thanos compactor 20 and store gateway 10 GiB.
        + (150 + 2 + 10 + 20 + 20 + 20 + 10) * PRICES["ebs"]["gp3_per_gb_month"]
        # Alarms by metric: database 4, replica 4, two cache nodes 4 each, three
        # NAT gateways, the node group (2 metrics), the health check, and
        # failed backup, copy and restore jobs.
        + (4 + 4 + 8 + 3 + 2 + 1 + 3) * PRICES["cloudwatch"]["alarm_metric_per_month"]
        # The HTTPS health check of an AWS endpoint (the ALB).
        + PRICES["route53"]["health_check_per_month"]
        + PRICES["route53"]["health_check_feature_per_month"]
        # The data export's 100 GiB scratch volume: at most the 4 h a weekly run
        # may take and the 6 h its pod is kept after it.
        + 100 * PRICES["ebs"]["gp3_per_gb_month"] * (4 + 6) / 168
        # The Session Manager bastion, all month, and its 8 GiB root volume.
        + ec2["t4g.nano"] * HOURS
        + 8 * PRICES["ebs"]["gp3_per_gb_month"]
        # AWS Backup: the database's 500 GiB snapshot, and its copy in us-west-2.
        + 2 * 500 * PRICES["backup"]["rds_snapshot_per_gb_month"]
        # Four restore tests a year: a db.t4g.medium and 500 GiB gp3 for the
        # 4-hour validation window plus the hour the restore takes.
        + 4 / 12 * 5 * (rds["db.t4g.medium"] + 500 * PRICES["rds"]["gp3_per_gb_month"] / HOURS)
    )
    cost = estimate(production, budget=1800)
    assert cost.total == pytest.approx(expected, abs=0.01)
    assert cost.total <= 1800
    assert not cost.over_budget
    assert cost.unpriced == []


def test_every_custom_resource_has_a_line(plans):
    for plan in plans.values():
        cost = estimate(plan, budget=None)
        priced = {line.urn for line in cost.lines}
        assert priced == {r.urn for r in plan.resources if r.custom}


def test_node_groups_priced_at_desired_and_at_max(production):
    cost = estimate(production, budget=1800)
    node_lines = [line for line in cost.lines if line.type == "aws:eks/nodeGroup:NodeGroup"]
    instance = next(line for line in node_lines if "m5.large" in line.description)
    assert instance.monthly == pytest.approx(3 * 0.096 * HOURS)
    assert instance.monthly_at_max == pytest.approx(9 * 0.096 * HOURS)
    assert cost.total_at_max - cost.total == pytest.approx(6 * (0.096 * HOURS + 100 * 0.08))


def test_usage_priced_lines_depend_on_usage_until_given(staging):
    without = estimate(staging, budget=500)
    assert {line.type for line in without.usage_lines} == {
        "aws:ec2/natGateway:NatGateway",
        "aws:cloudwatch/logGroup:LogGroup",
        "aws:route53/zone:Zone",
        "kubernetes:elbv2.k8s.aws/v1beta1:IngressClassParams",  # the ALB's capacity units
        "aws:s3/bucket:Bucket",  # telemetry and access logs
        "aws:sns/topic:Topic",  # alarm notifications
    }
    assert all(line.monthly == 0 for line in without.usage_lines)
    with_usage = estimate(
        staging,
        budget=500,
        usage=Usage(
            nat_gateway_gb_per_month=100,
            log_ingestion_gb_per_month=2,
            alb_lcu_per_hour=1.5,
            dns_queries_millions_per_month=3,
            s3_storage_gb=40,
            sns_https_notifications_per_month=200_000,
        ),
    )
    assert with_usage.usage_lines == []
    log_groups = len(staging.of_type("aws:cloudwatch/logGroup:LogGroup"))
    buckets = len(staging.of_type("aws:s3/bucket:Bucket"))
    assert with_usage.total - without.total == pytest.approx(
        100 * 0.045
        + log_groups * 2 * 0.5
        + 1.5 * HOURS * 0.008
        + 3 * 0.40
        + buckets * 40 * 0.023
        + 2 * 0.06
    )


def test_a_type_missing_from_the_table_is_listed_as_unpriced(project):
    plan = evaluate(
        "staging",
        project_dir=REPO,
        config_overrides={"stagecraft:nodeInstanceType": "c7i.2xlarge"},
    )
    cost = estimate(plan, budget=500)
    (unpriced,) = cost.unpriced
    assert unpriced.type == "aws:eks/nodeGroup:NodeGroup"
    assert "EC2 c7i.2xlarge: not in the price table" in unpriced.description
    assert unpriced.monthly == 0


def test_free_types_are_free_and_unknown_types_are_not():
    assert is_free("aws:ec2/subnet:Subnet")
    assert is_free("kubernetes:core/v1:Namespace")
    assert not is_free("aws:rds/instance:Instance")
    assert not is_free("aws:s3/bucket:Bucket")


def test_cli_lists_every_priced_resource_and_the_total(capsys):
    assert main(["--project-dir", str(REPO), "cost", "--stack", "production"]) == 0
    out = capsys.readouterr().out
    assert "db.m5.large Multi-AZ primary" in out
    assert "2 x cache.m6g.large" in out
    assert "3 x m5.large (max 9)" in out
    assert "depends on usage" in out
    assert "t4g.nano, 730 h x $0.0042" in out  # the Session Manager bastion
    assert "production: $1,390.56/month at desired size" in out
    assert "within budget" in out


def test_cli_json_and_fail_over_budget(scratch, capsys):
    edit_stack(scratch, "dev", **{"stagecraft:monthlyBudgetUsd": 100})
    args = ["--project-dir", str(scratch), "cost", "--stack", "dev", "--format", "json"]
    assert main(args) == 0  # informational without the flag
    document = json.loads(capsys.readouterr().out)
    (dev,) = document["stacks"]
    assert dev["overBudget"] is True
    assert dev["budget"] == 100
    assert main([*args, "--fail-over-budget"]) == 1
    assert "over budget: dev" in capsys.readouterr().err


def test_usage_file_is_validated(tmp_path, capsys):
    usage = tmp_path / "usage.yaml"
    usage.write_text("nat_gigabytes: 10\n")
    code = main(["--project-dir", str(REPO), "cost", "--stack", "dev", "--usage", str(usage)])
    assert code == 2
    assert "unknown keys nat_gigabytes" in capsys.readouterr().err


def test_usage_file_per_stack_overrides(tmp_path, staging):
    from stagecraft.cost import load_usage

    usage = tmp_path / "usage.yaml"
    usage.write_text(
        "nat_gateway_gb_per_month: 10\nstacks:\n  staging:\n    nat_gateway_gb_per_month: 400\n"
    )
    assert load_usage(usage, "staging").nat_gateway_gb_per_month == 400
    assert load_usage(usage, "dev").nat_gateway_gb_per_month == 10


def test_price_table_is_complete_for_every_shipped_stack(plans):
    prices = load_prices()
    for plan in plans.values():
        assert estimate(plan, budget=None, prices=prices).unpriced == []


def test_a_region_the_price_table_lacks_is_unpriced_and_says_why(scratch, capsys):
    # Prices differ between regions: pricing eu-west-1 from the us-east-1
    # table would be a wrong number that looks right.
    edit_stack(scratch, "dev", **{"aws:region": "eu-west-1"})
    assert main(["--project-dir", str(scratch), "cost", "--stack", "dev"]) == 0
    out = capsys.readouterr().out
    assert "UNPRICED" in out
    assert (
        "note: The stack runs in eu-west-1; the price table holds us-east-1 prices only, so "
        "its resources are listed as UNPRICED, not estimated."
    ) in " ".join(out.split())
    assert "budget $200.00: not known:" in out
    assert main(["--project-dir", str(scratch), "cost", "--stack", "dev", "--format", "json"]) == 0
    document = json.loads(capsys.readouterr().out)["stacks"][0]
    assert document["monthly"] == 0
    assert document["budgetStatus"].startswith("not known: ")
    assert document["unpriced"] >= 10  # every chargeable resource
    assert any("eu-west-1" in note for note in document["notes"])
