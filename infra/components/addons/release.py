"""A chart installed from its pin: fixed release name (the ServiceAccount names, and so
the IRSA subjects, follow it), pinned version and repository, one namespace."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
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
    namespace: pulumi.Input[str],
    values: pulumi.Input[Mapping[str, Any]],
    depends_on: Sequence[pulumi.Resource] = (),
    skip_crds: bool = False,
) -> k8s.helm.v3.Release:
    return k8s.helm.v3.Release(
        name,
        name=pin.chart,
        chart=pin.chart,
        version=pin.version,
        repository_opts=k8s.helm.v3.RepositoryOptsArgs(repo=pin.repository),
        namespace=namespace,
        values=dict(values) if isinstance(values, Mapping) else values,
        skip_crds=skip_crds or None,
        opts=child(parent, depends_on=list(depends_on)),
    )
