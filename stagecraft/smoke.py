"""After `pulumi up`: do the stack outputs describe a usable environment?

Reads `pulumi stack output --json` (secrets appear as "[secret]" there) and
checks every output the workloads and operators rely on is present and
shaped like what AWS returns.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

Check = Callable[[Any], bool]


def _matches(pattern: str) -> Check:
    compiled = re.compile(pattern)
    return lambda value: isinstance(value, str) and bool(compiled.fullmatch(value))


_ARN = r"arn:aws(-cn|-us-gov)?:"
EXPECTED_OUTPUTS: dict[str, tuple[Check, str]] = {
    "clusterName": (_matches(r"[A-Za-z0-9][A-Za-z0-9_-]{0,99}"), "an EKS cluster name"),
    "clusterEndpoint": (_matches(r"https://[A-Za-z0-9.-]+"), "an https:// API endpoint"),
    "kubeconfig": (
        lambda v: isinstance(v, (str, dict)) and bool(v),
        "a kubeconfig (shown as [secret])",
    ),
    "oidcProviderArn": (_matches(_ARN + r"iam::\d{12}:oidc-provider/.+"), "an IAM OIDC ARN"),
    "databaseEndpoint": (_matches(r"[a-z0-9.-]+:\d{2,5}"), "host:port of the database"),
    "databaseSecretArn": (
        _matches(_ARN + r"secretsmanager:[a-z0-9-]+:\d{12}:secret:.+"),
        "the ARN of the database master secret",
    ),
    "connectionInfoSecretArn": (
        _matches(_ARN + r"secretsmanager:[a-z0-9-]+:\d{12}:secret:.+"),
        "the ARN of the connection-info secret",
    ),
    "redisEndpoint": (_matches(r"[a-z0-9.-]+\.[a-z]+"), "the Redis primary endpoint host"),
    "namespace": (_matches(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"), "a Kubernetes namespace"),
    "vpcId": (_matches(r"vpc-[0-9a-f]{8,17}"), "a VPC id"),
}


def check_outputs(outputs: Mapping[str, Any]) -> list[str]:
    """One line per missing or malformed output; empty when all is well."""
    problems = []
    for name, (check, expected) in EXPECTED_OUTPUTS.items():
        if name not in outputs:
            problems.append(f"{name}: missing (expected {expected})")
        elif not check(outputs[name]):
            problems.append(f"{name}: {str(outputs[name])[:80]!r} is not {expected}")
    return problems
