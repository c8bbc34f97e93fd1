"""`stagecraft smoke-test`: run the environment's smoke-test Job once and judge it.

The deploy workflows call it right after `pulumi up`; an operator can too
(with kubectl and the AWS CLI at hand, as a cluster admin). It:

1. writes a kubeconfig for the stack's cluster (`aws eks update-kubeconfig`),
   unless one is given;
2. starts a Job from the suspended CronJob `smoke-test`
   (infra/components/recovery/smoke_test.py) under a name unique to the run;
3. waits until the Job has completed or failed (a Job that fails never
   completes, so `kubectl wait --for=condition=complete` alone would hang
   until its timeout): it reads the Job's conditions every few seconds, up
   to the Job's own deadline plus a margin for scheduling;
4. prints each check's line from its container's log, and on failure what
   the pod's containers are stuck on (an image pull, a refused pod);
5. exits 0 only when the Job completed: every check passed (or was skipped).
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from infra.components.recovery.smoke_test import CHECKS, CRONJOB_NAME

# A Job's name is also its pods' `job-name` label value: at most 63 characters.
JOB_NAME = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")
# Scheduling, image pulls and the API's own pace, beyond the Job's deadline.
WAIT_MARGIN_SECONDS = 120
POLL_SECONDS = 5

Runner = Callable[[list[str]], "subprocess.CompletedProcess[str]"]


class SmokeTestError(Exception):
    """The run could not be started or watched (not a failed check)."""


def _run(command: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, capture_output=True, text=True, check=False, timeout=120)


@dataclass(frozen=True)
class SmokeRun:
    namespace: str
    job: str
    kubeconfig: str
    timeout_seconds: int

    def kubectl(self, *args: str) -> list[str]:
        return ["kubectl", "--kubeconfig", self.kubeconfig, "--namespace", self.namespace, *args]

    def start(self) -> list[str]:
        return self.kubectl("create", "job", self.job, f"--from=cronjob/{CRONJOB_NAME}")


def job_state(job: dict[str, Any]) -> tuple[str, str]:
    """("complete" | "failed" | "running", reason) from a Job's status conditions.

    Only the terminal conditions count: since Kubernetes 1.31 a Job reports
    SuccessCriteriaMet / FailureTarget first, while its pods are still
    being terminated.
    """
    for condition in (job.get("status") or {}).get("conditions") or []:
        if condition.get("status") != "True":
            continue
        if condition.get("type") == "Complete":
            return "complete", ""
        if condition.get("type") == "Failed":
            reason = condition.get("reason") or "Failed"
            message = condition.get("message") or ""
            return "failed", f"{reason}: {message}" if message else str(reason)
    return "running", ""


def container_states(pods: dict[str, Any]) -> list[str]:
    """What each container of the run's pod ended in or waits on, one line each."""
    lines = []
    for pod in pods.get("items") or []:
        status = pod.get("status") or {}
        for reason in [
            c.get("message") for c in status.get("conditions") or [] if c.get("message")
        ]:
            lines.append(f"pod: {reason}")
        for container in [
            *(status.get("initContainerStatuses") or []),
            *(status.get("containerStatuses") or []),
        ]:
            name, state = container.get("name"), container.get("state") or {}
            if "terminated" in state:
                ended = state["terminated"]
                lines.append(f"{name}: exited {ended.get('exitCode')} ({ended.get('reason')})")
            elif "waiting" in state:
                waiting = state["waiting"]
                detail = f": {waiting['message']}" if waiting.get("message") else ""
                lines.append(f"{name}: waiting, {waiting.get('reason')}{detail}")
            else:
                lines.append(f"{name}: running")
    return lines


def run(
    smoke: SmokeRun,
    *,
    runner: Runner = _run,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    say: Callable[[str], None] = print,
) -> bool:
    """Start the Job, wait for its end, print its checks; True when it completed."""
    started = runner(smoke.start())
    if started.returncode != 0:
        raise SmokeTestError(
            f"`{shlex.join(smoke.start())}` failed: {started.stderr.strip() or started.stdout}"
        )
    say(f"started job/{smoke.job} in namespace {smoke.namespace} from cronjob/{CRONJOB_NAME}")
    deadline = clock() + smoke.timeout_seconds
    state, reason = "running", ""
    while True:
        got = runner(smoke.kubectl("get", "job", smoke.job, "--output", "json"))
        if got.returncode == 0:
            state, reason = job_state(json.loads(got.stdout))
        if state != "running" or clock() >= deadline:
            break
        sleep(POLL_SECONDS)
    for check in CHECKS:
        logs = runner(smoke.kubectl("logs", f"job/{smoke.job}", "--container", check))
        text = logs.stdout.strip() if logs.returncode == 0 else ""
        say(text or f"---- {check}: no output (the container did not run)")
    if state == "complete":
        say(f"smoke test passed (job/{smoke.job})")
        return True
    pods = runner(
        smoke.kubectl("get", "pods", "--selector", f"job-name={smoke.job}", "--output", "json")
    )
    if pods.returncode == 0:
        for line in container_states(json.loads(pods.stdout)):
            say(f"  {line}")
    if state == "failed":
        say(f"smoke test FAILED (job/{smoke.job}: {reason})")
    else:
        say(f"smoke test FAILED: job/{smoke.job} did not finish within {smoke.timeout_seconds} s")
    return False


def kubeconfig_command(cluster: str, region: str, path: str) -> list[str]:
    return ["aws", "eks", "update-kubeconfig", "--name", cluster, "--region", region,
            "--kubeconfig", path]  # fmt: skip


def default_job_name(run_id: str | None, attempt: str | None, now: float) -> str:
    """Unique per workflow run and attempt; per second by hand."""
    if run_id:
        return f"{CRONJOB_NAME}-{run_id}-{attempt or '1'}"
    return f"{CRONJOB_NAME}-{time.strftime('%Y%m%d-%H%M%S', time.gmtime(now))}"


def describe(commands: Sequence[list[str]]) -> list[str]:
    return [shlex.join(command) for command in commands]
