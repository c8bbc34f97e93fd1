"""Reading IAM policy documents as the plan holds them (JSON text or a mapping)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any


def iam_document(value: Any) -> dict[str, Any]:
    """An IAM document given as JSON text or as a mapping; {} for anything else."""
    if isinstance(value, str):
        try:
            parsed = json.loads(value)
        except ValueError:
            return {}
        return parsed if isinstance(parsed, dict) else {}
    return dict(value) if isinstance(value, Mapping) else {}


def iam_statements(document: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """A document's statements, a single statement object included."""
    statements = document.get("Statement") or []
    return [statements] if isinstance(statements, Mapping) else list(statements)


def as_strings(value: Any) -> list[str]:
    """An Action/Resource/Principal field as a list of strings (one string is a list of one)."""
    return [value] if isinstance(value, str) else [str(v) for v in value or []]
