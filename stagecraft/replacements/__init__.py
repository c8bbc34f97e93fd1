"""Which input changes replace a resource instead of updating it, per Pulumi type.

pulumi-aws is bridged from terraform-provider-aws: an input forces a
replacement when the upstream schema marks it ``ForceNew`` (SDKv2) or gives
it a ``RequiresReplace`` plan modifier (Plugin Framework).  ``pulumi-aws.json``
is that table, generated from the upstream source with its provenance;
``pulumi-kubernetes-random.json`` holds the rules of pulumi-kubernetes (its
Diff) and pulumi-random, and of the providers themselves (see README.md
here).  What happens to the resources of a replaced or re-regioned provider
is applied by :mod:`stagecraft.diff` on top.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

TABLES = tuple(sorted(Path(__file__).resolve().parent.glob("*.json")))

# Every Kubernetes kind the tables do not list (a custom resource, say) is
# replaced when its name or namespace changes, and only then.
GENERIC_KUBERNETES = "kubernetes:<group>/<version>:<Kind>"


@dataclass(frozen=True)
class Conditional:
    path: str
    note: str


@dataclass(frozen=True)
class ResourceReplacements:
    """The replacing inputs of one type, as property paths.

    Paths use the engine's camelCase names; ``.`` enters an object and
    ``[*]`` any element of a list (``routes[*].cidrBlock``).
    """

    type: str
    source: str
    force_new: frozenset[str]
    conditional: tuple[Conditional, ...]
    # pulumi:providers:aws: a new region replaces every regional resource
    # created through it (each takes the provider's region as an input).
    region_replaces_dependents: bool = False
    # Inputs that name the resource in AWS; set explicitly and unchanged, a
    # replacement must delete the old resource first (names are unique).
    name_like: tuple[str, ...] = ()

    def forcing(self, path: str) -> str | None:
        """The table entry that makes a change at ``path`` a replacement, if any.

        ``vpcConfig.subnetIds[2]`` is forced by ``vpcConfig.subnetIds``;
        ``routes[0].cidrBlock`` by ``routes[*].cidrBlock``; a change anywhere
        inside a block that is itself ForceNew (``remoteAccess``) by the block.
        """
        generic = _generic(path)
        for entry in sorted(self.force_new, key=len, reverse=True):
            if generic == entry or generic.startswith((f"{entry}.", f"{entry}[")):
                return entry
        return None


def _generic(path: str) -> str:
    """``routes[0].cidrBlock`` as the table writes it: ``routes[*].cidrBlock``."""
    out, i = [], 0
    while i < len(path):
        if path[i] == "[":
            end = path.index("]", i)
            out.append("[*]")
            i = end + 1
        else:
            out.append(path[i])
            i += 1
    return "".join(out)


@dataclass(frozen=True)
class ReplacementTable:
    provenance: Mapping[str, Any]
    resources: Mapping[str, ResourceReplacements]

    def knows(self, type_token: str) -> bool:
        return self.of(type_token) is not None

    def of(self, type_token: str) -> ResourceReplacements | None:
        found = self.resources.get(type_token)
        if found is None and type_token.startswith("kubernetes:"):
            found = self.resources.get(GENERIC_KUBERNETES)
        return found


@cache
def load(paths: tuple[Path, ...] = TABLES) -> ReplacementTable:
    """Every table here, merged: pulumi-aws's, and pulumi-kubernetes' and pulumi-random's."""
    provenance: dict[str, Any] = {}
    resources: dict[str, ResourceReplacements] = {}
    for path in paths:
        document = json.loads(path.read_text(encoding="utf-8"))
        provenance.update(document["provenance"])
        for token, entry in document["resources"].items():
            resources[token] = ResourceReplacements(
                type=token,
                source=str(entry.get("source") or entry.get("terraform") or ""),
                force_new=frozenset(entry["forceNew"]),
                conditional=tuple(
                    Conditional(str(c.get("property")), str(c.get("note", "")))
                    for c in entry.get("conditional", [])
                ),
                region_replaces_dependents=bool(entry.get("regionReplacesDependents")),
                # A Kubernetes object with a name of its own (not auto-named) is
                # deleted before its replacement: the API holds one per name.
                name_like=tuple(
                    entry.get("nameLike")
                    or (("metadata.name",) if token.startswith("kubernetes:") else ())
                ),
            )
    return ReplacementTable(provenance=provenance, resources=resources)
