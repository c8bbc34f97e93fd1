"""Changes to a stack file that AWS refuses on a running environment.

Each stack file is valid on its own, but some changes between two valid
files cannot be applied to what the first one built.  `stagecraft diff
--base` checks every stack that exists at both revisions and refuses these,
so the pull request says so before `pulumi up` fails half-way:

- Kubernetes moves one minor version at a time, and never back (EKS);
- a running cluster keeps the availability zones it was created with, so
  the zone count cannot change (EKS accepts new subnets only in those zones);
- the VPC range cannot change: it replaces the VPC and every subnet, and the
  cluster, database and cache cannot move to another VPC in place;
- a PostgreSQL major upgrade must be applied at once (`dbApplyImmediately`):
  RDS takes the new parameter group family only together with the new
  engine version, and a read replica can move to the new family only after
  its primary (which RDS upgrades with it); majors never go back;
- a Redis engine change to a new parameter group family (6.2 to 7.x) must
  be applied at once (`cacheApplyImmediately`) for the same reason, and
  ElastiCache never downgrades (it would replace the cache and its data);
- a database restored to a point in time (`dbRestoreTime`, `dbRestoreName`)
  keeps its restore keys while it lives (without them the primary would be
  replaced by an empty instance under the identifier the retained original
  still holds), and a new restore needs a new `dbRestoreName` (the new
  instance is created before the one it replaces is let go of, and two
  cannot share an identifier).

The values are read from the stack files as written (with each revision's
own defaults), so a base revision from before a key existed still compares.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from infra.config import PROJECT_NAME, REDIS_ENGINE_FAMILIES


@dataclass(frozen=True)
class Refusal:
    key: str
    before: str
    after: str
    rule: str

    def __str__(self) -> str:
        return f"{self.key}: {self.before} -> {self.after}: {self.rule}"

    def to_json(self) -> dict[str, str]:
        return {"key": self.key, "before": self.before, "after": self.after, "rule": self.rule}


Values = Mapping[str, str]


def _get(values: Values, name: str) -> str | None:
    value = values.get(f"{PROJECT_NAME}:{name}")
    return None if value is None else str(value).strip()


def _minor(version: str) -> tuple[int, int] | None:
    match = re.fullmatch(r"(\d+)\.(\d+)", version)
    return (int(match.group(1)), int(match.group(2))) if match else None


def _kubernetes(before: Values, after: Values) -> list[Refusal]:
    old, new = _get(before, "kubernetesVersion"), _get(after, "kubernetesVersion")
    if old is None or new is None or old == new:
        return []
    old_minor, new_minor = _minor(old), _minor(new)
    if old_minor is None or new_minor is None or old_minor[0] != new_minor[0]:
        return []
    key = f"{PROJECT_NAME}:kubernetesVersion"
    if new_minor < old_minor:
        return [Refusal(key, old, new, "EKS never downgrades a cluster")]
    if new_minor[1] - old_minor[1] > 1:
        step = f"{old_minor[0]}.{old_minor[1] + 1}"
        return [
            Refusal(
                key,
                old,
                new,
                f"EKS upgrades one minor version at a time; go to {step} first, in its own "
                "deploy, then on",
            )
        ]
    return []


def _zones(before: Values, after: Values) -> list[Refusal]:
    old, new = _get(before, "availabilityZoneCount"), _get(after, "availabilityZoneCount")
    if old is None or new is None or old == new:
        return []
    return [
        Refusal(
            f"{PROJECT_NAME}:availabilityZoneCount",
            old,
            new,
            "a running EKS cluster keeps the zones it was created with and refuses subnets "
            "in others, and its subnets cannot be removed while in use; a different zone "
            "count needs a new environment (create it beside this one and move over)",
        )
    ]


def _vpc(before: Values, after: Values) -> list[Refusal]:
    old, new = _get(before, "vpcCidr"), _get(after, "vpcCidr")
    if old is None or new is None or old == new:
        return []
    return [
        Refusal(
            f"{PROJECT_NAME}:vpcCidr",
            old,
            new,
            "replaces the VPC and every subnet, and a running EKS cluster, RDS instance and "
            "ElastiCache group cannot move to another VPC in place; a new range needs a new "
            "environment",
        )
    ]


def _is_true(value: str | None) -> bool:
    return (value or "").lower() == "true"


def _database(before: Values, after: Values) -> list[Refusal]:
    old, new = _get(before, "dbEngineVersion"), _get(after, "dbEngineVersion")
    if old is None or new is None:
        return []
    old_major, new_major = int(old.split(".")[0]), int(new.split(".")[0])
    key = f"{PROJECT_NAME}:dbEngineVersion"
    if new_major < old_major:
        return [Refusal(key, old, new, "RDS never downgrades PostgreSQL")]
    if new_major > old_major and not _is_true(_get(after, "dbApplyImmediately")):
        return [
            Refusal(
                key,
                old,
                new,
                "a major upgrade needs stagecraft:dbApplyImmediately: true in the same change: "
                f"RDS takes the postgres{new_major} parameter group only together with the new "
                "engine, and the replicas follow their primary only once it is upgraded "
                "(the upgrade restarts the database during `pulumi up`)",
            )
        ]
    return []


def _cache(before: Values, after: Values) -> list[Refusal]:
    old = _get(before, "cacheEngineVersion") or "7.1"
    new = _get(after, "cacheEngineVersion") or "7.1"
    if old == new:
        return []
    key = f"{PROJECT_NAME}:cacheEngineVersion"
    if tuple(map(int, new.split("."))) < tuple(map(int, old.split("."))):
        return [Refusal(key, old, new, "ElastiCache never downgrades: it would replace the cache")]
    family_changes = REDIS_ENGINE_FAMILIES.get(old) != REDIS_ENGINE_FAMILIES.get(new)
    if family_changes and not _is_true(_get(after, "cacheApplyImmediately")):
        return [
            Refusal(
                key,
                old,
                new,
                "an upgrade to a new parameter group family needs "
                "stagecraft:cacheApplyImmediately: true in the same change: ElastiCache "
                "takes the new family only together with the new engine",
            )
        ]
    return []


def _restore(before: Values, after: Values) -> list[Refusal]:
    old_name, new_name = _get(before, "dbRestoreName") or "", _get(after, "dbRestoreName") or ""
    if not old_name:
        return []
    key = f"{PROJECT_NAME}:dbRestoreName"
    if not new_name:
        return [
            Refusal(
                key,
                old_name,
                "(removed)",
                "the database runs on a restored instance: without the restore keys `pulumi "
                "up` would replace it with a new, EMPTY instance under the original identifier, "
                "which RDS refuses while the retained original holds it "
                "(DBInstanceAlreadyExists). Keep dbRestoreTime, dbRestoreSourceIdentifier and "
                "dbRestoreName; to move on, restore again (`stagecraft restore`)",
            )
        ]
    moved = any(
        (_get(before, k) or "") != (_get(after, k) or "")
        for k in ("dbRestoreTime", "dbRestoreSourceIdentifier")
    )
    if new_name == old_name and moved:
        return [
            Refusal(
                key,
                old_name,
                new_name,
                "a new restore (dbRestoreTime or dbRestoreSourceIdentifier changed) needs a "
                "new dbRestoreName: its instance is created before the running one is let go "
                "of, and RDS refuses a second instance with the same identifier",
            )
        ]
    return []


RULES: tuple[Callable[[Values, Values], list[Refusal]], ...] = (
    _kubernetes,
    _zones,
    _vpc,
    _database,
    _cache,
    _restore,
)


def refused_transitions(before: Values, after: Values) -> list[Refusal]:
    """Every change from ``before`` to ``after`` (stack config values) that AWS refuses."""
    return [refusal for rule in RULES for refusal in rule(before, after)]
