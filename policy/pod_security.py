"""The Kubernetes Pod Security Standards, checked against pod specs before admission does.

A namespace labelled ``pod-security.kubernetes.io/enforce: restricted``
refuses at admission every pod that breaks the profile: the Job that owns the
pod never starts and `pulumi up` waits for it until it times out.  These are
the checks the admission controller makes (Kubernetes 1.25+), so a plan can be
judged before it reaches a cluster:
https://kubernetes.io/docs/concepts/security/pod-security-standards/

Property names are the engine's camelCase input names, as plans record them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

LEVELS = ("privileged", "baseline", "restricted")
ENFORCE_LABEL = "pod-security.kubernetes.io/enforce"

# Where each workload kind keeps its pod template.
POD_SPEC_PATHS: dict[str, tuple[str, ...]] = {
    "kubernetes:core/v1:Pod": ("spec",),
    "kubernetes:batch/v1:Job": ("spec", "template", "spec"),
    "kubernetes:batch/v1:CronJob": ("spec", "jobTemplate", "spec", "template", "spec"),
    "kubernetes:apps/v1:Deployment": ("spec", "template", "spec"),
    "kubernetes:apps/v1:StatefulSet": ("spec", "template", "spec"),
    "kubernetes:apps/v1:DaemonSet": ("spec", "template", "spec"),
    "kubernetes:apps/v1:ReplicaSet": ("spec", "template", "spec"),
}

_BASELINE_CAPABILITIES = frozenset(
    {"AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "MKNOD",
     "NET_BIND_SERVICE", "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT"}
)  # fmt: skip
_RESTRICTED_VOLUMES = frozenset(
    {"configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim",
     "projected", "secret"}
)  # fmt: skip
_SAFE_SYSCTLS = frozenset(
    {"kernel.shm_rmid_forced", "net.ipv4.ip_local_port_range",
     "net.ipv4.ip_unprivileged_port_start", "net.ipv4.tcp_syncookies",
     "net.ipv4.ping_group_range", "net.ipv4.ip_local_reserved_ports",
     "net.ipv4.tcp_keepalive_time", "net.ipv4.tcp_fin_timeout", "net.ipv4.tcp_keepalive_intvl",
     "net.ipv4.tcp_keepalive_probes"}
)  # fmt: skip


def pod_spec_of(resource_type: str, inputs: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The pod spec inside a workload's inputs, or None for other kinds."""
    path = POD_SPEC_PATHS.get(resource_type)
    if path is None:
        return None
    node: Any = inputs
    for key in path:
        node = node.get(key) if isinstance(node, Mapping) else None
    return node if isinstance(node, Mapping) else None


def _containers(spec: Mapping[str, Any]) -> Iterable[tuple[str, Mapping[str, Any]]]:
    for kind in ("initContainers", "containers", "ephemeralContainers"):
        for container in spec.get(kind) or []:
            yield f"{kind[:-1]} {container.get('name', '?')}", container


def _context(container: Mapping[str, Any]) -> Mapping[str, Any]:
    return container.get("securityContext") or {}


def violations(spec: Mapping[str, Any], level: str) -> list[str]:
    """Why the pod spec would be refused in a namespace enforcing ``level``; [] if admitted."""
    if level == "privileged":
        return []
    problems = _baseline(spec)
    if level == "restricted":
        problems += _restricted(spec)
    return problems


def _baseline(spec: Mapping[str, Any]) -> list[str]:
    problems = [f"{key} is true" for key in ("hostNetwork", "hostPID", "hostIPC") if spec.get(key)]
    pod_context = spec.get("securityContext") or {}
    for volume in spec.get("volumes") or []:
        if "hostPath" in volume:
            problems.append(f"volume {volume.get('name', '?')} is a hostPath")
    for sysctl in pod_context.get("sysctls") or []:
        if sysctl.get("name") not in _SAFE_SYSCTLS:
            problems.append(f"sysctl {sysctl.get('name')} is not in the safe set")
    if (pod_context.get("seccompProfile") or {}).get("type") == "Unconfined":
        problems.append("the pod's seccompProfile is Unconfined")
    for where, container in _containers(spec):
        context = _context(container)
        if context.get("privileged"):
            problems.append(f"{where} is privileged")
        added = set((context.get("capabilities") or {}).get("add") or [])
        if added - _BASELINE_CAPABILITIES:
            problems.append(f"{where} adds capabilities {', '.join(sorted(added))}")
        if any(port.get("hostPort") for port in container.get("ports") or []):
            problems.append(f"{where} uses a hostPort")
        if (context.get("seccompProfile") or {}).get("type") == "Unconfined":
            problems.append(f"{where}'s seccompProfile is Unconfined")
        if context.get("procMount") not in (None, "Default"):
            problems.append(f"{where} sets procMount {context.get('procMount')}")
    return problems


def _restricted(spec: Mapping[str, Any]) -> list[str]:
    problems: list[str] = []
    pod_context = spec.get("securityContext") or {}
    for volume in spec.get("volumes") or []:
        kinds = set(volume) - {"name"}
        if kinds and not kinds <= _RESTRICTED_VOLUMES:
            problems.append(f"volume {volume.get('name', '?')} is of a type restricted refuses")
    pod_seccomp = (pod_context.get("seccompProfile") or {}).get("type")
    if pod_context.get("runAsUser") == 0:
        problems.append("the pod runs as user 0")
    for where, container in _containers(spec):
        context = _context(container)
        if context.get("allowPrivilegeEscalation") is not False:
            problems.append(f"{where} does not set allowPrivilegeEscalation: false")
        capabilities = context.get("capabilities") or {}
        if "ALL" not in (capabilities.get("drop") or []):
            problems.append(f"{where} does not drop ALL capabilities")
        if set(capabilities.get("add") or []) - {"NET_BIND_SERVICE"}:
            problems.append(f"{where} adds a capability other than NET_BIND_SERVICE")
        run_as_non_root = context.get("runAsNonRoot", pod_context.get("runAsNonRoot"))
        if run_as_non_root is not True:
            problems.append(f"{where} may run as root (runAsNonRoot is not true)")
        if context.get("runAsUser") == 0:
            problems.append(f"{where} runs as user 0")
        seccomp = (context.get("seccompProfile") or {}).get("type", pod_seccomp)
        if seccomp not in ("RuntimeDefault", "Localhost"):
            problems.append(f"{where} has no seccompProfile RuntimeDefault (pod or container)")
    return problems


def namespace_levels(resources: Sequence[tuple[str, Mapping[str, Any]]]) -> dict[str, str]:
    """The enforced level of every namespace the resources create."""
    levels: dict[str, str] = {}
    for resource_type, inputs in resources:
        if resource_type != "kubernetes:core/v1:Namespace":
            continue
        metadata = inputs.get("metadata") or {}
        name = metadata.get("name")
        if isinstance(name, str):
            labels = metadata.get("labels") or {}
            levels[name] = str(labels.get(ENFORCE_LABEL, "privileged"))
    return levels
