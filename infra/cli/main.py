"""`stagecraft`: offline plans and generated docs for the stagecraft stacks."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from rich.console import Console

from infra.config import ConfigError
from infra.offline.stackfiles import StackFileError, load_project

EXIT_OK = 0
EXIT_FAILED = 1  # a check failed (docs out of date)
EXIT_USAGE = 2  # the user's input is wrong: bad stack name, bad config, bad file


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="stagecraft",
        description="Offline plans of the stagecraft Pulumi stacks, and their generated docs.",
    )
    parser.add_argument(
        "--project-dir",
        type=Path,
        default=None,
        help="directory holding Pulumi.yaml (default: the nearest one above the cwd)",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    plan = commands.add_parser(
        "plan",
        help="show what `pulumi up` would create for a stack, without cloud access",
        description=(
            "Evaluate the real program for one stack under the Pulumi SDK's mock runtime, "
            "with that stack's Pulumi.<stack>.yaml as config."
        ),
    )
    plan.add_argument("--stack", "-s", required=True, help="stack name, e.g. staging")
    plan.add_argument("--json", action="store_true", help="print a machine-readable plan on stdout")

    commands.add_parser("stacks", help="list the stacks that have a Pulumi.<stack>.yaml")

    docs = commands.add_parser(
        "docs", help="regenerate (or check) the README tables from the stack files"
    )
    mode = docs.add_mutually_exclusive_group()
    mode.add_argument("--write", action="store_true", help="rewrite README.md in place")
    mode.add_argument(
        "--check", action="store_true", help="exit 1 if README.md is out of date (default)"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    err = Console(stderr=True, highlight=False, markup=False, emoji=False)
    try:
        project = load_project(args.project_dir)
        if args.command == "plan":
            return _plan(project, args.stack, as_json=args.json)
        if args.command == "stacks":
            for stack in project.stacks():
                print(stack)
            return EXIT_OK
        return _docs(project, write=args.write)
    except ConfigError as exc:
        err.print(f"error: {exc}", soft_wrap=True)
        return EXIT_USAGE
    except StackFileError as exc:
        err.print(f"error: {exc}", soft_wrap=True)
        return EXIT_USAGE


def _plan(project_obj: object, stack: str, *, as_json: bool) -> int:
    # Imported here: loading the Pulumi SDK and providers takes a second or
    # two, which `stagecraft stacks` and `--help` need not pay.
    from infra.cli.render import print_plan
    from infra.offline.engine import evaluate
    from infra.offline.stackfiles import Project

    assert isinstance(project_obj, Project)
    plan = evaluate(stack, project_dir=project_obj.directory)
    if as_json:
        json.dump(plan.to_json(), sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        # Plain text only: resource values such as "[secret]" or ARNs with
        # ":secret:" in them must print verbatim, not as markup or emoji.
        console = Console(highlight=False, markup=False, emoji=False)
        if not console.is_terminal:
            console = Console(highlight=False, markup=False, emoji=False, width=250)
        print_plan(plan, console)
    return EXIT_OK


def _docs(project_obj: object, *, write: bool) -> int:
    from infra.docs import (
        MissingSectionError,
        generated_sections,
        render_readme,
        stale_sections,
    )
    from infra.offline.stackfiles import Project

    assert isinstance(project_obj, Project)
    readme = project_obj.directory / "README.md"
    if write:
        try:
            text = render_readme(
                readme.read_text(encoding="utf-8"), generated_sections(project_obj)
            )
        except MissingSectionError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return EXIT_USAGE
        readme.write_text(text, encoding="utf-8")
        print(f"updated {readme}")
        return EXIT_OK
    stale = stale_sections(readme, project_obj)
    if stale:
        print(
            f"README.md is out of date ({', '.join(stale)}); run `make docs`",
            file=sys.stderr,
        )
        return EXIT_FAILED
    print("README.md matches the stack files and the config model")
    return EXIT_OK


if __name__ == "__main__":
    raise SystemExit(main())
