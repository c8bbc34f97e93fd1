"""The plans of a git revision, evaluated by that revision's own code, in the background.

`stagecraft diff --base REF` needs every stack's plan at REF.  The tree of
REF is exported with `git archive` (the object database only: the working
tree, the index and the checked-out branch are never touched) and one child
Python, with that tree first on its path, plans all of its stacks in one go:
one interpreter start and one SDK import for all of them, instead of one per
stack.  The child is started before the caller imports the Pulumi SDK, so
the base revision is planned while the working tree is (two processes, two
cores).

This module imports nothing heavy on purpose: starting the child must not
wait for the SDK.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stagecraft.offline.fingerprints import fingerprint_key
from stagecraft.offline.stackfiles import StackFileError, load_project, locate_project

# A plan that takes longer than this is stuck, not slow.
TIMEOUT_SECONDS = 600


class RevisionError(Exception):
    """The revision's plans could not be produced."""


def _git(repo: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, check=False)


def export_revision(repo: Path, ref: str, destination: Path) -> str:
    """Unpack the tree of ``ref`` into ``destination``; returns the commit id."""
    resolved = _git(repo, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")
    if resolved.returncode != 0:
        raise RevisionError(f"'{ref}' is not a commit in {repo} (try a branch, tag or HEAD~1)")
    commit = resolved.stdout.decode().strip()
    archive = _git(repo, "archive", "--format=tar", commit)
    if archive.returncode != 0:
        raise RevisionError(f"git archive {ref} failed: {archive.stderr.decode().strip()}")
    with tempfile.TemporaryFile() as buffer:
        buffer.write(archive.stdout)
        buffer.seek(0)
        with tarfile.open(fileobj=buffer) as tar:
            tar.extractall(destination, filter="data")
    return commit


def _cli_module(tree: Path) -> str | None:
    # The tools moved from infra/ to stagecraft/; a revision from before the
    # move is planned by its own copy under the old name.
    for package in ("stagecraft", "infra"):
        if (tree / package / "offline" / "engine.py").is_file():
            return f"{package}.cli.main"
    return None


@dataclass
class RevisionPlans:
    """Plans of some stacks at one revision, being computed by a child process."""

    ref: str
    commit: str
    stacks: list[str]  # requested and present at the revision, in order
    config_values: dict[str, dict[str, str]]  # what each stack file says there
    _tree: tempfile.TemporaryDirectory[str]
    _module: str
    # Full environments the revision has and the working tree no longer does.
    removed: list[str] = field(default_factory=list)
    _process: subprocess.Popen[str] | None = None
    _documents: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return f"{self.ref} ({self.commit[:9]})"

    @property
    def directory(self) -> Path:
        return Path(self._tree.name)

    def _command(self, stacks: list[str]) -> list[str]:
        command = [sys.executable, "-m", self._module, "plan", "--json"]
        for stack in stacks:
            command += ["--stack", stack]
        return command

    def _spawn(self, stacks: list[str]) -> subprocess.Popen[str]:
        fingerprint_key()  # made now, so the child fingerprints secrets as this process will
        return subprocess.Popen(
            self._command(stacks),
            cwd=self.directory,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONPATH": str(self.directory)},
        )

    def start(self) -> None:
        if self.stacks:
            self._process = self._spawn(self.stacks)

    def _collect(self, process: subprocess.Popen[str], stacks: list[str]) -> dict[str, Any]:
        try:
            out, err = process.communicate(timeout=TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            raise RevisionError(
                f"planning {', '.join(stacks)} at {self.ref} took over {TIMEOUT_SECONDS} s"
            ) from None
        if process.returncode != 0:
            reason = err.strip().splitlines()[-1:] or ["no output"]
            raise RevisionError(
                f"the plan of {', '.join(stacks)} at {self.ref} failed: {reason[0]}"
            )
        document: dict[str, Any] = json.loads(out)
        return document

    def wait(self) -> dict[str, dict[str, Any]]:
        """The plan document (`stagecraft plan --json`) of each stack, once computed."""
        try:
            if self._process is not None:
                document = self._collect(self._process, self.stacks)
                self._process = None
                if "plans" in document:
                    self._documents = {p["stack"]: p for p in document["plans"]}
                else:
                    # A revision whose `plan` takes one stack answered for the
                    # last one only: plan the others one by one.
                    self._documents = {document["stack"]: document}
                    for stack in self.stacks:
                        if stack not in self._documents:
                            single = self._spawn([stack])
                            self._documents[stack] = self._collect(single, [stack])
            return self._documents
        finally:
            self._tree.cleanup()


def start(
    repo: Path, ref: str, stacks: list[str], *, include_removed: bool = False
) -> RevisionPlans:
    """Export ``ref`` and start planning those of ``stacks`` that exist there.

    ``include_removed`` adds the full environments whose stack file the
    revision has and ``stacks`` lacks: deleting a stack file is a change too.
    """
    tree = tempfile.TemporaryDirectory(prefix="stagecraft-base-")
    try:
        directory = Path(tree.name)
        commit = export_revision(repo, ref, directory)
        present, values, removed = [], {}, []
        if (directory / "Pulumi.yaml").is_file():
            root = load_project(directory)
            for stack in stacks:
                try:
                    holder = locate_project(root, stack)
                except StackFileError:
                    continue  # the stack did not exist at the revision
                present.append(stack)
                # A stack file the revision cannot read: planning will say why.
                with contextlib.suppress(StackFileError):
                    values[stack] = holder.config_map(stack).values
            if include_removed:
                from infra.config import stack_kind

                removed = [
                    s for s in root.stacks() if stack_kind(s) == "environment" and s not in stacks
                ]
                present += removed
        module = _cli_module(directory)
        if present and module is None:
            raise RevisionError(f"{ref} predates the offline engine; choose a later base")
        plans = RevisionPlans(
            ref=ref,
            commit=commit,
            stacks=present,
            config_values=values,
            removed=removed,
            _tree=tree,
            _module=module or "",
        )
        plans.start()
        return plans
    except BaseException:
        tree.cleanup()
        raise
