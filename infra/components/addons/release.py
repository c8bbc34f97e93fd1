"""A chart installed from its pin: fixed release name (the ServiceAccount names, and so
the IRSA subjects, follow it), pinned version and repository, one namespace."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from infra.charts import ChartPin
from infra.components._common import child


def pinned_release(
    parent: pulumi.Resource,
    name: str,
    pin: ChartPin,
    *,
    namespace: str,
    values: Mapping[str, Any],
) -> k8s.helm.v3.Release:
    return k8s.helm.v3.Release(
        name,
        name=pin.chart,
        chart=pin.chart,
        version=pin.version,
        repository_opts=k8s.helm.v3.RepositoryOptsArgs(repo=pin.repository),
        namespace=namespace,
        values=dict(values),
        opts=child(parent),
    )
