"""How long users wait for stagecraft, side by side with the SDK import floor.

    .venv/bin/python bench/speed.py [--runs 5]

Prints the median wall time of each command over ``--runs`` runs, and its
ratio to the floor: the time a fresh interpreter needs only to import the
Pulumi SDK modules the program uses (measured, not assumed: the module list
is read from a real plan).  Nothing here is a test; the numbers depend on the
machine, and the ratios are what to compare.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SDK_PREFIXES = ("pulumi", "pulumi_aws", "pulumi_kubernetes", "pulumi_random")

_LIST_MODULES = """
import json, sys
from pathlib import Path
from stagecraft.offline.engine import evaluate
evaluate("staging", project_dir=Path(sys.argv[1]))
print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in {prefixes!r})))
"""


def sdk_modules() -> list[str]:
    out = subprocess.run(
        [sys.executable, "-c", _LIST_MODULES.format(prefixes=set(SDK_PREFIXES)), str(REPO)],
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO,
    ).stdout
    modules: list[str] = json.loads(out)
    return modules


def timed(command: list[str], runs: int) -> float:
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(command, cwd=REPO, check=True, capture_output=True)
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--base", default="HEAD", help="revision the diff compares with")
    args = parser.parse_args()

    stagecraft = [sys.executable, "-m", "stagecraft.cli.main"]
    with tempfile.TemporaryDirectory() as scratch:
        importer = Path(scratch) / "floor.py"
        importer.write_text("".join(f"import {m}\n" for m in sdk_modules()))
        out = Path(scratch)
        rows = [
            ("import floor (the SDK modules a plan loads)", [sys.executable, str(importer)]),
            ("stagecraft plan --stack staging --json", [*stagecraft, "plan", "--stack", "staging",
                                                        "--json"]),
            ("stagecraft diff (dev, staging, production, sandbox) --base, markdown + JSON + audit,"
             " as the PR workflow runs it",
             [*stagecraft, "diff", "--base", args.base, "--audit",
              "--write", f"markdown={out / 'comment.md'}", "--write", f"json={out / 'diff.json'}"]),
        ]  # fmt: skip
        results = [(label, timed(command, args.runs)) for label, command in rows]
    floor = results[0][1]
    width = max(len(label) for label, _ in results)
    print(f"{'command':<{width}}  {'median':>8}  {'x floor':>7}   ({args.runs} runs each)")
    for label, seconds in results:
        print(f"{label:<{width}}  {seconds:>7.2f}s  {seconds / floor:>6.2f}x")


if __name__ == "__main__":
    main()
