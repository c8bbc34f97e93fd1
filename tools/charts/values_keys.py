"""Add a chart's values.yaml key paths to tests/fixtures/chart-values-keys.json.

    python tools/charts/values_keys.py <chart>@<version> values.yaml [--subchart name=values.yaml ...]

The values file is the chart's own at its pinned tag (read it with `git show
<tag>:<path>` from the chart repository's snapshot). Key paths only; a path
whose default is an empty map, null or "" is free-form (its keys are the
user's: extraArgs, annotations, nodeSelector, ...). A subchart's keys are
listed under its name, as Helm passes them down. `--documented` adds a key
the values.yaml shows only in a comment (Loki's bucketNames, Tempo's s3).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import yaml

FIXTURE = Path(__file__).resolve().parents[2] / "tests/fixtures/chart-values-keys.json"


def key_paths(values: Any, prefix: str = "") -> tuple[list[str], list[str]]:
    keys: list[str] = []
    free: list[str] = []
    if not isinstance(values, dict):
        return keys, free
    for key, value in values.items():
        path = f"{prefix}{key}"
        keys.append(path)
        if value in ({}, None, ""):
            free.append(path)
        elif isinstance(value, dict):
            inner_keys, inner_free = key_paths(value, f"{path}.")
            keys += inner_keys
            free += inner_free
    return keys, free


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("chart", help="<chart>@<version>")
    parser.add_argument("values", type=Path)
    parser.add_argument("--subchart", action="append", default=[], help="name=values.yaml")
    parser.add_argument(
        "--documented",
        action="append",
        default=[],
        help="a key path values.yaml documents in a comment only (loki.storage.bucketNames)",
    )
    args = parser.parse_args()
    keys, free = key_paths(yaml.safe_load(args.values.read_text()))
    for item in args.subchart:
        name, path = item.split("=", 1)
        sub_keys, sub_free = key_paths(yaml.safe_load(Path(path).read_text()), f"{name}.")
        keys += sub_keys
        free += sub_free
    fixture = json.loads(FIXTURE.read_text())
    entry: dict[str, list[str]] = {"keys": sorted(set(keys)), "freeForm": sorted(set(free))}
    if args.documented:
        entry["documented"] = sorted(set(args.documented))
    fixture["charts"][args.chart] = entry
    FIXTURE.write_text(json.dumps(fixture, indent=1, sort_keys=False) + "\n")


if __name__ == "__main__":
    main()
