"""Evaluate the real program for one stack under the Pulumi SDK's mock runtime.

This is the only harness: `stagecraft plan` prints what it returns and the
tests assert on it.  It does what the Pulumi language host does (configure
the runtime, hand over the stack's config, run ``Pulumi.yaml``'s ``main`` inside
a root Stack) with a resource monitor that records every registration instead
of talking to an engine.  Inputs are recorded exactly as the SDK serialised
them, with engine (camelCase) property names, and secrets replaced by
``"[secret]"`` before anything can print them.
"""

from __future__ import annotations

import asyncio
import contextvars
import dataclasses
import hashlib
import hmac
import json
import logging
import runpy
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from google.protobuf import json_format, struct_pb2
from pulumi.runtime import run_in_stack, set_all_config
from pulumi.runtime.mocks import MockEngine, MockMonitor, MockSettings
from pulumi.runtime.settings import ROOT, SETTINGS, configure, get_project, get_stack

from stagecraft.offline.fingerprints import fingerprint_key
from stagecraft.offline.mocks import (
    DEFAULT_SERVICE_LINKED_ROLES,
    PLACEHOLDER_ACCOUNT_ID,
    StagecraftMocks,
)
from stagecraft.offline.stackfiles import Project, load_project

SECRET = "[secret]"
UNKNOWN = "[unknown]"
STACK_TYPE = "pulumi:pulumi:Stack"

# Markers the Pulumi wire format puts in property maps (sdk/python/lib/pulumi/runtime/rpc.py).
_SIG_KEY = "4dabf18193072939515e22adb298388d"
_SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"
_RESOURCE_SIG = "5cf8f73096256a8f31e491e813e4eb8e"
_OUTPUT_SIG = "d0e6a833031e9bbcd3f4e8bde6ca49a4"
_UNKNOWN_VALUE = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"


@dataclass(frozen=True)
class PlannedResource:
    """One resource `pulumi up` would register."""

    urn: str
    type: str
    name: str
    parent: str | None
    custom: bool
    protect: bool
    provider: str | None
    inputs: dict[str, Any]
    ignore_changes: list[str] = field(default_factory=list)
    dependencies: list[str] = field(default_factory=list)
    # Property path -> fingerprint of each "[secret]" in ``inputs``.
    secret_fingerprints: dict[str, str] = field(default_factory=dict)
    # The id of an existing cloud resource to adopt (`import` option), if any.
    import_id: str | None = None
    # The id the (mock) provider gave it; components have none.
    id: str | None = None
    # `deleteBeforeReplace`: a replacement deletes the old one first (downtime).
    delete_before_replace: bool = False
    # `retainOnDelete`: a delete (or the old half of a replacement) only
    # removes it from the stack; it keeps running in the account.
    retain_on_delete: bool = False
    # `replaceOnChanges`: property paths whose change replaces it.
    replace_on_changes: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "urn": self.urn,
            "type": self.type,
            "name": self.name,
            "parent": self.parent,
            "custom": self.custom,
            "protect": self.protect,
            "provider": self.provider,
            "ignoreChanges": self.ignore_changes,
            "dependencies": self.dependencies,
            "inputs": self.inputs,
            "secretFingerprints": self.secret_fingerprints,
            "importId": self.import_id,
            "id": self.id,
            "deleteBeforeReplace": self.delete_before_replace,
            # Only when set, so plans of stacks without it read as before.
            **({"retainOnDelete": True} if self.retain_on_delete else {}),
            **({"replaceOnChanges": self.replace_on_changes} if self.replace_on_changes else {}),
        }


@dataclass(frozen=True)
class Plan:
    """Everything the program registered for one stack, in registration order."""

    project: str
    stack: str
    resources: list[PlannedResource]
    outputs: dict[str, Any]
    diagnostics: list[str] = field(default_factory=list)

    def of_type(self, type_token: str) -> list[PlannedResource]:
        return [r for r in self.resources if r.type == type_token]

    def one(self, type_token: str) -> PlannedResource:
        found = self.of_type(type_token)
        if len(found) != 1:
            raise LookupError(f"expected one {type_token}, found {len(found)}")
        return found[0]

    def by_urn(self, urn: str) -> PlannedResource:
        for resource in self.resources:
            if resource.urn == urn:
                return resource
        raise LookupError(urn)

    def children_of(self, urn: str) -> list[PlannedResource]:
        return [r for r in self.resources if r.parent == urn]

    def descendants_of(self, urn: str) -> Iterator[PlannedResource]:
        for resource in self.children_of(urn):
            yield resource
            yield from self.descendants_of(resource.urn)

    def type_counts(self) -> Counter[str]:
        return Counter(r.type for r in self.resources if r.type != STACK_TYPE)

    def to_json(self) -> dict[str, Any]:
        return {
            "project": self.project,
            "stack": self.stack,
            "resources": [r.to_json() for r in self.resources],
            "outputs": self.outputs,
        }


def fingerprint(value: Any, path: str = "") -> str:
    # The path is mixed in so equal values in different properties (the Redis
    # token in the cache and in its Secrets Manager copy) do not match.
    payload = json.dumps([path, value], sort_keys=True, default=str).encode()
    return hmac.new(fingerprint_key(), payload, hashlib.sha256).hexdigest()[:16]


def plain(value: Any, fingerprints: dict[str, str] | None = None, path: str = "") -> Any:
    """A wire-format property value as JSON, secrets and unknowns masked.

    Each masked secret's fingerprint is recorded in ``fingerprints`` under
    its property path (``stringData``, ``routes[0].cidrBlock``).
    """

    def secret(inner: Any) -> str:
        if fingerprints is not None:
            fingerprints[path] = fingerprint(inner, path)
        return SECRET

    if isinstance(value, dict):
        signature = value.get(_SIG_KEY)
        if signature == _SECRET_SIG:
            return secret(value.get("value"))
        if signature == _RESOURCE_SIG:
            return value.get("urn")
        if signature == _OUTPUT_SIG:
            if value.get("secret"):
                return secret(value.get("value"))
            return plain(value["value"], fingerprints, path) if "value" in value else UNKNOWN
        return {
            key: plain(item, fingerprints, f"{path}.{key}" if path else key)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [plain(item, fingerprints, f"{path}[{i}]") for i, item in enumerate(value)]
    if value == _UNKNOWN_VALUE:
        return UNKNOWN
    if isinstance(value, float) and value.is_integer():
        return int(value)  # protobuf carries every number as a double
    return value


def _struct_to_json(struct: Any, fingerprints: dict[str, str] | None = None) -> dict[str, Any]:
    converted = plain(json_format.MessageToDict(struct), fingerprints)
    return converted if isinstance(converted, dict) else {}


class DuplicateUrnError(Exception):
    """Two resources were registered under one URN."""


class RecordingMonitor(MockMonitor):
    """A MockMonitor that keeps what each registration asked for."""

    def __init__(self, mocks: StagecraftMocks) -> None:
        super().__init__(mocks)
        self.records: list[PlannedResource] = []
        self._urns: set[str] = set()
        self._lock = threading.Lock()
        self.stack_outputs: dict[str, Any] = {}

    def make_urn(self, parent: str, type_: str, name: str) -> str:
        """URNs as the engine builds them: the parent's type chain, minus the Stack."""
        qualified = type_
        if parent:
            parent_type = parent.split("::")[2]
            if parent_type != STACK_TYPE:
                qualified = f"{parent_type}${type_}"
        return f"urn:pulumi:{get_stack()}::{get_project()}::{qualified}::{name}"

    def RegisterResource(self, request: Any) -> Any:  # noqa: N802 (gRPC method name)
        urn = self.make_urn(request.parent, request.type, request.name)
        with self._lock:  # registrations arrive on several threads at once
            if urn in self._urns:
                # The real engine refuses this too; the SDK's mock monitor does not.
                raise DuplicateUrnError(
                    f"Duplicate resource URN '{urn}'; try giving it a unique name"
                )
            self._urns.add(urn)
        response = super().RegisterResource(request)
        _mark_secret_outputs(response.object, request.additionalSecretOutputs)
        # A provider reference is "<urn>::<id>" and URNs contain "::" themselves.
        provider = request.provider.rsplit("::", 1)[0] if request.provider else None
        fingerprints: dict[str, str] = {}
        inputs = _struct_to_json(request.object, fingerprints)
        self.records.append(
            PlannedResource(
                urn=response.urn,
                type=request.type,
                name=request.name,
                parent=request.parent or None,
                custom=bool(request.custom),
                protect=bool(request.protect) if request.HasField("protect") else False,
                provider=provider,
                inputs=inputs,
                secret_fingerprints=fingerprints,
                ignore_changes=list(request.ignoreChanges),
                dependencies=sorted(request.dependencies),
                import_id=request.importId or None,
                id=response.id or None,
                delete_before_replace=bool(request.deleteBeforeReplace),
                retain_on_delete=bool(request.retainOnDelete)
                if request.HasField("retainOnDelete")
                else False,
                replace_on_changes=list(request.replaceOnChanges),
            )
        )
        return response

    def ReadResource(self, request: Any) -> Any:  # noqa: N802 (gRPC method name)
        response = super().ReadResource(request)
        # Reads (a StackReference) are part of the plan too: they name what the
        # stack depends on outside itself.
        self.records.append(
            PlannedResource(
                urn=response.urn,
                type=request.type,
                name=request.name,
                parent=request.parent or None,
                custom=True,
                protect=False,
                provider=request.provider.rsplit("::", 1)[0] if request.provider else None,
                inputs={"name": request.id},
                dependencies=sorted(request.dependencies),
            )
        )
        return response

    def RegisterResourceOutputs(self, request: Any) -> Any:  # noqa: N802
        if request.urn.split("::")[2] == STACK_TYPE:
            self.stack_outputs = _struct_to_json(request.outputs)
        return super().RegisterResourceOutputs(request)


def _mark_secret_outputs(state: Any, names: Any) -> None:
    """Wrap the outputs a resource declares secret, as the engine does.

    Providers' SDKs list their secret outputs (pulumi-random's ``result``)
    in ``additionalSecretOutputs``; the engine marks them secret in what it
    returns, so everything computed from them stays secret.  The SDK's mock
    monitor does not, which would let a generated password reach a plan in
    plain text where `pulumi up` would never show it.
    """
    for name in names:
        if name not in state.fields:
            continue
        value = struct_pb2.Value()
        value.CopyFrom(state.fields[name])
        wrapped = struct_pb2.Struct()
        wrapped.fields[_SIG_KEY].string_value = _SECRET_SIG
        wrapped.fields["value"].CopyFrom(value)
        state.fields[name].struct_value.CopyFrom(wrapped)


class _CollectingHandler(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(f"{record.levelname.lower()}: {record.getMessage()}")


def evaluate(
    stack: str,
    *,
    project_dir: Path | None = None,
    config_overrides: dict[str, Any] | None = None,
    existing_log_groups: frozenset[str] = frozenset(),
    bootstrapped: bool = True,
    dry_run: bool = True,
    allow_placeholders: bool = True,
    secrets: dict[str, str] | None = None,
) -> Plan:
    """Run the program for ``stack`` and return what it would create.

    ``config_overrides`` replaces stack-file keys (as written in the file) for
    this run only.  ``existing_log_groups`` are log groups the mock account
    already holds; ``bootstrapped`` False is an account the bootstrap has not
    run in (no Auto Scaling service-linked role, no permissions boundaries).
    ``dry_run``
    False evaluates the program as `pulumi up` would (a preview is what
    `stagecraft plan` shows).  ``allow_placeholders`` sets the stack's
    `allowPlaceholderValues` for this run, as `pulumi up --config` would, so
    the shipped stack files (documentation accounts and ranges) plan
    offline; False runs them as a real deploy would, which refuses those
    values.  ``secrets`` are `secure:` keys with their decrypted values, handed
    over as `pulumi up` hands them (values marked secret), where offline the
    stack file's ciphertext cannot be decrypted.  Errors the program raises
    (such as ``ConfigError``) propagate unchanged, after the runtime is shut
    down cleanly.
    """
    project = load_project(project_dir)
    config = project.config_map(stack, config_overrides, allow_placeholders=allow_placeholders)
    if secrets:
        config = dataclasses.replace(
            config,
            values={**config.values, **secrets},
            secret_keys=sorted({*config.secret_keys, *secrets}),
        )
    mocks = StagecraftMocks(
        region=config.values.get("aws:region") or "us-east-1",
        account=config.values.get(f"{project.name}:awsAccountId") or PLACEHOLDER_ACCOUNT_ID,
        existing_log_groups=existing_log_groups,
        service_linked_roles=DEFAULT_SERVICE_LINKED_ROLES if bootstrapped else frozenset(),
        bootstrapped=bootstrapped,
    )
    shared_stack = config.values.get(f"{project.name}:sharedStack")
    if shared_stack:
        # A pr-<n> / dev-<name> stack reads its shared stack's outputs: plan
        # that stack first and let the StackReference answer with its outputs.
        parent = shared_stack.rsplit("/", 1)[-1]
        parent_dir = _project_holding(project.directory, parent)
        if parent_dir is not None:
            mocks.stack_outputs[shared_stack] = evaluate(
                parent, project_dir=parent_dir, allow_placeholders=allow_placeholders
            ).outputs
    monitor = RecordingMonitor(mocks)

    logger = logging.getLogger(f"stagecraft.offline.{stack}")
    logger.propagate = False
    handler = _CollectingHandler()
    logger.addHandler(handler)
    try:
        contextvars.copy_context().run(
            _run_program,
            project,
            stack,
            config.values,
            config.secret_keys,
            monitor,
            logger,
            dry_run,
        )
    finally:
        logger.removeHandler(handler)
        # A program that failed inside an apply leaves tasks of its (closed)
        # event loop in the SDK's outstanding-outputs set that worker threads
        # share; the next evaluation in this process would wait on them.
        with SETTINGS.lock:
            SETTINGS.outputs.clear()

    # Registrations arrive from a thread pool in no fixed order; sorting by URN
    # (the Stack first) makes two evaluations of the same program identical.
    resources = sorted(monitor.records, key=lambda r: (r.type != STACK_TYPE, r.urn))
    return Plan(
        project=project.name,
        stack=stack,
        resources=resources,
        outputs=monitor.stack_outputs,
        diagnostics=handler.messages,
    )


def _project_holding(directory: Path, stack: str) -> Path | None:
    """The project (this one or the one above) with a stack file for ``stack``."""
    for candidate in (directory.parent, directory):
        if (
            any((candidate / f"Pulumi.{stack}.{ext}").is_file() for ext in ("yaml", "yml"))
            and (candidate / "Pulumi.yaml").is_file()
        ):
            return candidate
    return None


def _run_program(
    project: Project,
    stack: str,
    config: dict[str, str],
    secret_keys: list[str],
    monitor: RecordingMonitor,
    logger: logging.Logger,
    dry_run: bool,
) -> None:
    ROOT.set(None)
    configure(
        MockSettings(
            monitor=monitor,
            monitor_features=set(monitor.GetDeploymentInfo(None).supportedFeatures),
            engine=MockEngine(logger),
            project=project.name,
            stack=stack,
            dry_run=dry_run,
            organization="organization",
            callbacks=None,
        )
    )
    set_all_config(config, secret_keys)
    program = project.program_path

    def run_main() -> None:
        runpy.run_path(str(program), run_name="__main__")

    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    # A failing program leaves futures whose errors are the same error again;
    # asyncio would log each one as "never retrieved".  The first error is
    # re-raised below, so the echoes are muted.
    asyncio_logger = logging.getLogger("asyncio")
    previous_level = asyncio_logger.level
    asyncio_logger.setLevel(logging.CRITICAL)
    try:
        loop.run_until_complete(run_in_stack(run_main))
    finally:
        # As the Pulumi language host does: cancel whatever an error left
        # pending before closing the loop.
        pending = asyncio.all_tasks(loop)
        for task in pending:
            task.cancel()
        if pending:
            loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        loop.close()
        asyncio.set_event_loop(None)
        asyncio_logger.setLevel(previous_level)
