"""Which input changes replace a resource instead of updating it, per Pulumi type.

pulumi-aws is bridged from terraform-provider-aws: an input forces a
replacement when the upstream schema marks it ``ForceNew`` (SDKv2) or gives
it a ``RequiresReplace`` plan modifier (Plugin Framework).  ``pulumi-aws.json``
is that table, generated from the upstream source with its provenance (see
README.md here); Pulumi's own rules (a changed name or parent, a changed
provider) are applied by :mod:`stagecraft.diff` on top.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

TABLE = Path(__file__).resolve().parent / "pulumi-aws.json"


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
    terraform: str
    force_new: frozenset[str]
    conditional: tuple[Conditional, ...]

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
        return type_token in self.resources

    def of(self, type_token: str) -> ResourceReplacements | None:
        return self.resources.get(type_token)


@cache
def load(path: Path = TABLE) -> ReplacementTable:
    document = json.loads(path.read_text(encoding="utf-8"))
    resources = {
        token: ResourceReplacements(
            type=token,
            terraform=str(entry["terraform"]),
            force_new=frozenset(entry["forceNew"]),
            conditional=tuple(
                Conditional(str(c.get("property")), str(c.get("note", "")))
                for c in entry.get("conditional", [])
            ),
        )
        for token, entry in document["resources"].items()
    }
    return ReplacementTable(provenance=document["provenance"], resources=resources)
