"""IAM's policy evaluation logic, for the documents this repository writes.

https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html

An explicit Deny wins; else any Allow; else denied. Action and Resource
patterns use `*` and `?`; a statement's condition keys are ANDed, a key's
listed values ORed. Operators: the String, Arn and Bool families and Null,
as these documents use them. A key missing from the request context fails
every positive operator and satisfies the negated ones (StringNotEquals,
StringNotLike), as in IAM; an ...IfExists operator holds when the key is
missing. Not modelled: permissions boundaries, SCPs,
resource policies, policy variables, multi-valued keys: what they would add
is more denial, so an "allowed" here may still be refused by AWS, never
the other way round for these documents (which use none of them).
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Mapping, Sequence
from typing import Any, Literal

Decision = Literal["allowed", "denied", "implicitly denied"]


def _listed(value: Any) -> list[str]:
    return [value] if isinstance(value, str) else [str(v) for v in value or []]


def _glob(pattern: str, value: str, *, case_sensitive: bool) -> bool:
    expression = fnmatch.translate(pattern)
    return re.match(expression, value, 0 if case_sensitive else re.IGNORECASE) is not None


def _matches_any(patterns: Sequence[str], value: str, *, case_sensitive: bool) -> bool:
    return any(_glob(p, value, case_sensitive=case_sensitive) for p in patterns)


def _condition_holds(operator: str, key: str, wanted: Any, context: Mapping[str, str]) -> bool:
    values = _listed(wanted) if not isinstance(wanted, bool) else [str(wanted).lower()]
    present = key in context
    if operator.endswith("IfExists") and operator != "Null":
        # ...IfExists: a key the request does not carry satisfies the condition.
        return not present or _condition_holds(operator[: -len("IfExists")], key, wanted, context)
    actual = context.get(key, "")
    if operator == "Null":
        # "true": the key must be absent; "false": present.
        return (not present) if values[0] == "true" else present
    negated = "Not" in operator
    if not present:
        return negated
    if operator in ("StringEquals", "StringNotEquals", "ArnEquals", "ArnNotEquals"):
        hit = actual in values
    elif operator in ("StringLike", "StringNotLike", "ArnLike", "ArnNotLike"):
        hit = _matches_any(values, actual, case_sensitive=True)
    elif operator == "Bool":
        hit = actual.lower() in values
    else:
        raise NotImplementedError(f"condition operator {operator}")
    return not hit if negated else hit


def _applies(
    statement: Mapping[str, Any], action: str, resource: str, context: Mapping[str, str]
) -> bool:
    if "Action" in statement:
        if not _matches_any(_listed(statement["Action"]), action, case_sensitive=False):
            return False
    elif _matches_any(_listed(statement.get("NotAction")), action, case_sensitive=False):
        return False
    if "Resource" in statement:
        if not _matches_any(_listed(statement["Resource"]), resource, case_sensitive=True):
            return False
    elif _matches_any(_listed(statement.get("NotResource")), resource, case_sensitive=True):
        return False
    for operator, keys in (statement.get("Condition") or {}).items():
        for key, wanted in keys.items():
            if not _condition_holds(operator, key, wanted, context):
                return False
    return True


def decide(
    document: Mapping[str, Any],
    action: str,
    resource: str,
    context: Mapping[str, str] | None = None,
) -> Decision:
    """What IAM decides for ``action`` on ``resource`` under this identity policy."""
    statements = document.get("Statement") or []
    if isinstance(statements, Mapping):
        statements = [statements]
    applying = [s for s in statements if _applies(s, action, resource, context or {})]
    if any(s.get("Effect") == "Deny" for s in applying):
        return "denied"
    if any(s.get("Effect") == "Allow" for s in applying):
        return "allowed"
    return "implicitly denied"


def tag_context(tags: Mapping[str, str]) -> dict[str, str]:
    """The request context a resource's tags give: aws:ResourceTag/<key>."""
    return {f"aws:ResourceTag/{key}": value for key, value in tags.items()}
