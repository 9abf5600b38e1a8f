"""Scenarios of ``fixloop eval``: ``scenario.json`` read, checked and found on disk.

A scenario is a folder holding ``scenario.json``::

    {"name": "ledger-thousands-separator",
     "repo": {"path": "repo"}                               a folder beside scenario.json
           | {"git": "URL or path", "ref": "REF"}           cloned at REF
           | {"pypi": "NAME==VERSION", "patch": "bug.patch"},   the sdist, patched (-p1)
           | {"npm": "NAME@VERSION", "patch": "bug.patch"},     the npm tarball, patched
     "signal": "signal.json",
     "verify": "bash verify.sh",      graded in a checkout of the delivered branch
     "script": "script.jsonl",        optional: the turns --model scripted replays
     "logs": "logs.json",             optional: CloudWatch Logs the telemetry tools will find
     "verify_timeout": 600,           optional: seconds the verify command may take
     "description": "..."}            optional

Every file it names is a relative path inside the scenario's folder; the folder itself is
never part of the repository the agent works on.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationError,
    field_validator,
)

from fixloop.cli.eval.logs import LogDelivery, read_deliveries
from fixloop.domain import Signal, load_signal
from fixloop.errors import BadInputError

__all__ = [
    "SCENARIO_FILE",
    "GitRepo",
    "NpmRepo",
    "PackageRepo",
    "PathRepo",
    "PypiRepo",
    "Scenario",
    "ScenarioFile",
    "find_scenarios",
    "load_scenario",
]

SCENARIO_FILE = "scenario.json"
MAX_SCENARIO_BYTES = 64 * 1024
NAME = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$"
REQUIREMENT = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([A-Za-z0-9][A-Za-z0-9.+!_-]*)$")
NPM_PACKAGE = re.compile(
    r"^((?:@[a-z0-9-~][a-z0-9-._~]*/)?[a-z0-9-~][a-z0-9-._~]*)"
    r"@((?:0|[1-9]\d*)\.(?:0|[1-9]\d*)\.(?:0|[1-9]\d*)(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?)$"
)
"""``NAME@VERSION``: a package name as the npm registry allows it (lower case, optionally
``@scope/``) and one exact semver version: no range, no tag, no URL."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PathRepo(_Strict):
    path: str = Field(min_length=1)


class GitRepo(_Strict):
    git: str = Field(min_length=1)
    """A URL (``https://``, ``ssh://``, ``git@host:``) or a path (relative to the scenario's
    folder, or absolute): only the history of ``ref`` reaches the agent, so the source may
    live anywhere."""
    ref: str = Field(min_length=1, pattern=r"^[^-\s][^\s]*$")

    @property
    def is_url(self) -> bool:
        return "://" in self.git or re.match(r"^[\w.-]+@[\w.-]+:", self.git) is not None


class PypiRepo(_Strict):
    pypi: str
    patch: str = Field(min_length=1)

    @field_validator("pypi")
    @classmethod
    def _pinned(cls, value: str) -> str:
        if not REQUIREMENT.match(value):
            raise ValueError(f"expected NAME==VERSION, got {value!r}")
        return value

    @property
    def project(self) -> str:
        return self.pypi.partition("==")[0]

    @property
    def version(self) -> str:
        return self.pypi.partition("==")[2]


class NpmRepo(_Strict):
    npm: str
    patch: str = Field(min_length=1)

    @field_validator("npm")
    @classmethod
    def _pinned(cls, value: str) -> str:
        if not NPM_PACKAGE.match(value):
            raise ValueError(f"expected NAME@VERSION with an exact version, got {value!r}")
        return value

    @property
    def package(self) -> str:
        return self.npm.rpartition("@")[0]

    @property
    def version(self) -> str:
        return self.npm.rpartition("@")[2]


PackageRepo = PypiRepo | NpmRepo
"""A published package, patched: its spec names it (``pypi`` or ``npm``)."""


def _repo_kind(value: Any) -> str | None:
    if isinstance(value, dict):
        for key in ("path", "git", "pypi", "npm"):
            if key in value:
                return key
    return None


RepoSource = Annotated[
    Annotated[PathRepo, Tag("path")]
    | Annotated[GitRepo, Tag("git")]
    | Annotated[PypiRepo, Tag("pypi")]
    | Annotated[NpmRepo, Tag("npm")],
    Discriminator(
        _repo_kind,
        custom_error_type="repo_kind",
        custom_error_message='expected {"path": ...}, {"git": ..., "ref": ...}, '
        '{"pypi": "NAME==VERSION", "patch": ...} or {"npm": "NAME@VERSION", "patch": ...}',
    ),
]


class ScenarioFile(_Strict):
    """``scenario.json`` as written."""

    name: str = Field(pattern=NAME)
    repo: RepoSource
    signal: str = Field(min_length=1)
    verify: str = Field(min_length=1, max_length=4096)
    script: str | None = None
    logs: str | None = None
    """A file of Logs deliveries (``{"logGroup", "logStream", "logEvents"}``, one or a list)
    put into the runtime's CloudWatch Logs before the scenario's runs start: what
    ``query_logs`` finds, e.g. behind an alarm signal."""
    verify_timeout: float = Field(default=600, gt=0, le=3600)
    description: str = ""


@dataclass(frozen=True)
class Scenario:
    """A checked scenario: its folder, its file, and the files it names, resolved."""

    folder: Path
    spec: ScenarioFile
    signal: Signal
    script: Path | None
    logs: tuple[LogDelivery, ...] = ()
    shared: tuple[Path, ...] = ()
    """What the scenario's suite shares with the verify command: the entries of the folder
    holding the scenario, when that folder is a suite (it holds other scenarios, or it was
    named on the command line), that are not scenarios themselves, e.g. ``evals/lib``."""

    @property
    def name(self) -> str:
        return self.spec.name

    def git_source(self) -> str:
        """Where a ``git`` scenario is cloned from: its URL, or its folder."""
        repo = self.spec.repo
        assert isinstance(repo, GitRepo)
        return repo.git if repo.is_url else str((self.folder / repo.git).resolve())

    def inside(self, relative: str) -> Path:
        """A path the scenario names (checked when it was loaded to be inside its folder)."""
        return (self.folder / relative).resolve()


def load_scenario(folder: Path) -> Scenario:
    """Read and check ``folder/scenario.json``; BadInputError (one line) when it is wrong."""
    folder = folder.resolve()
    path = folder / SCENARIO_FILE
    where = str(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise BadInputError(f"{where}: cannot read it ({exc.strerror})") from exc
    if len(raw) > MAX_SCENARIO_BYTES:
        raise BadInputError(f"{where}: larger than {MAX_SCENARIO_BYTES} bytes")
    try:
        data = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BadInputError(f"{where} is not valid JSON: {exc}") from exc
    try:
        spec = ScenarioFile.model_validate(data)
    except ValidationError as exc:
        raise BadInputError(f"{where}: {_one_line(exc)}") from exc
    _inside(folder, spec.signal, f"{where}: signal")
    if spec.script is not None:
        _inside(folder, spec.script, f"{where}: script")
    logs: tuple[LogDelivery, ...] = ()
    if spec.logs is not None:
        logs = read_deliveries(_inside(folder, spec.logs, f"{where}: logs"))
    repo = spec.repo
    if isinstance(repo, PathRepo):
        source = _inside(folder, repo.path, f"{where}: repo.path", directory=True)
        if source == folder:
            raise BadInputError(
                f"{where}: repo.path names the scenario's own folder: the repository must be "
                "a folder beside scenario.json (the agent must not see the scenario)"
            )
    elif isinstance(repo, PypiRepo | NpmRepo):
        _inside(folder, repo.patch, f"{where}: repo.patch")
    elif not repo.is_url and not (folder / repo.git).is_dir():
        raise BadInputError(f"{where}: repo.git: {repo.git!r} is neither a URL nor a folder")
    signal = load_signal(folder / spec.signal)
    script = folder / spec.script if spec.script is not None else None
    return Scenario(folder=folder, spec=spec, signal=signal, script=script, logs=logs)


def find_scenarios(paths: list[Path]) -> list[Scenario]:
    """The scenarios of ``paths``: each a scenario folder, or a folder searched for them (a
    scenario's own folder is not searched further). Names must be unique."""
    found: list[Scenario] = []
    for path in paths:
        if not path.is_dir():
            raise BadInputError(f"{path}: no such directory")
        folders = _scenario_folders(path)
        if not folders:
            raise BadInputError(f"{path}: no {SCENARIO_FILE} in it or in its folders")
        for f in folders:
            named = f.parent.resolve() == path.resolve()
            found.append(replace(load_scenario(f), shared=_shared(f.resolve().parent, named)))
    seen: dict[str, Path] = {}
    for s in found:
        if s.name in seen:
            raise BadInputError(
                f"two scenarios are named {s.name!r}: {seen[s.name]} and {s.folder}"
            )
        seen[s.name] = s.folder
    return found


def _shared(parent: Path, named: bool) -> tuple[Path, ...]:
    entries = sorted(
        e for e in parent.iterdir() if not e.name.startswith(".") and e.name != "__pycache__"
    )
    scenarios = [e for e in entries if (e / SCENARIO_FILE).is_file()]
    if not named and len(scenarios) < 2:
        return ()  # a lone scenario: its parent is not a suite (it may be a home folder)
    if (parent / SCENARIO_FILE).is_file():
        return ()
    return tuple(e for e in entries if e not in scenarios and (e.is_dir() or e.is_file()))


def _scenario_folders(root: Path) -> list[Path]:
    if (root / SCENARIO_FILE).is_file():
        return [root]
    folders: list[Path] = []
    for current, dirs, files in os.walk(root):
        if SCENARIO_FILE in files:
            folders.append(Path(current))
            dirs.clear()
            continue
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
    return sorted(folders)


def _inside(folder: Path, relative: str, what: str, *, directory: bool = False) -> Path:
    """``folder/relative``, which must exist and stay inside ``folder`` (links resolved)."""
    if os.path.isabs(relative):
        raise BadInputError(f"{what}: {relative!r} must be a path relative to the scenario")
    path = (folder / relative).resolve()
    if not path.is_relative_to(folder):
        raise BadInputError(f"{what}: {relative!r} is outside the scenario's folder")
    if directory and not path.is_dir():
        raise BadInputError(f"{what}: {relative!r} is not a folder of the scenario")
    if not directory and not path.is_file():
        raise BadInputError(f"{what}: {relative!r} is not a file of the scenario")
    return path


def _one_line(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors(include_url=False):
        where = list(err["loc"])
        if where[:1] == ["repo"] and len(where) > 1 and where[1] in ("path", "git", "pypi", "npm"):
            del where[1]  # the union's tag, not a field
        loc = ".".join(str(p) for p in where)
        parts.append(f"{loc}: {err['msg']}" if loc else str(err["msg"]))
    return "; ".join(parts).replace("\n", " ")
