"""Point-in-time restore: config, the plan and diff it makes, the gate, and `stagecraft restore`."""

from __future__ import annotations

import dataclasses
import json
import subprocess
from datetime import UTC, datetime

import pytest

from infra.config import ConfigError
from policy.harness import config_path_for, evaluate_rule, load_policy_config
from policy.rules import RULES_BY_NAME
from stagecraft import restore as restore_module
from stagecraft.cli.main import main
from stagecraft.cost import estimate
from stagecraft.diff import compare_plans, render_json
from stagecraft.gate import STATEFUL_TYPES, evaluate_gate, parse_gate_input, render_text
from stagecraft.offline.engine import evaluate
from stagecraft.report import plan_rows
from stagecraft.transitions import refused_transitions
from tests.conftest import REPO, edit_stack, stack_config

DB = "aws:rds/instance:Instance"
ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"
WHEN = "2026-12-01T09:30:00Z"
RESTORE = {"stagecraft:dbRestoreTime": WHEN, "stagecraft:dbRestoreName": "r202612010930"}
NEW = "stagecraft-production-r202612010930"


@pytest.fixture(scope="module")
def restored():
    return evaluate("production", project_dir=REPO, config_overrides=RESTORE)


@pytest.fixture(scope="module")
def diff(production, restored):
    return compare_plans(
        production, restored, title="restore", before_label="now", after_label="restored"
    )


def _changes(diff, type_token=None):
    return {c.name: c for c in diff.changes if type_token in (None, c.type)}


# --- config ----------------------------------------------------------------------------


def test_a_restore_is_accepted_with_its_time_and_name(project):
    database = stack_config(
        project, "production", dbRestoreTime=WHEN, dbRestoreName="r202612010930"
    ).database
    assert database.restoring
    assert (database.restore_time, database.restore_name) == (WHEN, "r202612010930")
    assert not stack_config(project, "production").database.restoring


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"dbRestoreTime": "2026-12-01 09:30", "dbRestoreName": "r1"},
         'stagecraft:dbRestoreTime = "2026-12-01 09:30": must be an RFC 3339 UTC timestamp'),
        ({"dbRestoreTime": "2026-12-01T09:30:00+01:00", "dbRestoreName": "r1"},
         "must be an RFC 3339 UTC timestamp with seconds"),
        ({"dbRestoreTime": "2026-02-30T09:30:00Z", "dbRestoreName": "r1"},
         "is not a real date and time"),
        ({"dbRestoreTime": "2999-01-01T00:00:00Z", "dbRestoreName": "r1"}, "is in the future"),
        ({"dbRestoreTime": WHEN},
         "a point-in-time restore needs both dbRestoreTime and dbRestoreName; set dbRestoreName"),
        ({"dbRestoreName": "r1"}, "set dbRestoreTime too"),
        ({"dbRestoreSourceIdentifier": "stagecraft-production"},
         "is only read by a restore: set dbRestoreTime and dbRestoreName too"),
        ({"dbRestoreTime": WHEN, "dbRestoreName": "R1"}, "lowercase letters, digits and single"),
        ({"dbRestoreTime": WHEN, "dbRestoreName": "r--1"}, "lowercase letters, digits and single"),
        ({"dbRestoreTime": WHEN, "dbRestoreName": "r" * 21}, "must be 1-20"),
        ({"dbRestoreTime": WHEN, "dbRestoreName": "r1", "dbRestoreSourceIdentifier": "Prod_DB"},
         "must be an RDS instance identifier"),
        ({"dbRestoreTime": WHEN, "dbRestoreName": "r1",
          "dbRestoreSourceIdentifier": "stagecraft-production-r1"},
         "names the source instance itself ('stagecraft-production-r1')"),
    ],
)  # fmt: skip
def test_a_bad_restore_is_one_clear_problem(project, overrides, message):
    with pytest.raises(ConfigError) as caught:
        stack_config(project, "production", **overrides)
    assert [p for p in caught.value.problems if message in str(p)], caught.value.problems
    assert len(caught.value.problems) == 1, caught.value.problems


# --- the plan and its diff against the running stack -----------------------------------


def test_the_primary_is_replaced_by_a_restore_under_a_new_identifier(diff, restored):
    primary = _changes(diff, DB)["stagecraft-production-database"]
    assert primary.action == "replace"
    assert not primary.delete_before_replace  # created first: the identifiers differ
    assert {
        "restoreToPointInTime.restoreTime",
        "restoreToPointInTime.sourceDbInstanceIdentifier",
    } <= set(primary.replace_reasons)
    inputs = next(r for r in restored.of_type(DB) if r.name == primary.name).inputs
    assert inputs["identifier"] == NEW
    assert inputs["restoreToPointInTime"] == {
        "restoreTime": WHEN,
        "sourceDbInstanceIdentifier": "stagecraft-production",
    }
    assert restored.outputs["databaseIdentifier"] == NEW
    # The database comes from the backups; a name for it is not sent.
    assert "dbName" not in inputs


def test_the_replica_follows_the_restored_primary(diff):
    replica = _changes(diff, DB)["stagecraft-production-database-replica-1"]
    assert replica.action == "replace"
    assert replica.replace_reasons == ["replicateSourceDb"]
    changed = {p.path: p.after for p in replica.properties}
    assert changed["replicateSourceDb"] == NEW
    assert changed["identifier"] == f"{NEW}-replica-1"


def test_nothing_else_stateful_is_replaced_or_deleted(diff):
    assert not [c.name for c in diff.changes if c.action in ("delete", "create")]
    replaced_stateful = {
        c.name for c in diff.changes if c.action == "replace" and c.type in STATEFUL_TYPES
    }
    assert replaced_stateful == {
        "stagecraft-production-database",
        "stagecraft-production-database-replica-1",
    }
    replaced_types = {c.type for c in diff.changes if c.action == "replace"}
    # New names for the logs, new values (the address) for the secrets and the
    # roles job, and AWS Backup's selection of the primary (immutable, it names
    # the instance's ARN); no cache, bucket, key, cluster, namespace, vault or
    # secret itself.
    assert replaced_types == {
        DB,
        LOG_GROUP,
        "aws:secretsmanager/secretVersion:SecretVersion",
        "kubernetes:core/v1:Secret",
        "kubernetes:batch/v1:Job",
        "aws:backup/selection:Selection",
    }


def test_the_alarms_keep_their_names_and_move_their_dimension_in_place(diff):
    alarms = _changes(diff, ALARM)
    assert len(alarms) == 8  # four on the primary, four on the replica
    for alarm in alarms.values():
        assert alarm.action == "update"
        dimension = {p.path: p.after for p in alarm.properties}["dimensions.DBInstanceIdentifier"]
        assert dimension.startswith(NEW)


def test_the_old_instance_and_its_logs_are_retained_not_deleted(production, restored):
    for plan in (production, restored):
        kept = {r.name for r in plan.resources if r.retain_on_delete}
        assert {
            "stagecraft-production-database",
            "stagecraft-production-database-replica-1",
            "stagecraft-production-database-logs-primary-postgresql",
            "stagecraft-production-database-logs-replica-1-upgrade",
        } <= kept
        assert all(r.type in (DB, LOG_GROUP) for r in plan.resources if r.retain_on_delete)
    assert all(r.protect and r.inputs["deletionProtection"] for r in restored.of_type(DB))


def test_an_unprotected_stack_lets_the_old_instance_go(staging):
    assert not [r.name for r in staging.resources if r.retain_on_delete]


def test_the_restored_instance_costs_what_the_primary_did(production, restored):
    before, after = estimate(production, budget=1800), estimate(restored, budget=1800)
    assert after.total == pytest.approx(before.total)
    assert after.by_urn() == before.by_urn()


def test_latest_asks_rds_for_the_latest_restorable_time():
    plan = evaluate(
        "production",
        project_dir=REPO,
        config_overrides={**RESTORE, "stagecraft:dbRestoreTime": "latest"},
    )
    primary = next(r for r in plan.of_type(DB) if "replicateSourceDb" not in r.inputs)
    assert primary.inputs["restoreToPointInTime"] == {
        "sourceDbInstanceIdentifier": "stagecraft-production",
        "useLatestRestorableTime": True,
    }


def test_the_gate_fails_it_as_a_replacement_and_says_it_is_a_restore(diff):
    steps, refused = parse_gate_input(render_json([diff]))
    result = evaluate_gate(steps, refused=refused)
    assert not result.passed
    assert {o.name for o in result.offenders} == {
        "stagecraft-production-database",
        "stagecraft-production-database-replica-1",
    }
    text = render_text(result)
    assert "a point-in-time restore (dbRestoreTime): a NEW instance replaces this one" in text
    assert "a read replica following its restored primary" in text
    allowed = evaluate_gate(steps, labels=["stagecraft:allow-data-loss"], refused=refused)
    assert allowed.passed


def test_the_report_says_the_stack_runs_on_a_restored_instance(project, production, restored):
    config = stack_config(project, "production", dbRestoreTime=WHEN, dbRestoreName="r202612010930")
    rows = plan_rows(restored, config, estimate(restored, budget=1800))
    assert rows["Database restored to a point in time"] == (
        f"yes: {NEW}, from stagecraft-production at {WHEN}"
    )
    normal = plan_rows(
        production, stack_config(project, "production"), estimate(production, budget=1800)
    )
    assert normal["Database restored to a point in time"] == "no (the original instance)"


# --- transitions: what a running, restored environment refuses -------------------------


def _values(**keys: str) -> dict[str, str]:
    return {f"stagecraft:{k}": v for k, v in keys.items()}


@pytest.mark.parametrize(
    ("before", "after", "refused"),
    [
        ({}, {"dbRestoreTime": WHEN, "dbRestoreName": "r1"}, False),
        ({"dbRestoreTime": WHEN, "dbRestoreName": "r1"}, {}, True),
        ({"dbRestoreTime": WHEN, "dbRestoreName": "r1"},
         {"dbRestoreTime": "latest", "dbRestoreName": "r1"}, True),
        ({"dbRestoreTime": WHEN, "dbRestoreName": "r1"},
         {"dbRestoreTime": "latest", "dbRestoreName": "r2",
          "dbRestoreSourceIdentifier": "stagecraft-production-r1"}, False),
        ({"dbRestoreTime": WHEN, "dbRestoreName": "r1"},
         {"dbRestoreTime": WHEN, "dbRestoreName": "r1"}, False),
    ],
)  # fmt: skip
def test_restore_transitions(before, after, refused):
    found = refused_transitions(_values(**before), _values(**after))
    assert [r.key for r in found] == (["stagecraft:dbRestoreName"] if refused else [])


def test_dropping_the_keys_says_why(project):
    (refusal,) = refused_transitions(_values(dbRestoreTime=WHEN, dbRestoreName="r1"), {})
    assert "replace it with a new, EMPTY instance" in refusal.rule


# --- `stagecraft restore` ---------------------------------------------------------------


@pytest.fixture
def pinned_now(monkeypatch):
    now = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
    monkeypatch.setattr(restore_module, "now_utc", lambda: now)
    return now


def _restore(scratch, *args):
    return main(["--project-dir", str(scratch), "restore", "--stack", "production", *args])


def test_the_command_writes_the_keys_and_prints_the_steps(scratch, pinned_now, capsys):
    path = scratch / "Pulumi.production.yaml"
    original = path.read_text()
    assert _restore(scratch, "--to", WHEN, "--write") == 0
    out = capsys.readouterr().out
    text = path.read_text()
    assert 'stagecraft:dbRestoreTime: "2026-12-01T09:30:00Z"' in text
    assert "stagecraft:dbRestoreSourceIdentifier: stagecraft-production\n" in text
    assert "stagecraft:dbRestoreName: r202612010930\n" in text
    # Only added lines: every comment and key of the file is still there, in order.
    assert [line for line in text.splitlines() if line in original.splitlines()] == (
        original.splitlines()
    )
    assert f"-> NEW instance {NEW}" in out
    assert "stagecraft diff --stack production --base HEAD" in out
    assert (
        "pulumi state unprotect --stack production 'urn:pulumi:production::stagecraft::"
        "stagecraft:index:Environment$stagecraft:index:Database$aws:rds/instance:Instance::"
        "stagecraft-production-database-replica-1'"
    ) in out
    assert "stagecraft restore --stack production --from stagecraft-production --to latest" in out
    assert "aws rds delete-db-instance --db-instance-identifier stagecraft-production " in out
    # The written file plans as the restore.
    plan = evaluate("production", project_dir=scratch)
    assert plan.outputs["databaseIdentifier"] == NEW

    # A second restore (switching back) reads from the instance running now
    # and replaces the keys rather than adding more.
    assert _restore(scratch, "--to", "latest", "--from", "stagecraft-production", "--write") == 0
    text = path.read_text()
    assert text.count("stagecraft:dbRestoreTime:") == 1
    assert text.count("# Point-in-time restore") == 1
    assert "stagecraft:dbRestoreName: r202612041200\n" in text
    assert 'stagecraft:dbRestoreTime: "latest"' in text


def test_without_write_the_file_is_untouched(scratch, pinned_now, capsys):
    path = scratch / "Pulumi.production.yaml"
    before = path.read_text()
    assert _restore(scratch, "--to", WHEN) == 0
    assert path.read_text() == before
    assert "add to Pulumi.production.yaml (or rerun with --write):" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--to", "2026-12-05T00:00:00Z"], "--to 2026-12-05T00:00:00Z: is in the future"),
        (["--to", "yesterday"], "--to yesterday: must be an RFC 3339 UTC timestamp"),
        (["--to", "2026-10-01T00:00:00Z"],
         "older than stagecraft-production's backup retention (30 days, earliest "
         "2026-11-04T12:00:00Z)"),
        (["--to", WHEN, "--name", "Restored"], "--name Restored: must be 1-20 lowercase"),
        (["--to", WHEN, "--from", "Prod_DB"], "--from Prod_DB: must be an RDS instance identifier"),
        (["--to", WHEN, "--from", "stagecraft-production-r1", "--name", "r1"],
         "the identifier of its source"),
    ],
)  # fmt: skip
def test_bad_requests_are_one_error(scratch, pinned_now, capsys, args, message):
    path = scratch / "Pulumi.production.yaml"
    before = path.read_text()
    assert _restore(scratch, *args, "--write") == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: "), err
    assert message in err, err
    assert "\n" not in err
    assert path.read_text() == before


def test_an_unknown_stack_is_one_error(scratch, pinned_now, capsys):
    code = main(["--project-dir", str(scratch), "restore", "--stack", "prod", "--to", WHEN])
    assert code == 2
    assert "no stack 'prod'" in capsys.readouterr().err


def test_the_plan_json_records_retain_on_delete(restored):
    document = json.loads(json.dumps([r.to_json() for r in restored.of_type(DB)]))
    assert all(r["retainOnDelete"] for r in document)


# --- another environment's backups -----------------------------------------------------


def test_a_restore_from_another_environment_is_refused(project):
    with pytest.raises(ConfigError) as caught:
        stack_config(
            project,
            "staging",
            dbRestoreTime=WHEN,
            dbRestoreName="r1",
            dbRestoreSourceIdentifier="stagecraft-production",
        )
    (problem,) = caught.value.problems
    assert str(problem).startswith(
        'stagecraft:dbRestoreSourceIdentifier = "stagecraft-production": must be one of this '
        "environment's own instances ('stagecraft-staging' or 'stagecraft-staging-<name>')"
    )


@pytest.fixture(scope="module")
def staging_restored():
    return evaluate(
        "staging",
        project_dir=REPO,
        config_overrides={"stagecraft:dbRestoreTime": WHEN, "stagecraft:dbRestoreName": "r1"},
    )


def _isolation(plan):
    return evaluate_rule(
        RULES_BY_NAME["environment-isolation"],
        plan,
        load_policy_config(config_path_for(plan.stack)),
    )


def test_the_isolation_policy_passes_a_restore_from_the_environment_itself(staging_restored):
    verdict = _isolation(staging_restored)
    assert verdict.status == "pass", verdict.violations


def test_the_isolation_policy_fails_a_restore_from_production(staging_restored):
    # The config refuses it first; the policy holds even if a program did not.
    resources = [
        dataclasses.replace(
            r,
            inputs={
                **r.inputs,
                "restoreToPointInTime": {
                    **r.inputs["restoreToPointInTime"],
                    "sourceDbInstanceIdentifier": "stagecraft-production",
                },
            },
        )
        if "restoreToPointInTime" in r.inputs
        else r
        for r in staging_restored.resources
    ]
    verdict = _isolation(dataclasses.replace(staging_restored, resources=resources))
    assert verdict.status == "fail"
    assert any("refers to environment 'production'" in v.message for v in verdict.violations)


# --- stacks that do not protect their data, or keep no backups --------------------------


def test_an_unprotected_stack_is_told_the_old_instance_goes(scratch, pinned_now, capsys):
    code = main(["--project-dir", str(scratch), "restore", "--stack", "staging", "--to", WHEN])
    assert code == 0
    out = capsys.readouterr().out
    assert "pulumi state unprotect" not in out
    assert "(NOT retained: this stack does not protect stateful resources" in out


def test_a_stack_without_backups_has_nothing_to_restore(scratch, pinned_now, capsys):
    edit_stack(scratch, "sandbox", **{"stagecraft:dbBackupRetentionDays": 0})
    code = main(["--project-dir", str(scratch), "restore", "--stack", "sandbox", "--to", WHEN])
    assert code == 2
    assert "sandbox keeps no automated backups (dbBackupRetentionDays: 0)" in (
        capsys.readouterr().err
    )


# --- tried on the plan: `stagecraft diff --base` and the gate, as a pull request would ----


@pytest.fixture
def clone(tmp_path):
    """The committed project in a throwaway git repository."""
    archive = subprocess.run(
        ["git", "-C", str(REPO), "archive", "--format=tar", "HEAD"],
        capture_output=True,
        check=True,
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(tmp_path)], input=archive, check=True)
    git = ["git", "-C", str(tmp_path), "-c", "user.email=t@example.com", "-c", "user.name=t"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-qm", "base"], check=True)
    return tmp_path, git


def test_the_restore_diffs_and_gates_as_a_replacement_of_the_database(clone, pinned_now, capsys):
    root, git = clone
    assert _restore(root, "--to", WHEN, "--write") == 0
    capsys.readouterr()
    out = root / "diff.json"
    code = main(
        ["--project-dir", str(root), "diff", "--stack", "production", "--base", "HEAD",
         "--write", f"json={out}"]
    )  # fmt: skip
    assert code == 0
    (stack,) = json.loads(out.read_text())["stacks"]
    actions = {(r["type"], r["name"]): r["action"] for r in stack["resources"]}
    assert actions[DB, "stagecraft-production-database"] == "replace"
    assert actions[DB, "stagecraft-production-database-replica-1"] == "replace"
    assert {a for (t, _), a in actions.items() if t == ALARM} == {"update"}
    assert not stack.get("refused")
    capsys.readouterr()
    assert main(["gate", str(out)]) == 1
    gate = capsys.readouterr().out
    assert "a point-in-time restore (dbRestoreTime)" in gate
    assert main(["gate", str(out), "--labels", "stagecraft:allow-data-loss"]) == 0

    # Once deployed, dropping the keys is refused by the diff, and so by the gate.
    subprocess.run([*git, "commit", "-qam", "restore production"], check=True)
    stack_file = root / "Pulumi.production.yaml"
    stack_file.write_text(
        "\n".join(line for line in stack_file.read_text().splitlines() if "dbRestore" not in line)
        + "\n"
    )
    capsys.readouterr()
    main(
        ["--project-dir", str(root), "diff", "--stack", "production", "--base", "HEAD",
         "--write", f"json={out}"]
    )  # fmt: skip
    (stack,) = json.loads(out.read_text())["stacks"]
    assert [r["key"] for r in stack["refused"]] == ["stagecraft:dbRestoreName"]
    capsys.readouterr()
    assert main(["gate", str(out), "--labels", "stagecraft:allow-data-loss"]) == 1
