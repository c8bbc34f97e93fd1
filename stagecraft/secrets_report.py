"""The report's Secrets rows: third-party slots, how they reach the namespace, and which
secrets rotate on their own and which by hand (with their age policy).

Read from the plan (what the program builds), the age policy from config.
Cells hold no stack name, so environments differ only where their settings do.
"""

from __future__ import annotations

from infra.config import StackConfig
from stagecraft.offline.engine import Plan

SECRET = "aws:secretsmanager/secret:Secret"
SECRET_ROTATION = "aws:secretsmanager/secretRotation:SecretRotation"
SECRET_STORE = "kubernetes:external-secrets.io/v1:SecretStore"
EXTERNAL_SECRET = "kubernetes:external-secrets.io/v1:ExternalSecret"
HELM_RELEASE = "kubernetes:helm.sh/v3:Release"
THIRD_PARTY = "/third-party/"
COMPONENT = "stagecraft:index:ThirdPartySecrets"


def _short(name: str, prefix: str) -> str:
    """A secret's name without the stack's prefix (`database-master`, `third-party/x`)."""
    return name.split("/", 1)[1] if name.startswith(prefix) and "/" in name else name


def secrets_rows(plan: Plan, config: StackConfig) -> dict[str, str]:
    prefix = config.resource_prefix
    secrets = plan.of_type(SECRET)
    slots = sorted(
        str(s.inputs.get("name")).split(THIRD_PARTY, 1)[1]
        for s in secrets
        if THIRD_PARTY in str(s.inputs.get("name"))
    )
    # A value in the stack would be a SecretVersion beside the slots.
    values_in_stack = [
        v.name
        for v in plan.of_type("aws:secretsmanager/secretVersion:SecretVersion")
        if f"{COMPONENT}$" in v.urn
    ]
    slots_row = (
        f"{', '.join(slots)}: values put by hand, "
        + (
            "none in the stack"
            if not values_in_stack
            else f"VALUES IN THE STACK: {', '.join(values_in_stack)}"
        )
        if slots
        else "none"
    )

    stores = plan.of_type(SECRET_STORE)
    deliveries = plan.of_type(EXTERNAL_SECRET)
    operator = next(
        (r for r in plan.of_type(HELM_RELEASE) if r.inputs.get("chart") == "external-secrets"),
        None,
    )
    if operator and stores and deliveries:
        spec = deliveries[0].inputs.get("spec") or {}
        auth = ((stores[0].inputs.get("spec") or {}).get("provider") or {}).get("aws") or {}
        reader = (((auth.get("auth") or {}).get("jwt") or {}).get("serviceAccountRef") or {}).get(
            "name", "the operator's own identity"
        )
        delivery_row = (
            f"External Secrets {operator.inputs.get('version')}: namespaced SecretStore reading "
            f"as {reader} (its role: this environment's third-party/* only) into Secret "
            f"{(spec.get('target') or {}).get('name')}, refreshed every "
            f"{spec.get('refreshInterval')}"
        )
    else:
        delivery_row = "none"

    rotated = {
        str(r.inputs.get("secretId")): r.inputs.get("rotationRules") or {}
        for r in plan.of_type(SECRET_ROTATION)
    }
    automatic = []
    by_hand = []
    for secret in secrets:
        name = _short(str(secret.inputs.get("name")), prefix)
        rules = next(
            (rule for target, rule in rotated.items() if secret.urn in target or name in target),
            None,
        )
        if rules is not None:
            every = rules.get("automaticallyAfterDays") or rules.get("scheduleExpression")
            automatic.append(f"{name} (every {every} days)")
        else:
            by_hand.append(name)
    days = config.secrets.secret_rotation_days
    return {
        "Third-party secret slots": slots_row,
        "Third-party secrets delivered by": delivery_row,
        "Secrets rotated automatically": ", ".join(sorted(automatic)) or "none",
        # Nothing rotates these: someone must, at least this often.
        "Secret age policy (rotate by hand)": f"every {days} days",
        "Secrets rotated by hand": ", ".join(sorted(by_hand)) or "none",
    }
