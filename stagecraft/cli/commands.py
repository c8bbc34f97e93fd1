"""The `stagecraft` subcommands.  Heavy imports (the Pulumi SDK) happen per command."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from infra.config import stack_kind
from stagecraft.offline.stackfiles import Project, load_project, locate_project

EXIT_OK = 0
EXIT_FAILED = 1  # a check failed: docs stale, gate failed, over budget, differences
EXIT_USAGE = 2  # the user's input is wrong: bad stack, bad config, bad file
EXIT_UNVERIFIED = 3  # the live account could not be read: nothing is concluded

DOCUMENTED_ORDER = ("dev", "staging", "production")
BOOTSTRAP_DIR = "bootstrap"
FORMATS = ("text", "markdown", "json")


class UserError(Exception):
    """A mistake in what the user asked for; printed as one line, exit 2."""


_PROGRESS = {"verbose": False}


def configure_progress(verbose: bool) -> None:
    _PROGRESS["verbose"] = verbose


def progress(message: str) -> None:
    """Say what takes seconds, on stderr: to a person at a terminal, or when asked (-v).

    CI logs (stderr not a terminal) stay quiet unless --verbose.
    """
    if _PROGRESS["verbose"] or sys.stderr.isatty():
        print(f"stagecraft: {message}", file=sys.stderr, flush=True)


_WARNED: set[Path] = set()


def _warn_about_another_checkout(project: Project) -> None:
    """Plans run the program this stagecraft was installed with; say so when it is not the
    program beside the stack files (--project-dir pointing at another checkout)."""
    import infra

    installed = Path(infra.__file__).resolve().parent
    theirs = project.directory / "infra"
    if (
        (theirs / "__init__.py").is_file()
        and theirs.resolve() != installed
        and project.directory not in _WARNED
    ):
        _WARNED.add(project.directory)
        print(
            f"stagecraft: note: planning {project.directory}'s stack files with the program "
            f"installed from {installed}, not {theirs}; for that checkout's own program run "
            "its own stagecraft (make install there)",
            file=sys.stderr,
        )


def _plan(project: Project, stack: str, what: str = "") -> Any:
    from stagecraft.offline.engine import evaluate

    _warn_about_another_checkout(project)
    progress(f"planning {stack}{what}")
    return evaluate(stack, project_dir=locate_project(project, stack).directory)


def _console() -> Console:
    # Plain text only: values such as "[secret]" or ARNs with ":secret:" in
    # them must print verbatim, not as markup or emoji.
    console = Console(highlight=False, markup=False, emoji=False)
    if not console.is_terminal:
        console = Console(highlight=False, markup=False, emoji=False, width=250)
    return console


def ordered_stacks(
    project: Project, requested: list[str] | None, *, full_only: bool = False
) -> list[str]:
    """The stacks asked for (checked), or every stack of the project in the table's order."""
    available = project.stacks()
    if requested:
        for stack in requested:
            locate_project(project, stack)  # raises UnknownStackError with the list
        return list(dict.fromkeys(requested))
    if full_only:
        available = [s for s in available if stack_kind(s) == "environment"]
    known = [s for s in DOCUMENTED_ORDER if s in available]
    return known + [s for s in available if s not in known]


def plan(project: Project, args: argparse.Namespace) -> int:
    from stagecraft.cli.render import print_plan

    stacks = ordered_stacks(project, args.stack)
    results = [_plan(project, s) for s in stacks]
    if args.json:
        document = (
            results[0].to_json() if len(results) == 1 else {"plans": [r.to_json() for r in results]}
        )
        json.dump(document, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        for result in results:
            print_plan(result, _console())
    return EXIT_OK


def stacks(project: Project, args: argparse.Namespace) -> int:
    del args
    for stack in project.stacks():
        print(stack)
    return EXIT_OK


def validate(project: Project, args: argparse.Namespace) -> int:
    from stagecraft.stackset import cross_stack_problems, load_stack_set, policy_config_problems

    deploying = None
    if args.stack:
        if not args.for_deploy:
            raise UserError("--stack narrows --for-deploy; without it every stack is validated")
        for name in args.stack:
            locate_project(project, name)  # an unknown stack: one error naming the known ones
        deploying = frozenset(args.stack)
    stacks, errors = load_stack_set(project, for_deploy=args.for_deploy, deploying=deploying)
    problems = [
        str(p) for p in [*cross_stack_problems(stacks), *policy_config_problems(project, stacks)]
    ]
    for line in [*errors, *problems]:
        print(f"error: {line}", file=sys.stderr)
    if errors or problems:
        return EXIT_FAILED
    print(
        f"{len(stacks.full)} environments and {len(stacks.small)} pr-<n>/dev-<name> stacks: "
        "every stack file is valid and none conflicts with another"
        + _deploy_verdict(args.for_deploy, deploying)
    )
    return EXIT_OK


def _deploy_verdict(for_deploy: bool, deploying: frozenset[str] | None) -> str:
    if not for_deploy:
        return ""
    if deploying is None:
        return ", and none holds a documentation value"
    named = sorted(deploying)
    verb = "holds" if len(named) == 1 else "hold"
    return f", and {', '.join(named)} {verb} no documentation value"


def _config_of(project: Project, stack: str) -> Any:
    """The validated config of ``stack``: a full environment, a small stack or a bootstrap."""
    from infra.config import parse_bootstrap_config, parse_ephemeral_config, parse_stack_config

    holder = locate_project(project, stack)
    config = holder.config_map(stack)
    if holder.directory == project.directory:
        return parse_stack_config(
            config.values, project=holder.name, stack=stack, secret_keys=config.secret_keys
        )
    if holder.directory.name == BOOTSTRAP_DIR:
        return parse_bootstrap_config(
            config.values, project=holder.name, stack=stack, secret_keys=config.secret_keys
        )
    return parse_ephemeral_config(
        config.values, project=holder.name, stack=stack, secret_keys=config.secret_keys
    )


def _estimate(project: Project, stack: str, plan_result: Any, **kwargs: Any) -> Any:
    from infra.config import EphemeralStackConfig
    from stagecraft.cost import estimate

    config = _config_of(project, stack)
    shared_gb = None
    if isinstance(config, EphemeralStackConfig) and not config.shared.own_database:
        shared_gb = config.shared.db_storage_estimate_gb
    general = getattr(config, "general", None)  # a bootstrap has no budget of its own
    return estimate(
        plan_result,
        budget=general.monthly_budget_usd if general else None,
        shared_database_gb=shared_gb,
        **kwargs,
    )


def _estimate_removed(plan_result: Any, values: dict[str, str] | None) -> Any:
    """The cost of a stack whose file is gone, under the budget its file had."""
    from stagecraft.cost import estimate

    budget = (values or {}).get(f"{plan_result.project}:monthlyBudgetUsd")
    return estimate(plan_result, budget=int(budget) if budget and budget.isdigit() else None)


def _outputs(args: argparse.Namespace) -> tuple[str | None, dict[str, Path]]:
    """(stdout format or None, format -> file) from --format and --write."""
    written: dict[str, Path] = {}
    for item in args.write:
        fmt, _, path = item.partition("=")
        if fmt not in FORMATS or not path:
            raise UserError(
                f"--write {item!r}: expected FORMAT=PATH with FORMAT one of {', '.join(FORMATS)}"
            )
        written[fmt] = Path(path)
    stdout = args.format or (None if written else "text")
    return stdout, written


def diff(project: Project, args: argparse.Namespace) -> int:
    stdout_format, written = _outputs(args)
    requested = ordered_stacks(project, args.stack, full_only=args.stack is None)
    base_plans = None
    if args.base:
        # Before the SDK is imported here: the base revision is planned in a
        # child process while this one plans the working tree.
        from stagecraft.revision import RevisionError
        from stagecraft.revision import start as start_revision

        try:
            base_plans = start_revision(
                project.directory, args.base, requested, include_removed=args.stack is None
            )
        except RevisionError as exc:
            raise UserError(str(exc)) from None

    from stagecraft.diff import as_applied, compare_plans, plan_from_json, render
    from stagecraft.revision import RevisionError
    from stagecraft.transitions import refused_transitions

    if base_plans is not None:
        progress(f"planning {', '.join(base_plans.stacks)} at {base_plans.label} in the background")
    current = {s: _plan(project, s, " (working tree)") for s in requested}
    costs = {s: _estimate(project, s, plan) for s, plan in current.items()}
    results = []
    if args.against:
        other = _plan(project, args.against)
        cost_other = _estimate(project, args.against, other)
        for stack in requested:
            results.append(
                compare_plans(
                    current[stack],
                    other,
                    title=f"{stack} -> {args.against}",
                    before_label=stack,
                    after_label=args.against,
                    cost_before=costs[stack],
                    cost_after=cost_other,
                )
            )
    else:
        assert base_plans is not None
        try:
            documents = base_plans.wait()
        except RevisionError as exc:
            raise UserError(str(exc)) from None
        for stack in [*requested, *base_plans.removed]:
            document = documents.get(stack)
            base = plan_from_json(document) if document else None
            if stack in base_plans.removed:
                # The stack file is gone: `pulumi destroy` would delete all of it.
                results.append(
                    compare_plans(
                        base,
                        None,
                        title=f"{stack}: {base_plans.label} -> working tree (stack file removed)",
                        before_label=base_plans.label,
                        after_label="working tree",
                        cost_before=_estimate_removed(base, base_plans.config_values.get(stack))
                        if base
                        else None,
                    )
                )
                continue
            before_values = base_plans.config_values.get(stack)
            refusals = (
                refused_transitions(before_values, _config_values(project, stack))
                if before_values is not None
                else []
            )
            results.append(
                compare_plans(
                    base,
                    current[stack],
                    title=f"{stack}: {base_plans.label} -> working tree",
                    before_label=base_plans.label,
                    after_label="working tree",
                    cost_before=_estimate(project, stack, base) if base else None,
                    # What will run: values ignored after creation (the node
                    # group's desired size) stay as the running stack has them.
                    cost_after=_estimate(project, stack, as_applied(base, current[stack]))
                    if base
                    else costs[stack],
                    refusals=refusals,
                )
            )

    audits = _audit_results(project, current) if args.audit else None
    for fmt, path in written.items():
        _write(path, render(fmt, results, audits=audits, limit=args.max_chars), f"--write {fmt}")
    if stdout_format:
        sys.stdout.write(render(stdout_format, results, audits=audits, limit=args.max_chars))
    failed = any(d.refusals for d in results)
    if audits is not None and not all(a.passed for a in audits):
        failed = True
    if args.exit_code and any(d.changes for d in results):
        failed = True
    return EXIT_FAILED if failed else EXIT_OK


def _write(path: Path, text: str, option: str) -> None:
    """Write an output file the user named; a path that cannot be written is their error."""
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise UserError(f"{option} {path}: cannot write it ({exc.strerror})") from None


def _config_values(project: Project, stack: str) -> dict[str, str]:
    return locate_project(project, stack).config_map(stack).values


def _audit_results(project: Project, plans: dict[str, Any]) -> list[Any]:
    from policy.harness import PolicyConfigError, config_path_for, load_policy_config
    from policy.harness import audit as run_audit

    results = []
    for stack, plan_result in plans.items():
        path = config_path_for(stack)
        try:
            config = load_policy_config(path)
        except PolicyConfigError as exc:
            raise UserError(str(exc)) from None
        results.append(run_audit(plan_result, config, config_source=_shown_path(project, path)))
    return results


def _shown_path(project: Project, path: Path | None) -> str:
    """A policy config as a reader of the PR finds it: relative to the repository."""
    if path is None:
        return "(none: every policy advisory)"
    resolved = path.resolve()
    for root in (project.directory.resolve(), Path.cwd().resolve()):
        if resolved.is_relative_to(root):
            return str(resolved.relative_to(root))
    return f"policy/config/{path.name}"


def cost(project: Project, args: argparse.Namespace) -> int:
    from stagecraft.cost import PricingError, Usage, commitment, load_prices, load_usage

    try:
        prices = load_prices()
        estimates = []
        commitments = []
        for stack in ordered_stacks(project, args.stack):
            usage = load_usage(args.usage, stack) if args.usage else Usage()
            result = _plan(project, stack)
            estimate = _estimate(project, stack, result, prices=prices, usage=usage)
            estimates.append(estimate)
            if args.commitment:
                commitments.append(commitment(result, estimate, prices))
    except PricingError as exc:
        raise UserError(str(exc)) from None

    if args.format == "json":
        document: dict[str, Any] = {"stacks": [e.to_json() for e in estimates]}
        if args.commitment:
            document["commitments"] = [c.to_json() for c in commitments]
        json.dump(document, sys.stdout, indent=2)
        sys.stdout.write("\n")
    elif args.format == "markdown":
        sys.stdout.write(_cost_markdown(estimates))
        if args.commitment:
            sys.stdout.write(_commitment_markdown(commitments))
    else:
        _cost_text(estimates, _console())
        for c in commitments:
            _commitment_text(c, _console())
    over = [e.stack for e in estimates if e.over_budget]
    if over and args.fail_over_budget:
        print(f"over budget: {', '.join(over)}", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK


def _cost_text(estimates: list[Any], console: Console) -> None:
    from stagecraft.cost import money

    for e in estimates:
        table = Table(title=f"{e.stack}: estimated monthly cost (USD)", title_justify="left")
        table.add_column("resource")
        table.add_column("type")
        table.add_column("what")
        table.add_column("monthly", justify="right")
        table.add_column("at max nodes", justify="right")
        for line in e.lines:
            if line.kind == "free":
                continue
            shown = {
                "priced": money(line.monthly),
                "usage": "depends on usage",
                "unpriced": "UNPRICED",
            }[line.kind]
            at_max = money(line.monthly_at_max) if line.kind == "priced" else ""
            table.add_row(line.name, line.type, line.description, shown, at_max)
        console.print(table)
        free = sum(1 for line in e.lines if line.kind == "free")
        status = e.budget_status
        if e.total_always_on - e.total > 0.005:
            console.print(
                f"{e.stack}: {money(e.total_always_on)}/month always on and on demand; "
                f"{money(e.total)} with the off-hours schedule and Spot prices: saves "
                f"{money(e.total_always_on - e.total)} ({e.saving_percent:.0f}%)."
            )
        console.print(
            f"{e.stack}: {money(e.total)}/month at desired size, {money(e.total_at_max)} at max "
            f"size; "
            + (f"budget {money(e.budget)}: {status}" if e.budget is not None else "no budget")
            + f". {free} resources at no charge, "
            f"{len(e.usage_lines)} usage-priced, {len(e.unpriced)} unpriced. Prices read "
            f"{e.prices_read_on}."
        )
        for note in e.notes:
            console.print(f"  note: {note}")
        console.print()


def _commitment_text(c: Any, console: Console) -> None:
    from stagecraft.cost import money

    table = Table(
        title=f"{c.stack}: the steady part with a one-year, no-upfront commitment (USD/month)",
        title_justify="left",
    )
    for column in ("resource", "what", "on demand", "committed"):
        table.add_column(
            column, justify="right" if column in ("on demand", "committed") else "left"
        )
    for line in c.lines:
        table.add_row(
            line.name,
            line.what,
            money(line.on_demand),
            "no commitment price" if line.committed is None else money(line.committed),
        )
    console.print(table)
    if not c.lines:
        console.print(f"{c.stack}: nothing runs around the clock on demand; nothing to commit.")
    else:
        console.print(
            f"{c.stack}: steady part {money(c.steady_on_demand)} on demand, "
            f"{money(c.steady_committed)} committed (-{c.steady_saving_percent:.0f}%); the "
            f"stack {money(c.total)} -> {money(c.total - c.saving)} "
            f"(-{c.total_saving_percent:.0f}%). Prices transcribed {c.read_on}, not fetched: "
            f"check them in the AWS Pricing Calculator before buying ({c.source})."
        )
    console.print()


def _commitment_markdown(commitments: list[Any]) -> str:
    from stagecraft.cost import money

    lines = [
        "",
        "| stack | steady part on demand | committed (1 year, no upfront) | saving | stack total "
        "with commitment |",
        "|---|---:|---:|---:|---:|",
    ]
    for c in commitments:
        lines.append(
            f"| {c.stack} | {money(c.steady_on_demand)} | {money(c.steady_committed)} | "
            f"-{c.steady_saving_percent:.0f}% | {money(c.total - c.saving)} "
            f"(-{c.total_saving_percent:.0f}%) |"
        )
    return "\n".join(lines) + "\n"


def _cost_markdown(estimates: list[Any]) -> str:
    from stagecraft.cost import money

    lines = [
        "| stack | monthly (desired) | monthly (max nodes) | budget | status | unpriced |",
        "|---|---:|---:|---:|---|---:|",
    ]
    for e in estimates:
        status = "⚠ over budget" if e.over_budget else e.budget_status
        lines.append(
            f"| {e.stack} | {money(e.total)} | {money(e.total_at_max)} | "
            f"{money(e.budget or 0)} | {status} | {len(e.unpriced)} |"
        )
    for e in estimates:
        lines += ["", f"<details><summary>{e.stack}: per resource</summary>", ""]
        lines += ["| resource | what | monthly |", "|---|---|---:|"]
        for line in e.lines:
            if line.kind == "free":
                continue
            amount = {"priced": money(line.monthly), "usage": "usage", "unpriced": "UNPRICED"}
            lines.append(f"| {line.name} | {line.description} | {amount[line.kind]} |")
        lines += ["", *(f"- {note}" for note in e.notes), "", "</details>"]
    return "\n".join(lines) + "\n"


def report(project: Project, args: argparse.Namespace) -> int:
    from datetime import UTC, datetime

    from infra.config import EphemeralStackConfig
    from stagecraft.cost import load_prices
    from stagecraft.envs import ephemeral_project
    from stagecraft.report import (
        EXCEPTIONS_FILE,
        ExceptionsError,
        MissingBaselineError,
        SmallEnvironment,
        build_report,
        ci_roles,
        environment_facts,
        load_exceptions,
        read_source,
        render_html,
        render_markdown,
    )

    requested = ordered_stacks(project, args.stack)
    if args.stack:
        full = [s for s in requested if stack_kind(s) == "environment"]
        small = [s for s in requested if stack_kind(s) != "environment"]
    else:
        full = requested
        small = ephemeral_project(project).stacks() if args.small else []

    register = project.directory / EXCEPTIONS_FILE
    try:
        load_exceptions(register, stacks=project.stacks(), rows=None)
    except ExceptionsError as exc:
        raise UserError(str(exc)) from None

    plans = {s: _plan(project, s) for s in [*full, *small]}
    costs = {s: _estimate(project, s, plans[s]) for s in plans}
    audits = {a.stack: a for a in _audit_results(project, plans)}
    # The account the environments stand on: its CI roles, as their trust says.
    bootstrap_dir = project.directory / BOOTSTRAP_DIR
    account_plans = (
        {s: _plan(project, s) for s in load_project(bootstrap_dir).stacks()}
        if not args.stack and (bootstrap_dir / "Pulumi.yaml").is_file()
        else {}
    )
    account_audits = _audit_results(project, account_plans)
    account_policy = {
        a.stack: "passes"
        if a.passed
        else f"FAILS {len([v for v in a.verdicts if v.blocking])} mandatory"
        for a in account_audits
    }
    roles = [role for plan in account_plans.values() for role in ci_roles(plan)]
    facts = [environment_facts(plans[s], _config_of(project, s), costs[s]) for s in full]

    now = datetime.now(UTC)
    summaries = []
    for stack in small:
        config = _config_of(project, stack)
        assert isinstance(config, EphemeralStackConfig)
        expires = config.shared.expires_at
        failed = [v for v in audits[stack].verdicts if v.blocking]
        summaries.append(
            SmallEnvironment(
                stack=stack,
                kind=config.kind,
                shares=config.shared.shared_stack.rsplit("/", 1)[-1],
                namespace=config.workloads.namespace,
                own_database=config.shared.own_database,
                expires=expires.strftime("%Y-%m-%d %H:%M UTC")
                + (" (expired: `stagecraft env gc` removes it)" if expires <= now else ""),
                monthly=costs[stack].total,
                policy=f"FAILS {len(failed)} mandatory" if failed else "passes",
            )
        )

    row_names = list(facts[0].rows) if facts else []
    try:
        exceptions = load_exceptions(register, stacks=project.stacks(), rows=row_names)
        built = build_report(
            facts,
            baseline=args.baseline,
            prices_read_on=load_prices().read_on,
            source=read_source(project.directory),
            # Entries about stacks left out of this report say nothing about it.
            exceptions=[e for e in exceptions if set(e.stacks) & set(full)],
            audits={s: audits[s] for s in full},
            costs={s: costs[s] for s in full},
            small=summaries,
            small_requested=bool(small) or (not args.stack and args.small),
            roles=roles,
            account_policy=account_policy,
        )
    except (ExceptionsError, MissingBaselineError) as exc:
        raise UserError(str(exc)) from None
    text = render_html(built) if args.format == "html" else render_markdown(built)
    if args.output:
        _write(Path(args.output), text, "--output")
        print(f"wrote {args.output}")
    else:
        sys.stdout.write(text)
    if args.check:
        problems = [
            *(
                f"{s}, {r}: differs from {built.baseline} and no entry of {EXCEPTIONS_FILE} "
                "explains it"
                for s, r in built.unexplained()
            ),
            *(
                f"{EXCEPTIONS_FILE}: {e.id} was due for review on {e.review.isoformat()}"
                for e in built.overdue()
            ),
            *(
                f"{EXCEPTIONS_FILE}: {e.id} covers no deviation any more; remove it"
                for e in built.stale_exceptions()
            ),
        ]
        for problem in problems:
            print(f"error: {problem}", file=sys.stderr)
        if problems:
            return EXIT_FAILED
    return EXIT_OK


def gate(args: argparse.Namespace) -> int:
    from stagecraft.gate import PreviewFormatError, evaluate_gate, parse_gate_input, render_text

    text, source = _read_input(
        args.preview, "the output of `pulumi preview --json` or `stagecraft diff --format json`"
    )
    try:
        steps, refused = parse_gate_input(text)
    except PreviewFormatError as exc:
        raise UserError(f"{source}: {exc}") from None
    labels = [*args.label, *(label.strip() for label in args.labels.split(",") if label.strip())]
    result = evaluate_gate(steps, allow=args.allow, labels=labels, refused=refused)
    if args.format == "json":
        json.dump(result.to_json(), sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        sys.stdout.write(render_text(result))
    return EXIT_OK if result.passed else EXIT_FAILED


def audit(project: Project, args: argparse.Namespace) -> int:
    from policy.harness import (
        PolicyConfigError,
        config_path_for,
        load_policy_config,
        render_json,
        render_markdown,
    )
    from policy.harness import audit as run_audit

    results = []
    for stack in ordered_stacks(project, args.stack):
        path = args.policy_config or config_path_for(stack)
        try:
            config = load_policy_config(path)
        except PolicyConfigError as exc:
            raise UserError(str(exc)) from None
        shown = _shown_path(project, path)
        plan_result = _plan(project, stack)
        results.append(run_audit(plan_result, config, config_source=shown))
    if args.format == "json":
        sys.stdout.write(render_json(results))
    elif args.format == "markdown":
        sys.stdout.write(render_markdown(results))
    else:
        _audit_text(results, _console())
    return EXIT_OK if all(r.passed for r in results) else EXIT_FAILED


def verify(project: Project, args: argparse.Namespace) -> int:
    from infra.config import StackConfig
    from stagecraft import verify as live

    config = _config_of(project, args.stack)
    if not isinstance(config, StackConfig):
        raise UserError(
            f"'{args.stack}' is not a full environment: verify compares dev, staging, "
            "production or sandbox with their account"
        )
    plan_result = _plan(project, args.stack)
    try:
        result = live.verify(
            plan_result,
            region=config.region,
            environment_tags=config.default_tags,
            prefix=config.resource_prefix,
            production=config.tier.tier == "production",
            max_secret_age_days=config.secrets.secret_rotation_days,
        )
    except live.VerifyError as exc:
        print(f"error: {args.stack}: not verified: {exc}", file=sys.stderr)
        return EXIT_UNVERIFIED
    except Exception as exc:  # an answer AWS gave that the check did not expect
        # Never exit 1 ("drift") for a check that did not finish.
        print(f"error: {args.stack}: not verified: {type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_UNVERIFIED
    if args.format == "json":
        print(json.dumps(result.to_json(), indent=2, default=str))
    elif args.format == "markdown":
        sys.stdout.write(live.render_markdown(result))
    else:
        sys.stdout.write(live.render_text(result))
    return result.exit_code(strict=args.strict)


def _audit_text(results: list[Any], console: Console) -> None:
    for result in results:
        table = Table(
            title=f"{result.stack}: policy verdicts (config {result.config_source})",
            title_justify="left",
        )
        columns = ("policy", "controls", "severity", "enforcement", "verdict", "judged against")
        for column in (*columns, "detail"):
            table.add_column(column)
        for v in result.verdicts:
            detail = "; ".join(x.message for x in v.violations[:3])
            if len(v.violations) > 3:
                detail += f" (+{len(v.violations) - 3} more)"
            status = v.status.upper() if v.status == "fail" else v.status
            if v.status == "pass" and v.weaker_than_control:
                status = "pass (weaker threshold)"
            table.add_row(
                v.rule.name,
                ", ".join(v.rule.controls) or "-",
                v.rule.severity.value,
                v.enforcement,
                status,
                "; ".join(str(t) for t in v.thresholds) or "-",
                detail,
            )
        console.print(table)
        mandatory, advisory = result.failed("mandatory"), result.failed("advisory")
        verdict = "PASSES" if result.passed else "FAILS"
        console.print(
            f"{result.stack} {verdict}: {len(mandatory)} mandatory and {len(advisory)} "
            f"advisory failures among {len(result.verdicts)} policies.\n"
        )


def restore(project: Project, args: argparse.Namespace) -> int:
    """`stagecraft restore`: the config edit and the steps of a point-in-time restore."""
    from stagecraft import restore as pitr
    from stagecraft.offline.engine import evaluate

    try:
        request = pitr.prepare(
            project, args.stack, to=args.to, source=args.source, name=args.name, now=pitr.now_utc()
        )
    except pitr.RestoreError as exc:
        raise UserError(str(exc)) from None
    # Planned with the keys before anything is written: a value the config
    # refuses is one error, and the stack file stays as it was.
    progress(f"planning {args.stack} with the restore")
    plan_result = evaluate(
        args.stack, project_dir=project.directory, config_overrides=request.overrides
    )
    if args.write:
        path = pitr.write(project, request)
        print(f"wrote {path.name}:")
    else:
        print(f"add to {project.stack_file(args.stack).name} (or rerun with --write):")
    for key, value in request.overrides.items():
        print(f'  {key}: "{value}"' if key == pitr.TIME_KEY else f"  {key}: {value}")
    print()
    print("\n".join(pitr.steps(pitr.RequestPlan(request, plan_result))))
    return EXIT_OK


def env(project: Project, args: argparse.Namespace) -> int:
    from datetime import UTC, datetime

    from stagecraft import envs

    if args.env_command == "create":
        path = envs.create(
            project,
            args.name,
            ttl=args.ttl,
            own_database=args.own_database,
            initial_data=args.initial_data,
            organization=args.organization,
        )
        print(f"wrote {path.relative_to(project.directory)}")
        print("deploy it with:")
        print(f"  pulumi up --stack {args.name} --cwd {envs.EPHEMERAL_DIR}")
        print(f"preview it offline with:\n  stagecraft plan --stack {args.name}")
        return EXIT_OK
    now = datetime.now(UTC)
    if args.env_command == "list":
        _env_list(project, now)
        return EXIT_OK
    if args.env_command == "destroy":
        found = next((e for e in envs.entries(project) if e.stack == args.name), None)
        if found is None or found.parent is None:
            raise UserError(f"no pr-<n> or dev-<name> stack file for '{args.name}' in ephemeral/")
        return _teardown(project, [found], execute=args.execute)
    if args.from_backend:
        selected = [
            envs.entry_from_backend(name, project)
            for name in envs.backend_expired(now, root=project, kind=args.kind)
        ]
    else:
        selected = [
            e for e in envs.expired(project, now) if args.kind is None or e.kind == args.kind
        ]
    if not selected:
        print("no expired environments")
        return EXIT_OK
    for entry in selected:
        expired_at = entry.expires_at.strftime("%Y-%m-%d %H:%M UTC") if entry.expires_at else "?"
        print(f"{entry.stack}: expired {expired_at} (shares {entry.parent})")
    return _teardown(project, selected, execute=args.execute)


def _env_list(project: Project, now: Any) -> None:
    from stagecraft import envs

    table = Table(title="stagecraft environments", title_justify="left")
    for column in ("stack", "kind", "shares", "age", "ttl", "expires", "expired"):
        table.add_column(column)
    for entry in envs.entries(project):
        expires = entry.expires_at
        table.add_row(
            entry.stack,
            entry.kind,
            entry.parent or "-",
            entry.age(now),
            entry.ttl or "-",
            expires.strftime("%Y-%m-%d %H:%M") if expires else "-",
            ("EXPIRED" if entry.expired(now) else "no") if expires else "-",
        )
    _console().print(table)


def _teardown(project: Project, entries: list[Any], *, execute: bool) -> int:
    from stagecraft import envs

    for entry in entries:
        region = project.read_stack(entry.parent).get("aws:region", "us-east-1")
        stack_file = project.directory / envs.EPHEMERAL_DIR / f"Pulumi.{entry.stack}.yaml"
        if execute and not stack_file.exists():
            # `pulumi destroy` needs the stack's config (required keys); CI has
            # no stack file for a preview, so write one.
            envs.create(project, entry.stack)
        steps = envs.teardown_steps(project, entry, str(region))
        if execute:
            envs.execute(steps, cwd=project.directory)
            entry_path = project.directory / envs.EPHEMERAL_DIR / f"Pulumi.{entry.stack}.yaml"
            entry_path.unlink(missing_ok=True)
            print(f"{entry.stack}: removed")
        else:
            print(f"to remove {entry.stack}:")
            for line in envs.render_steps(steps):
                print(f"  {line}")
    return EXIT_OK


def _read_input(path: str | None, what: str = "the file") -> tuple[str, str]:
    """The text of ``path``; without one, standard input, but only when something is piped in.

    A terminal on stdin means nobody is feeding it: waiting would look like
    a hang, so the user is told what the command needs instead.
    """
    if path is None:
        if sys.stdin.isatty():
            raise UserError(f"needs {what}: give its path, or pipe it in (... | stagecraft ...)")
        path = "-"
    source = "standard input" if path == "-" else path
    try:
        return (sys.stdin.read() if path == "-" else Path(path).read_text()), source
    except OSError as exc:
        raise UserError(f"cannot read {source}: {exc.strerror}") from None


def check_outputs(args: argparse.Namespace) -> int:
    from stagecraft.smoke import check_outputs as problems_in

    text, source = _read_input(args.outputs, "the output of `pulumi stack output --json`")
    try:
        outputs = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UserError(f"{source}: not JSON ({exc.msg}, line {exc.lineno})") from None
    if not isinstance(outputs, dict):
        raise UserError(f"{source}: expected the object `pulumi stack output --json` prints")
    problems = problems_in(outputs)
    for problem in problems:
        print(f"output {problem}", file=sys.stderr)
    if problems:
        return EXIT_FAILED
    print(f"stack outputs look right ({len(outputs)} outputs)")
    return EXIT_OK


def smoke_test(project: Project, args: argparse.Namespace) -> int:
    import os
    import shutil
    import subprocess
    import time

    from infra.config import StackConfig
    from stagecraft import smoke_run

    config = _config_of(project, args.stack)
    if not isinstance(config, StackConfig):
        raise UserError(
            f"'{args.stack}' is not a full environment (dev, sandbox, staging, production): "
            "only those have a smoke-test CronJob"
        )
    if not config.smoke_test.smoke_test:
        print(f"{args.stack}: smokeTest is false, so there is no smoke test to run")
        return EXIT_OK
    job = args.job or smoke_run.default_job_name(
        os.environ.get("GITHUB_RUN_ID"), os.environ.get("GITHUB_RUN_ATTEMPT"), time.time()
    )
    if not smoke_run.JOB_NAME.fullmatch(job):
        raise UserError(
            f"--job {job!r}: a Job name is 1-63 lowercase letters, digits and '-', starting "
            "and ending with a letter or digit"
        )
    kubeconfig = args.kubeconfig or f".stagecraft-kubeconfig-{args.stack}"
    smoke = smoke_run.SmokeRun(
        namespace=config.workloads.namespace,
        job=job,
        kubeconfig=kubeconfig,
        timeout_seconds=config.smoke_test.smoke_test_deadline_seconds
        + smoke_run.WAIT_MARGIN_SECONDS,
    )
    write_kubeconfig = smoke_run.kubeconfig_command(config.cluster_name, config.region, kubeconfig)
    if args.dry_run:
        commands = [smoke.start(), smoke.kubectl("get", "job", job, "--output", "json")]
        for line in smoke_run.describe(
            [*([] if args.kubeconfig else [write_kubeconfig]), *commands]
        ):
            print(line)
        print(f"(the second repeated until the Job completes or fails, at most "
              f"{smoke.timeout_seconds} s; then each check's log)")  # fmt: skip
        return EXIT_OK
    for tool in ("kubectl", *(() if args.kubeconfig else ("aws",))):
        if shutil.which(tool) is None:
            raise UserError(f"smoke-test needs `{tool}` on PATH")
    if not args.kubeconfig:
        wrote = subprocess.run(write_kubeconfig, capture_output=True, text=True, check=False)
        if wrote.returncode != 0:
            raise UserError(f"`{' '.join(write_kubeconfig)}` failed: {wrote.stderr.strip()}")
    try:
        passed = smoke_run.run(smoke)
    except smoke_run.SmokeTestError as error:
        raise UserError(str(error)) from None
    return EXIT_OK if passed else EXIT_FAILED


def docs(project: Project, args: argparse.Namespace) -> int:
    from stagecraft.docs import (
        MissingSectionError,
        generated_sections,
        render_readme,
        stale_pulumi_yaml,
        stale_sections,
        write_pulumi_yaml,
    )

    readme = project.directory / "README.md"
    if args.write:
        try:
            text = render_readme(readme.read_text(encoding="utf-8"), generated_sections(project))
        except MissingSectionError as exc:
            raise UserError(str(exc)) from None
        readme.write_text(text, encoding="utf-8")
        print(f"updated {readme}")
        for path in write_pulumi_yaml(project):
            print(f"updated {path}")
        return EXIT_OK
    stale = stale_sections(readme, project)
    stale_yaml = stale_pulumi_yaml(project)
    if stale or stale_yaml:
        what = [*stale, *(str(p.relative_to(project.directory)) for p in stale_yaml)]
        print(f"out of date: {', '.join(what)}; run `make docs`", file=sys.stderr)
        return EXIT_FAILED
    print("README.md and the Pulumi.yaml config blocks match the stack files and the models")
    return EXIT_OK
