"""Reading Pulumi.yaml and Pulumi.<stack>.yaml the way the Pulumi CLI does.

The CLI hands a program its config as strings (structured values as JSON),
applies project-level defaults, and keeps `secure:` values encrypted until the
program runs.  Offline there is no key to decrypt them, so each is replaced
by a placeholder and marked secret: the plan still runs and never shows one.
"""

from __future__ import annotations

import copy
import difflib
import functools
import json
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from infra.config import UNDECRYPTED_SECRET
from infra.documentation_values import DOCUMENTATION_CIPHERTEXT, DOCUMENTATION_SECRET

SECURE_PLACEHOLDER = UNDECRYPTED_SECRET

# What a Pulumi.<stack>.yaml may hold at the top level (the Pulumi CLI's stack
# settings): anything else is a typo that would leave every key unset.
STACK_FILE_KEYS = ("config", "secretsprovider", "encryptedkey", "encryptionsalt", "environment")
STACK_FILE = re.compile(r"^Pulumi\.(?P<stack>[^.]+)\.ya?ml$")


class StackFileError(Exception):
    """A project or stack file is missing or cannot be read."""


class UnknownStackError(StackFileError):
    def __init__(self, stack: str, known: list[str], project_dir: Path) -> None:
        self.stack = stack
        self.known = known
        listing = ", ".join(known) if known else "(none)"
        super().__init__(
            f"no stack '{stack}': there is no Pulumi.{stack}.yaml in {project_dir}. "
            f"Stacks: {listing}"
        )


@dataclass(frozen=True)
class StackConfigMap:
    """A stack's config as the program receives it."""

    values: dict[str, str]
    secret_keys: list[str] = field(default_factory=list)
    raw: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Project:
    directory: Path
    name: str
    main: str
    config_schema: dict[str, dict[str, Any]]

    @property
    def program_path(self) -> Path:
        return (self.directory / self.main).resolve()

    def stacks(self) -> list[str]:
        found = []
        for path in self.directory.iterdir():
            match = STACK_FILE.match(path.name)
            if match:
                found.append(match.group("stack"))
        return sorted(found)

    def stack_file(self, stack: str) -> Path:
        for suffix in ("yaml", "yml"):
            path = self.directory / f"Pulumi.{stack}.{suffix}"
            if path.is_file():
                return path
        raise UnknownStackError(stack, self.stacks(), self.directory)

    def read_stack(self, stack: str) -> dict[str, Any]:
        """The raw `config:` mapping of a stack file."""
        path = self.stack_file(stack)
        document = load_yaml(path)
        if document is None:
            document = {}
        if not isinstance(document, dict):
            raise StackFileError(f"{path.name}: must be a mapping with a `config:` key")
        unknown = sorted(str(k) for k in document if k not in STACK_FILE_KEYS)
        if unknown:
            close = difflib.get_close_matches(unknown[0], STACK_FILE_KEYS, n=1)
            hint = f"did you mean '{close[0]}'?" if close else ""
            raise StackFileError(
                f"{path.name}: top-level key '{unknown[0]}' is not one a stack file has "
                f"({', '.join(STACK_FILE_KEYS)}); {hint}".rstrip("; ")
            )
        config = document.get("config") or {}
        if not isinstance(config, dict):
            raise StackFileError(f"{path.name}: `config:` must be a mapping of key: value")
        return dict(config)

    def config_map(
        self,
        stack: str,
        overrides: dict[str, Any] | None = None,
        *,
        allow_placeholders: bool = True,
    ) -> StackConfigMap:
        """What `pulumi up --stack <stack>` would hand the program as config.

        Offline, the stack files' documentation values (example account,
        TEST-NET ranges) are accepted, as `pulumi up --config
        allowPlaceholderValues=true` would make them; ``allow_placeholders``
        False hands over the file as a real deploy reads it.
        """
        raw = self.read_stack(stack)
        if allow_placeholders:
            raw[f"{self.name}:{ALLOW_PLACEHOLDERS}"] = True
        raw.update(overrides or {})
        values: dict[str, str] = {}
        secret_keys: list[str] = []
        for key, declared in self.config_schema.items():
            if "default" in declared:
                values[f"{self.name}:{key}"] = _as_cli_string(declared["default"])
        for key, value in raw.items():
            full_key = key if ":" in key else f"{self.name}:{key}"
            declared = self.config_schema.get(full_key.removeprefix(f"{self.name}:"), {})
            if isinstance(value, float) and declared.get("type") == "string":
                raise StackFileError(
                    f"{self.stack_file(stack).name}: {full_key}: {value} is a number to YAML "
                    f'(1.30 reads as 1.3, 16.10 as 16.1); quote it: {full_key}: "<value>"'
                )
            if isinstance(value, dict) and set(value) == {"secure"}:
                documentation = value["secure"] == DOCUMENTATION_CIPHERTEXT
                values[full_key] = DOCUMENTATION_SECRET if documentation else SECURE_PLACEHOLDER
                secret_keys.append(full_key)
            else:
                values[full_key] = _as_cli_string(value)
        return StackConfigMap(values=values, secret_keys=secret_keys, raw=raw)


# The config key (infra/config.py GeneralSpec) that lets documentation values through.
ALLOW_PLACEHOLDERS = "allowPlaceholderValues"


def _as_cli_string(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)):
        return str(value)
    return json.dumps(value)


class _DuplicateKeyError(yaml.MarkedYAMLError):
    pass


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses a key written twice in one mapping.

    PyYAML keeps the last value silently; the Pulumi CLI (Go's yaml.v3)
    refuses the file.  A reviewer reading the first line would approve what
    the second one overrides, so stagecraft refuses it too, naming both lines.
    """

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            line = key_node.start_mark.line + 1
            if key in seen:
                raise _DuplicateKeyError(
                    problem=f"key '{key}' is set twice, on line {seen[key]} and line {line}; "
                    "keep one",
                    problem_mark=key_node.start_mark,
                )
            seen[key] = line
        return super().construct_mapping(node, deep)

    def construct_plain_timestamp(self, node: yaml.ScalarNode) -> str:
        # Config values are strings to Pulumi; a date-looking value (an
        # owner "2027-01-01", a review date) stays the text it is, and an
        # impossible one (2027-02-30) is the reader's to judge, not a crash.
        return str(self.construct_scalar(node))


_StrictLoader.add_constructor(
    "tag:yaml.org,2002:timestamp", _StrictLoader.construct_plain_timestamp
)


def load_yaml(path: Path) -> Any:
    """The document in ``path``, read once per version of the file.

    A diff or a report reads the same project and stack files many times;
    the parse is cached under the file's size and modification time, and a
    copy is handed out so no caller can change another's.
    """
    try:
        status = path.stat()
    except OSError as exc:
        raise StackFileError(f"cannot read {path}: {exc.strerror}") from None
    return copy.deepcopy(_parse_yaml(path, status.st_mtime_ns, status.st_size))


@functools.lru_cache(maxsize=256)
def _parse_yaml(path: Path, mtime_ns: int, size: int) -> Any:
    del mtime_ns, size  # the cache key: a changed file is read again
    try:
        return yaml.load(path.read_text(encoding="utf-8"), Loader=_StrictLoader)
    except _DuplicateKeyError as exc:
        raise StackFileError(f"{path.name}: {exc.problem}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise StackFileError(f"{path.name}{where}: not valid YAML: {problem}") from None
    except OSError as exc:
        raise StackFileError(f"cannot read {path}: {exc.strerror}") from None


SUBPROJECTS = ("ephemeral", "bootstrap")


def scratch_copy(project: Project, destination: Path) -> Project:
    """The project's stack files in ``destination``, running the same program.

    For trying a stack file change (or a stack that does not exist) without
    touching the real ones: Pulumi*.yaml are copied, `main` points back at
    the project's program, and each subproject is copied without its
    pr-<n>/dev-<name> stack files.
    """
    destination.mkdir(parents=True, exist_ok=True)
    for path in project.directory.glob("Pulumi*.yaml"):
        shutil.copy(path, destination / path.name)
    manifest = yaml.safe_load((destination / "Pulumi.yaml").read_text(encoding="utf-8"))
    manifest["main"] = str(project.program_path)
    (destination / "Pulumi.yaml").write_text(yaml.safe_dump(manifest, sort_keys=False))
    for name in SUBPROJECTS:
        if (project.directory / name).is_dir():
            shutil.copytree(
                project.directory / name,
                destination / name,
                ignore=shutil.ignore_patterns("Pulumi.pr-*", "Pulumi.dev-*", "__pycache__"),
                dirs_exist_ok=True,
            )
    return load_project(destination)


def locate_project(root: Project, stack: str) -> Project:
    """The project holding ``stack``: the root one, or ephemeral/ for pr-<n> and dev-<name>."""
    known = list(root.stacks())
    if stack in known:
        return root
    for name in SUBPROJECTS:
        directory = root.directory / name
        if (directory / "Pulumi.yaml").is_file():
            sub = load_project(directory)
            if stack in sub.stacks():
                return sub
            known += [f"{s} ({name}/)" for s in sub.stacks()]
    raise UnknownStackError(stack, known, root.directory)


def find_project_dir(start: Path | None = None) -> Path:
    """The nearest directory at or above ``start`` holding a Pulumi.yaml."""
    here = (start or Path.cwd()).resolve()
    for directory in (here, *here.parents):
        if (directory / "Pulumi.yaml").is_file():
            return directory
    raise StackFileError(f"no Pulumi.yaml in {here} or any directory above it")


def load_project(directory: Path | None = None) -> Project:
    project_dir = directory or find_project_dir()
    path = project_dir / "Pulumi.yaml"
    if not path.is_file():
        raise StackFileError(f"no Pulumi.yaml in {project_dir}")
    document = load_yaml(path)
    if not isinstance(document, dict) or not isinstance(document.get("name"), str):
        raise StackFileError(f"{path.name}: needs a `name:` for the project")
    schema = document.get("config") or {}
    if not isinstance(schema, dict):
        raise StackFileError(f"{path.name}: `config:` must be a mapping")
    return Project(
        directory=project_dir,
        name=document["name"],
        main=str(document.get("main", ".")),
        config_schema={k: v for k, v in schema.items() if isinstance(v, dict)},
    )
