"""`stagecraft`: offline plans, diffs, cost, reports and gates for the stagecraft stacks."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

import pulumi
from rich.console import Console

from infra.config import ConfigError
from stagecraft.cli import commands
from stagecraft.cli.commands import FORMATS
from stagecraft.envs import EnvError
from stagecraft.offline.stackfiles import StackFileError, load_project


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="stagecraft",
        description="Offline plans, diffs, cost estimates, reports and gates for the "
        "stagecraft Pulumi stacks.",
    )
    parser.add_argument(
        "--version", action="version", version=f"%(prog)s {_version()}", help="print the version"
    )
    parser.add_argument(
        "--verbose",
        "-v",
        action="store_true",
        help="say what is being planned on stderr even when it is not a terminal (CI logs)",
    )
    parser.add_argument(
        "--project-dir",
        type=Path,
        default=None,
        help="directory holding Pulumi.yaml (default: the nearest one above the cwd)",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    plan = sub.add_parser(
        "plan",
        help="show what `pulumi up` would create for a stack, without cloud access",
        description="Evaluate the real program for one stack under the Pulumi SDK's mock "
        "runtime, with that stack's Pulumi.<stack>.yaml as config.",
    )
    plan.add_argument(
        "--stack",
        "-s",
        action="append",
        required=True,
        help="stack name, e.g. staging; repeat it to plan several in one process",
    )
    plan.add_argument(
        "--json",
        action="store_true",
        help='print a machine-readable plan (several stacks: {"plans": [...]})',
    )

    sub.add_parser(
        "stacks",
        help="list the stacks that have a Pulumi.<stack>.yaml",
        description="Print the name of every full environment with a stack file here.",
    )
    validate = sub.add_parser(
        "validate",
        help="check every stack file, alone and against each other (overlapping VPCs, ...)",
        description="Validate every Pulumi.<stack>.yaml (and ephemeral/'s) as `pulumi up` "
        "would, then the rules across stacks: VPC ranges that overlap each other or an "
        "operator network, a small stack reusing another's namespace. Exit 1 on a problem.",
    )
    validate.add_argument(
        "--for-deploy",
        action="store_true",
        help="also refuse documentation values (the example account 123456789012, TEST-NET "
        "ranges, placeholder ids), as a real `pulumi up` does; offline plans accept them",
    )
    validate.add_argument(
        "--stack",
        "-s",
        action="append",
        metavar="STACK",
        help="with --for-deploy, repeatable: only these stacks must be free of documentation "
        "values (staging can be deployed before production's file is finished); every stack "
        "file is still validated",
    )

    diff = sub.add_parser(
        "diff",
        help="what a change does to a stack (against a git revision) or how two stacks differ",
        description="Compare the plan of each --stack at --base (a git revision, read "
        "without touching the working tree) with the working tree, or compare --stack "
        "with --against another stack.",
    )
    diff.add_argument(
        "--stack",
        "-s",
        action="append",
        help="repeatable; default: every full environment (dev, staging, production, sandbox)",
    )
    side = diff.add_mutually_exclusive_group(required=True)
    side.add_argument("--base", metavar="GIT_REF", help="revision to compare with, e.g. HEAD~1")
    side.add_argument("--against", metavar="STACK", help="another stack to compare with")
    diff.add_argument(
        "--format",
        choices=FORMATS,
        default=None,
        help="what to print on stdout (default: text, or nothing when --write is given)",
    )
    diff.add_argument(
        "--write",
        action="append",
        default=[],
        metavar="FORMAT=PATH",
        help="also write FORMAT (text, markdown or json) to PATH; repeatable, so one run "
        "produces the PR comment and the JSON artifact from the same plans",
    )
    diff.add_argument(
        "--audit",
        action="store_true",
        help="append the policy audit of every diffed stack (same plans, no second run) to "
        "the markdown and JSON; exit 1 when a mandatory policy fails",
    )
    diff.add_argument("--exit-code", action="store_true", help="exit 1 when there are differences")
    diff.add_argument(
        "--max-chars",
        type=int,
        default=65536,
        help="markdown: trim per-resource details so the whole comment (audit included) "
        "stays under this size (GitHub's comment limit by default)",
    )

    cost = sub.add_parser(
        "cost",
        help="monthly cost estimate per resource and per stack, against the budget",
        description="Price each stack's plan with the AWS us-east-1 list prices shipped in "
        "stagecraft/pricing, 730 hours a month; node groups at desired and at max size.",
    )
    cost.add_argument("--stack", "-s", action="append", help="repeatable; default: every stack")
    cost.add_argument("--usage", type=Path, help="YAML of volumes for usage-priced lines")
    cost.add_argument("--format", choices=FORMATS, default="text", help="output format")
    cost.add_argument(
        "--commitment",
        action="store_true",
        help="also price each stack's steady part (nodes at their minimum, databases, cache "
        "nodes) at one-year, no-upfront reserved prices",
    )
    cost.add_argument(
        "--fail-over-budget",
        action="store_true",
        help="exit 1 when a stack's desired-size estimate exceeds its monthlyBudgetUsd",
    )

    report = sub.add_parser(
        "report",
        help="the auditor's side-by-side view of every environment",
        description="Every sizing and safety setting per stack, deviations from the "
        "baseline (production) marked as intended (policy/exceptions.yaml) or unexplained; "
        "policy verdicts with their thresholds, cost against budget, the pr-<n> and "
        "dev-<name> stacks summarised, and the commit the stack files come from.",
    )
    report.add_argument("--stack", "-s", action="append", help="repeatable; default: every stack")
    report.add_argument(
        "--format",
        choices=("markdown", "html"),
        default="markdown",
        help="Markdown, or a self-contained HTML page (no scripts)",
    )
    report.add_argument("--output", "-o", type=Path, help="write here instead of stdout")
    report.add_argument("--baseline", default="production", help="stack others are held to")
    report.add_argument(
        "--no-small",
        dest="small",
        action="store_false",
        help="leave out the pr-<n> and dev-<name> stacks of ephemeral/ (default: summarised)",
    )
    report.add_argument(
        "--check",
        action="store_true",
        help="exit 1 when a deviation has no entry in policy/exceptions.yaml, or an entry is "
        "past its review date or covers nothing",
    )

    gate = sub.add_parser(
        "gate",
        help="fail a preview or diff that replaces or deletes stateful resources, or that AWS "
        "would refuse",
        description="Judge `pulumi preview --json` or `stagecraft diff --format json`: a "
        "stateful resource (database, cache, cluster, key, secret, namespace) replaced or "
        "deleted fails unless allowed; a change AWS refuses on a running environment always "
        "fails. Exit 1 on failure.",
    )
    gate.add_argument(
        "preview",
        nargs="?",
        default=None,
        help="the JSON file; - for standard input; omitted: standard input when piped",
    )
    gate.add_argument(
        "--allow",
        action="append",
        default=[],
        metavar="URN_OR_TYPE",
        help="let this resource (URN) or every resource of this type be replaced or deleted; "
        "repeatable",
    )
    gate.add_argument("--label", action="append", default=[], help="a PR label (repeatable)")
    gate.add_argument(
        "--labels",
        default="",
        help="PR labels, comma-separated (the label stagecraft:allow-data-loss allows all)",
    )
    gate.add_argument("--format", choices=("text", "json"), default="text", help="output format")

    audit = sub.add_parser(
        "audit",
        help="run the policy pack against a stack's offline plan",
        description="Evaluate the CrossGuard policies in policy/ against the offline plan, "
        "with the stack's policy config (policy/config/<stack>.json): exit 1 when a "
        "mandatory policy fails.",
    )
    audit.add_argument("--stack", "-s", action="append", help="repeatable; default: every stack")
    audit.add_argument("--format", choices=FORMATS, default="text", help="output format")
    audit.add_argument(
        "--policy-config",
        type=Path,
        help="policy config file (default: policy/config/<stack>.json)",
    )

    verify = sub.add_parser(
        "verify",
        help="compare the live AWS account with a stack's plan (read-only credentials)",
        description="Plan the stack offline, read the account with read-only calls "
        "(describe/list/get) and report, resource by resource, what differs from the plan: "
        "drift, planned resources that are missing, resources with the stack's tags the plan "
        "does not hold. Exit 1 on drift in a production-tier stack (any stack with "
        "--strict), 3 when the account cannot be read.",
    )
    verify.add_argument("--stack", "-s", required=True, help="a full environment, e.g. production")
    verify.add_argument("--format", choices=FORMATS, default="text", help="output format")
    verify.add_argument(
        "--strict", action="store_true", help="exit 1 on drift outside production too"
    )

    env = sub.add_parser(
        "env",
        help="create, list and garbage-collect pr-<n> and dev-<name> environments",
        description="Small environments on the shared staging (pr-<n>) and dev (dev-<name>) "
        "clusters, one stack file each in ephemeral/.",
    )
    env_sub = env.add_subparsers(dest="env_command", required=True, metavar="ACTION")
    env_create = env_sub.add_parser(
        "create",
        help="write ephemeral/Pulumi.<name>.yaml",
        description="Write (or rewrite, restarting its TTL) the stack file of a pr-<n> or "
        "dev-<name> environment.",
    )
    env_create.add_argument("name", help="pr-<1..999999> or dev-<lowercase name>")
    env_create.add_argument(
        "--ttl", default=None, help="lifetime, e.g. 7d or 36h (default: as before, else 7d)"
    )
    env_create.add_argument(
        "--own-database",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="its own small RDS instance instead of a database in the shared one "
        "(default: as before, else shared)",
    )
    env_create.add_argument(
        "--initial-data",
        choices=("seed", "anonymised"),
        default=None,
        help="what its database starts with: the seed data, or the anonymised copy of "
        "production staging keeps (pr-<n> only; default: as before, else seed)",
    )
    env_create.add_argument(
        "--organization",
        default="organization",
        help="Pulumi organization of the shared stack (self-managed backends: organization)",
    )
    env_sub.add_parser(
        "list",
        help="every stack file, its kind, parent, age and TTL",
        description="List every stack (full and pr-<n>/dev-<name>) with what it shares, how "
        "old it is and when it expires.",
    )
    env_gc = env_sub.add_parser(
        "gc",
        help="remove the environments whose TTL has passed",
        description="List the pr-<n>/dev-<name> environments past their TTL and the commands "
        "that remove them; --execute runs them (in-cluster database drop, pulumi destroy, "
        "pulumi stack rm).",
    )
    gc_mode = env_gc.add_mutually_exclusive_group()
    gc_mode.add_argument("--dry-run", action="store_true", help="only list (the default)")
    gc_mode.add_argument("--execute", action="store_true", help="run the removal commands")
    env_gc.add_argument(
        "--kind",
        choices=("preview", "developer"),
        default=None,
        help="only pr-<n> (preview) or only dev-<name> (developer) stacks; CI's role "
        "removes previews only (default: both)",
    )
    env_gc.add_argument(
        "--from-backend",
        action="store_true",
        help="find expired stacks in the state backend instead of stack files (CI)",
    )
    env_destroy = env_sub.add_parser(
        "destroy",
        help="remove one environment: drop its database in-cluster, then destroy",
        description="Print (or with --execute run) the commands that remove one pr-<n> or "
        "dev-<name> environment.",
    )
    env_destroy.add_argument("name", help="the environment, e.g. pr-42")
    env_destroy.add_argument(
        "--execute", action="store_true", help="run the commands instead of printing them"
    )

    restore = sub.add_parser(
        "restore",
        help="restore a stack's database to a point in time, as a new instance",
        description="Check a point-in-time restore of a stack's database, write (--write) "
        "or print the stack file keys that make `pulumi up` build the restored instance "
        "and switch the environment to it, plan the stack with them offline, and print "
        "the exact steps: review, unprotect, deploy, verify, switch back, clean up.",
    )
    restore.add_argument("--stack", "-s", required=True, help="a full environment")
    restore.add_argument(
        "--to",
        required=True,
        metavar="TIME",
        help="RFC 3339 UTC time, e.g. 2026-12-01T09:30:00Z, or 'latest' (the latest "
        "restorable time, a few minutes ago)",
    )
    restore.add_argument(
        "--from",
        dest="source",
        metavar="IDENTIFIER",
        help="RDS identifier of the instance to restore from (default: the stack's "
        "running primary)",
    )
    restore.add_argument(
        "--name",
        help="suffix of the new instance's identifier (default: r<YYYYMMDDHHMM> of the "
        "restore time)",
    )
    restore.add_argument(
        "--write", action="store_true", help="edit Pulumi.<stack>.yaml instead of printing the edit"
    )

    smoke = sub.add_parser(
        "check-outputs",
        help="check `pulumi stack output --json` describes a usable environment",
        description="After a deploy: every output the workflows and pr-<n>/dev-<name> stacks "
        "read is there and well formed. Exit 1 otherwise.",
    )
    smoke.add_argument(
        "outputs",
        nargs="?",
        default=None,
        help="the JSON file; - for standard input; omitted: standard input when piped",
    )

    smoke_test = sub.add_parser(
        "smoke-test",
        help="after a deploy: run the environment's smoke-test Job and fail on it",
        description="Start a Job from the stack's suspended CronJob smoke-test (database as "
        "the application's IAM user over verify-full TLS, Redis PING over TLS, the public "
        "health endpoint), wait until it completes or fails, print one line per check. Exit "
        "1 when a check failed or the run did not finish in time. Needs kubectl and the AWS "
        "CLI, as one of the cluster's admins.",
    )
    smoke_test.add_argument("--stack", "-s", required=True, help="a full environment, e.g. staging")
    smoke_test.add_argument(
        "--job",
        default=None,
        help="the run's Job name (default: smoke-test-<GITHUB_RUN_ID>-<GITHUB_RUN_ATTEMPT> in "
        "a workflow, else smoke-test-<UTC time>)",
    )
    smoke_test.add_argument(
        "--kubeconfig",
        default=None,
        help="a kubeconfig for the cluster (default: written by `aws eks update-kubeconfig` "
        "to .stagecraft-kubeconfig-<stack>)",
    )
    smoke_test.add_argument(
        "--dry-run", action="store_true", help="print the commands it would run, run nothing"
    )

    docs = sub.add_parser(
        "docs",
        help="regenerate (or check) the README tables",
        description="The README tables and the Pulumi.yaml config blocks are generated from "
        "the stack files and the config models: --write rewrites them, --check fails when "
        "they are stale.",
    )
    mode = docs.add_mutually_exclusive_group()
    mode.add_argument("--write", action="store_true", help="rewrite README.md in place")
    mode.add_argument("--check", action="store_true", help="exit 1 if README.md is stale")
    return parser


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("stagecraft")
    except PackageNotFoundError:
        return "(not installed)"


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    commands.configure_progress(args.verbose)
    err = Console(stderr=True, highlight=False, markup=False, emoji=False)
    try:
        if args.command == "gate":  # reads a preview file, needs no project
            return commands.gate(args)
        if args.command == "check-outputs":
            return commands.check_outputs(args)
        project = load_project(args.project_dir)
        handler = {
            "plan": commands.plan,
            "stacks": commands.stacks,
            "validate": commands.validate,
            "diff": commands.diff,
            "cost": commands.cost,
            "report": commands.report,
            "audit": commands.audit,
            "verify": commands.verify,
            "env": commands.env,
            "restore": commands.restore,
            "docs": commands.docs,
            "smoke-test": commands.smoke_test,
        }[args.command]
        return handler(project, args)
    except BrokenPipeError:
        # The reader stopped early (`| head`): say nothing more, to anyone.
        # Python's advice: point stdout at devnull so the exit flush is quiet.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return commands.EXIT_FAILED
    except (
        ConfigError,
        StackFileError,
        commands.UserError,
        EnvError,
        pulumi.RunError,
    ) as exc:
        # pulumi.RunError is how a Pulumi program reports a user-facing error:
        # `pulumi up` prints it without a traceback, and so does stagecraft.
        err.print(f"error: {exc}", soft_wrap=True)
        return commands.EXIT_USAGE


def run() -> NoReturn:
    """The `stagecraft` command: main(), then out without the interpreter's teardown.

    Unloading the Pulumi SDK's thousands of modules takes most of a second
    after the work is done, and every file stagecraft writes is closed by
    then; only the standard streams still need flushing.  A reader that
    stopped early (`stagecraft plan ... | head`) is not an error.
    """
    code = main()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except BrokenPipeError:
            # The reader left before the end (`| head`): exit 1 whichever
            # command it was, as when the pipe breaks mid-way.
            code = code or commands.EXIT_FAILED
        except ValueError:
            pass  # a stream already closed
    os._exit(code)


if __name__ == "__main__":
    run()
