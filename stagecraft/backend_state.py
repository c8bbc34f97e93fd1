"""Read a self-managed (DIY) Pulumi backend's stack checkpoints without the CLI.

`pulumi stack ls` on an S3 backend reads every stack's checkpoint of the
project, and stops at the first it may not read. The CI role that removes
expired previews may read `pr-*` state and nothing of production's, so the
daily garbage collection lists the bucket itself and opens only the
checkpoints of the stacks it is after.

Layout (project-scoped stacks, the default since Pulumi 3.61):
`<root>/.pulumi/stacks/<project>/<stack>.json` (or `.json.gz` with
PULUMI_DIY_BACKEND_GZIP). https://www.pulumi.com/docs/iac/concepts/state-and-backends/
"""

from __future__ import annotations

import gzip
import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from infra.config import parse_timestamp

CHECKPOINT_SUFFIXES = (".json.gz", ".json")
STACK_RESOURCE_TYPE = "pulumi:pulumi:Stack"


class BackendError(Exception):
    """A backend that cannot be read, said in one line."""


@dataclass(frozen=True)
class StackState:
    name: str
    last_update: datetime | None
    outputs: dict[str, Any] = field(default_factory=dict)


def is_diy(url: str) -> bool:
    """Whether ``url`` is a backend this module reads (S3 or a local folder)."""
    return url.startswith(("s3://", "file://"))


def stacks(url: str, project: str, wanted: Callable[[str], bool]) -> list[StackState]:
    """The checkpoints of ``project``'s stacks whose name ``wanted`` accepts.

    A stack ``wanted`` refuses is never opened, only its key listed.
    """
    if url.startswith("s3://"):
        return sorted(_s3_stacks(url, project, wanted), key=lambda s: s.name)
    if url.startswith("file://"):
        return sorted(_file_stacks(url, project, wanted), key=lambda s: s.name)
    raise BackendError(f"'{url}' is not an s3:// or file:// backend")


def _stack_name(key: str) -> str | None:
    base = key.rsplit("/", 1)[-1]
    for suffix in CHECKPOINT_SUFFIXES:
        if base.endswith(suffix):
            return base[: -len(suffix)]
    return None  # `.json.bak`, `.json.attrs` and anything else the CLI keeps beside


def _parse(name: str, raw: bytes, compressed: bool, modified: datetime) -> StackState:
    try:
        document = json.loads(gzip.decompress(raw) if compressed else raw)
        latest = (document.get("checkpoint") or {}).get("latest") or {}
    except (ValueError, OSError, AttributeError) as error:
        message = f"stack '{name}': the checkpoint is not Pulumi state ({error})"
        raise BackendError(message) from None
    manifest_time = (latest.get("manifest") or {}).get("time")
    outputs: dict[str, Any] = {}
    for resource in latest.get("resources") or []:
        if resource.get("type") == STACK_RESOURCE_TYPE:
            outputs = dict(resource.get("outputs") or {})
    # A stack created but never updated has no manifest: its object's date is
    # the best "last update" there is.
    try:
        last_update = parse_timestamp(str(manifest_time)) if manifest_time else modified
    except ValueError:
        last_update = modified
    return StackState(name, last_update, outputs)


def _file_stacks(url: str, project: str, wanted: Callable[[str], bool]) -> Iterator[StackState]:
    parts = urlsplit(url)  # file://~ (netloc "~"), file:///abs/path (path)
    root = Path(os.path.expanduser(parts.netloc + parts.path or "~"))
    folder = root / ".pulumi" / "stacks" / project
    if not folder.is_dir():
        return
    for path in folder.iterdir():
        name = _stack_name(path.name)
        if name is None or not wanted(name):
            continue
        modified = datetime.fromtimestamp(path.stat().st_mtime, UTC)
        yield _parse(name, path.read_bytes(), path.name.endswith(".gz"), modified)


def _s3_stacks(url: str, project: str, wanted: Callable[[str], bool]) -> Iterator[StackState]:
    import botocore.exceptions
    import botocore.session

    parts = urlsplit(url)
    bucket, root = parts.netloc, parts.path.strip("/")
    region = parse_qs(parts.query).get("region", [None])[0]
    prefix = f"{root + '/' if root else ''}.pulumi/stacks/{project}/"
    # Endpoint and credentials as the AWS SDKs find them (AWS_ENDPOINT_URL,
    # AWS_PROFILE, the web-identity token CI's role assumption leaves).
    client: Any = botocore.session.get_session().create_client("s3", region_name=region)
    try:
        pages = client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        for page in pages:
            for item in page.get("Contents", []):
                key = item["Key"]
                name = _stack_name(key)
                if name is None or key[len(prefix) :].count("/") or not wanted(name):
                    continue
                body = client.get_object(Bucket=bucket, Key=key)["Body"].read()
                yield _parse(name, body, key.endswith(".gz"), item["LastModified"])
    except botocore.exceptions.ClientError as error:
        code = error.response.get("Error", {}).get("Code", "error")
        raise BackendError(
            f"s3://{bucket}/{prefix}: {code} ({error.response.get('Error', {}).get('Message', '')})"
        ) from None
    except botocore.exceptions.BotoCoreError as error:
        raise BackendError(f"s3://{bucket}/{prefix}: {error}") from None
