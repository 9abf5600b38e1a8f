"""The instrumentation plan: what a service needs so that fixloop can watch it.

:func:`plan_onboarding` reads a local git repository at ``HEAD`` (never its working tree) and
decides what the instrumentation pull request adds or changes:

- ``fixloop_instrumentation/`` (a Python package): a Powertools ``Logger`` writing one JSON
  object per line, and :func:`log_unhandled_errors`, a decorator that logs an exception with its
  stack trace (``logger.exception``) before re-raising it. The handlers are listed in the pull
  request body, not rewritten: wrapping them is two lines a person reviews;
- ``aws-lambda-powertools`` in the dependency file each handler is packaged with
  (``requirements.txt`` or ``pyproject.toml``), when it is not there yet;
- ``fixloop/cloudformation/error-alarms.yaml``: per function, two metric filters on
  ``/aws/lambda/<function>`` (structured ``{ $.level = "ERROR" }`` lines, and the ``[ERROR]``
  lines of the Lambda runtime's text log format, which carry the traceback of an unhandled
  exception), an alarm on their count, and a subscription filter sending the structured error
  lines to fixloop;
- ``fixloop/cdk/error_alarms.py``: the same as a CDK construct, for services deployed with CDK;
- ``fixloop/README.md`` (and a short section in the service's ``README.md``).

Which functions: ``--function NAME`` when given; else the literal ``FunctionName`` of the
functions in a SAM/CloudFormation ``template.yaml`` or the names a ``serverless.yml``
implies; else a name guessed from each handler's module (the pull request says so).
"""

from __future__ import annotations

import ast
import functools
import importlib
import json
import re
import subprocess
import tomllib
from collections.abc import Sequence
from pathlib import Path, PurePosixPath
from typing import Any, Literal

from pydantic import BaseModel, Field

from fixloop.delivery.protocol import branch_for
from fixloop.errors import BadInputError, FixloopError

__all__ = [
    "BRANCH",
    "INVESTIGATION_ID",
    "DetectedHandler",
    "NothingToChange",
    "OnboardingPlan",
    "PlannedFile",
    "WatchedFunction",
    "head_commit",
    "plan_onboarding",
]

INVESTIGATION_ID = "onboarding"
BRANCH = branch_for(INVESTIGATION_ID)
POWERTOOLS = "aws-lambda-powertools"
POWERTOOLS_REQUIREMENT = "aws-lambda-powertools>=3,<4"
PACKAGE = "fixloop_instrumentation"
LOGGING_MODULE = f"{PACKAGE}/logging.py"
PACKAGE_INIT = f"{PACKAGE}/__init__.py"
TEMPLATE_PATH = "fixloop/cloudformation/error-alarms.yaml"
CDK_PATH = "fixloop/cdk/error_alarms.py"
DOCS_PATH = "fixloop/README.md"
METRIC_NAMESPACE = "fixloop/Errors"
STRUCTURED_ERRORS = '{ $.level = "ERROR" }'
"""Powertools lines, and every line of the Lambda runtime's JSON log format, at level ERROR."""
RUNTIME_ERRORS = '?"[ERROR]" ?"Task timed out"'
"""The Lambda runtime's text log format: an unhandled exception (``[ERROR] Type: message``
followed by its traceback), ``logging.error`` through the runtime's handler, and timeouts.
A Powertools line never contains these, so no line is counted by both filters."""
SUBSCRIPTION_FILTER = "fixloop-errors"
README_MARKER = "<!-- fixloop:onboarding -->"
FUNCTION_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
GENERIC_MODULES = {
    "__init__",
    "app",
    "function",
    "handler",
    "handlers",
    "index",
    "lambda",
    "lambda_function",
    "lambda_handler",
    "main",
}
"""Module names that say nothing about the function: its directory names it instead."""
SKIPPED_DIRS = {
    ".aws-sam",
    ".git",
    ".serverless",
    ".tox",
    ".venv",
    "__pycache__",
    "build",
    "cdk.out",
    "dist",
    "env",
    "node_modules",
    "site-packages",
    "test",
    "tests",
    "venv",
    PACKAGE,
}
GENERATED = {PACKAGE_INIT, LOGGING_MODULE, TEMPLATE_PATH, CDK_PATH, DOCS_PATH}
TEMPLATE_FILES = ("template.yaml", "template.yml")
SERVERLESS_FILES = ("serverless.yml", "serverless.yaml")
GIT_TIMEOUT_S = 120


class NothingToChange(FixloopError):
    """The repository already has everything the onboarding would add."""


class DetectedHandler(BaseModel):
    """A Python Lambda handler found in the repository."""

    path: str
    """Relative POSIX path of the module."""
    function: str
    """``lambda_handler`` or ``handler``."""
    line: int
    wrapped: bool = False
    """Already decorated with ``inject_lambda_context`` and ``log_unhandled_errors``."""

    @property
    def where(self) -> str:
        return f"{self.path}:{self.line} {self.function}"


class WatchedFunction(BaseModel):
    """A Lambda function whose log group the template watches."""

    name: str
    log_group: str
    source: Literal["--function", "template.yaml", "serverless.yml", "handler module"]
    handler: str = ""
    """Where its code is, when known (``path:function``)."""


class PlannedFile(BaseModel):
    path: str
    content: str
    action: Literal["add", "change"]
    reason: str


class OnboardingPlan(BaseModel):
    repo_name: str
    base_commit: str
    handlers: list[DetectedHandler]
    functions: list[WatchedFunction]
    powertools_in: list[str] = Field(default_factory=list)
    """Dependency files that already list aws-lambda-powertools."""
    files: list[PlannedFile]
    warnings: list[str] = Field(default_factory=list)
    title: str
    body: str
    commit_message: str

    @property
    def summary(self) -> str:
        """What the pull request does, in a few lines for a person at a terminal."""
        lines = [f"{self.title} (at {self.base_commit[:12]})"]
        handlers = ", ".join(h.where for h in self.handlers) or "none found"
        lines.append(f"  handlers   {handlers}")
        for fn in self.functions:
            lines.append(f"  watches    {fn.log_group}  (name from {fn.source})")
        for f in self.files:
            lines.append(f"  {f.action:<10} {f.path}  {f.reason}")
        for warning in self.warnings:
            lines.append(f"  note       {warning}")
        return "\n".join(lines)


# -- reading the repository at HEAD ---------------------------------------------------------


def _git(repo: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[bytes]:
    from fixloop.sandbox.workspace import clean_git_env

    try:
        proc = subprocess.run(
            ["git", "-C", str(repo), *args],
            capture_output=True,
            env=clean_git_env(),
            timeout=GIT_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise FixloopError(f"git {args[0]} timed out in {repo}") from exc
    if check and proc.returncode != 0:
        reason = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        raise FixloopError(f"git {args[0]} failed in {repo}: {reason[-1] if reason else '?'}")
    return proc


def head_commit(repo: Path) -> str:
    """The commit at ``HEAD``; BadInputError when ``repo`` is not a git repository with one."""
    if not repo.is_dir():
        raise BadInputError(f"--repo {repo}: no such directory")
    proc = _git(repo, "rev-parse", "--verify", "--quiet", "HEAD^{commit}", check=False)
    top = _git(repo, "rev-parse", "--show-toplevel", check=False)
    if proc.returncode != 0 or top.returncode != 0:
        raise BadInputError(f"--repo {repo}: not a git repository with at least one commit")
    if Path(top.stdout.decode().strip()).resolve() != repo.resolve():
        raise BadInputError(
            f"--repo {repo}: a directory inside the repository at {top.stdout.decode().strip()}; "
            "pass the repository's top directory"
        )
    return proc.stdout.decode().strip()


class _Tree:
    """The files of one commit, read lazily."""

    def __init__(self, repo: Path, commit: str) -> None:
        self.repo = repo
        self.commit = commit
        out = _git(repo, "ls-tree", "-r", "-z", "--name-only", "--full-tree", commit).stdout
        self.paths = sorted(p.decode("utf-8", "surrogateescape") for p in out.split(b"\0") if p)
        self._set = set(self.paths)

    def __contains__(self, path: str) -> bool:
        return path in self._set

    def read(self, path: str) -> str | None:
        if path not in self._set:
            return None
        proc = _git(self.repo, "cat-file", "blob", f"{self.commit}:{path}", check=False)
        if proc.returncode != 0:
            return None
        try:
            return proc.stdout.decode("utf-8")
        except UnicodeDecodeError:
            return None

    def grep(self, pattern: str, glob: str) -> list[str]:
        """Paths of files matching ``glob`` whose content matches the extended regex."""
        proc = _git(
            self.repo, "grep", "-l", "-z", "-I", "-E", pattern, self.commit, "--", glob, check=False
        )
        prefix = f"{self.commit}:"
        found = []
        for raw in proc.stdout.split(b"\0"):
            name = raw.decode("utf-8", "surrogateescape")
            if name.startswith(prefix):
                found.append(name[len(prefix) :])
        return sorted(found)


def _skipped(path: str) -> bool:
    parts = PurePosixPath(path).parts
    name = parts[-1]
    if any(part in SKIPPED_DIRS for part in parts[:-1]):
        return True
    if path.startswith("fixloop/"):
        return True  # fixloop's own files in the service (the templates made here)
    return name.startswith("test_") or name.endswith("_test.py") or name == "conftest.py"


# -- handlers ------------------------------------------------------------------------------


def _is_handler(node: ast.FunctionDef) -> bool:
    if node.name == "lambda_handler":
        return True
    if node.name != "handler":
        return False
    params = [*node.args.posonlyargs, *node.args.args]
    if len(params) != 2 or node.args.vararg or node.args.kwarg:
        return False
    first, second = (p.arg.lstrip("_") for p in params)
    return first in {"event", "evt"} or second in {"context", "ctx", "lambda_context"}


def find_handlers(tree: _Tree) -> list[DetectedHandler]:
    handlers = []
    pattern = r"def[[:space:]]+(lambda_handler|handler)[[:space:]]*\("
    for path in tree.grep(pattern, "*.py"):
        if _skipped(path):
            continue
        source = tree.read(path)
        if source is None:
            continue
        try:
            module = ast.parse(source, filename=path)
        except SyntaxError:
            continue
        for node in module.body:
            if isinstance(node, ast.FunctionDef) and _is_handler(node):
                decorators = [ast.unparse(d) for d in node.decorator_list]
                wrapped = any(d.endswith("inject_lambda_context") for d in decorators) and any(
                    d.endswith("log_unhandled_errors") for d in decorators
                )
                handlers.append(
                    DetectedHandler(
                        path=path, function=node.name, line=node.lineno, wrapped=wrapped
                    )
                )
    return handlers


def _sanitise(name: str) -> str:
    cleaned = re.sub(r"[^A-Za-z0-9_-]+", "-", name).strip("-_")
    return cleaned[:64] or "function"


def _guessed_names(handlers: list[DetectedHandler], repo_name: str) -> list[WatchedFunction]:
    """A function name per handler: its module's name, or its directory's when the module's
    says nothing (``app.py``); the module path when two handlers would share a name."""

    def short(h: DetectedHandler) -> str:
        p = PurePosixPath(h.path)
        if p.stem not in GENERIC_MODULES:
            return p.stem
        return p.parent.name if p.parent.name else repo_name

    def long(h: DetectedHandler) -> str:
        return "-".join(PurePosixPath(h.path).with_suffix("").parts)

    shorts = [_sanitise(short(h)) for h in handlers]
    found: dict[str, WatchedFunction] = {}
    for h, guess in zip(handlers, shorts, strict=True):
        name = _sanitise(long(h)) if shorts.count(guess) > 1 else guess
        found.setdefault(
            name,
            WatchedFunction(
                name=name,
                log_group=f"/aws/lambda/{name}",
                source="handler module",
                handler=f"{h.path}:{h.function}",
            ),
        )
    return list(found.values())


# -- deployment descriptions -----------------------------------------------------------------


class _Tagged:
    """A YAML value with a CloudFormation tag (``!Ref X``): not a literal."""

    def __init__(self, tag: str, value: Any) -> None:
        self.tag = tag
        self.value = value


def _tagged(loader: Any, suffix: str, node: Any) -> _Tagged:
    kind = type(node).__name__
    value: Any
    if kind == "ScalarNode":
        value = loader.construct_scalar(node)
    elif kind == "SequenceNode":
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    return _Tagged(suffix, value)


@functools.cache
def _yaml() -> tuple[Any, Any] | None:
    """PyYAML and a safe loader that keeps CloudFormation's short-form tags (``!Ref X``) as
    opaque values; None without PyYAML (then deployment descriptions are not read)."""
    try:
        yaml: Any = importlib.import_module("yaml")
    except ImportError:
        return None
    loader: Any = type("CfnSafeLoader", (yaml.SafeLoader,), {})
    loader.add_multi_constructor("!", _tagged)
    return yaml, loader


def _load_yaml(text: str) -> Any:
    found = _yaml()
    if found is None or not text:
        return None
    yaml, loader = found
    try:
        return yaml.load(text, Loader=loader)
    except yaml.YAMLError:
        return None


def _literal(value: Any) -> str | None:
    return value if isinstance(value, str) and value and "${" not in value else None


def _template_functions(
    tree: _Tree, warnings: list[str]
) -> tuple[str, list[WatchedFunction]] | None:
    """Python functions of a SAM/CloudFormation template at the root, with fixed names."""
    for path in TEMPLATE_FILES:
        doc = _load_yaml(tree.read(path) or "")
        if not isinstance(doc, dict) or not isinstance(doc.get("Resources"), dict):
            continue
        globals_ = doc.get("Globals")
        default_runtime = ""
        if isinstance(globals_, dict) and isinstance(globals_.get("Function"), dict):
            default_runtime = str(globals_["Function"].get("Runtime", ""))
        found = []
        for logical_id, resource in doc["Resources"].items():
            if not isinstance(resource, dict) or resource.get("Type") not in (
                "AWS::Serverless::Function",
                "AWS::Lambda::Function",
            ):
                continue
            props = resource.get("Properties")
            props = props if isinstance(props, dict) else {}
            runtime = props.get("Runtime", default_runtime)
            if isinstance(runtime, str) and runtime and not runtime.startswith("python"):
                continue
            name = _literal(props.get("FunctionName"))
            if name is None or not FUNCTION_NAME.match(name):
                warnings.append(
                    f"{path}: function {logical_id} has no fixed FunctionName, so its log group "
                    "is not known here: run `fixloop onboard --function NAME` with its deployed "
                    "name"
                )
                continue
            code = _literal(props.get("CodeUri")) or ""
            handler = _literal(props.get("Handler")) or ""
            found.append(
                WatchedFunction(
                    name=name,
                    log_group=f"/aws/lambda/{name}",
                    source="template.yaml",
                    handler=_handler_location(code, handler),
                )
            )
        if found:
            return path, found
    return None


def _handler_location(code_dir: str, handler: str) -> str:
    """``functions/checkout/app.py:lambda_handler`` from CodeUri and Handler."""
    if "." not in handler:
        return ""
    module, function = handler.rsplit(".", 1)
    module_path = module.replace(".", "/") + ".py"
    base = PurePosixPath(code_dir.strip("./") or ".")
    return f"{(base / module_path).as_posix()}:{function}"


def _serverless_functions(tree: _Tree, warnings: list[str]) -> list[WatchedFunction]:
    """Functions of a Serverless Framework service: ``name`` or ``<service>-<stage>-<key>``."""
    for path in SERVERLESS_FILES:
        doc = _load_yaml(tree.read(path) or "")
        if not isinstance(doc, dict) or not isinstance(doc.get("functions"), dict):
            continue
        service = doc.get("service")
        service = service.get("name") if isinstance(service, dict) else service
        provider: dict[str, Any] = doc["provider"] if isinstance(doc.get("provider"), dict) else {}
        stage = provider.get("stage", "dev")
        runtime = str(provider.get("runtime", ""))
        found = []
        for key, raw in doc["functions"].items():
            spec = raw if isinstance(raw, dict) else {}
            fn_runtime = str(spec.get("runtime", runtime))
            if fn_runtime and not fn_runtime.startswith("python"):
                continue
            name = _literal(spec.get("name"))
            if name is None and _literal(service) and _literal(stage):
                name = f"{service}-{stage}-{key}"
            if name is None or not FUNCTION_NAME.match(name):
                warnings.append(
                    f"{path}: the deployed name of function {key} depends on variables: run "
                    "`fixloop onboard --function NAME` with its deployed name"
                )
                continue
            handler = _literal(spec.get("handler")) or ""
            found.append(
                WatchedFunction(
                    name=name,
                    log_group=f"/aws/lambda/{name}",
                    source="serverless.yml",
                    handler=_handler_location("", handler),
                )
            )
        if found:
            return found
    return []


# -- dependencies ----------------------------------------------------------------------------


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _requirement_name(line: str) -> str | None:
    line = line.split("#", 1)[0].strip()
    if not line or line.startswith("-"):
        return None
    match = re.match(r"^([A-Za-z0-9][A-Za-z0-9._-]*)", line)
    return _normalise(match.group(1)) if match else None


def _lists_powertools(path: str, text: str) -> bool:
    if path.endswith(".txt"):
        return any(_requirement_name(line) == POWERTOOLS for line in text.splitlines())
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError:
        return False
    project = data.get("project", {})
    deps = project.get("dependencies", []) if isinstance(project, dict) else []
    if any(isinstance(d, str) and _requirement_name(d) == POWERTOOLS for d in deps):
        return True
    poetry = data.get("tool", {}).get("poetry", {}).get("dependencies", {})
    return isinstance(poetry, dict) and any(_normalise(str(k)) == POWERTOOLS for k in poetry)


def _declares_dependencies(text: str) -> bool:
    """A pyproject.toml that lists dependencies (not one that only configures tools)."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError:
        return False
    return "project" in data or "dependencies" in data.get("tool", {}).get("poetry", {})


def _dependency_file(tree: _Tree, directory: PurePosixPath) -> str | None:
    """The dependency file a handler in ``directory`` is packaged with: the nearest
    ``requirements.txt`` (or ``pyproject.toml`` with dependencies) up to the root."""
    for parent in [directory, *directory.parents]:
        prefix = "" if str(parent) == "." else f"{parent.as_posix()}/"
        if f"{prefix}requirements.txt" in tree:
            return f"{prefix}requirements.txt"
        pyproject = tree.read(f"{prefix}pyproject.toml")
        if pyproject is not None and _declares_dependencies(pyproject):
            return f"{prefix}pyproject.toml"
    return None


def _with_requirement(text: str) -> str:
    if text and not text.endswith("\n"):
        text += "\n"
    return f"{text}{POWERTOOLS_REQUIREMENT}\n"


def _with_pyproject_dependency(text: str) -> str | None:
    """``text`` with Powertools added to ``[project] dependencies`` or Poetry's
    dependencies, layout kept; None when the file's shape is not one handled here."""
    lines = text.splitlines(keepends=True)
    headers = [(i, line.strip()) for i, line in enumerate(lines) if line.lstrip().startswith("[")]

    def section(name: str) -> tuple[int, int] | None:
        for n, (i, header) in enumerate(headers):
            if re.fullmatch(rf"\[\s*{re.escape(name)}\s*\]\s*(#.*)?", header):
                end = headers[n + 1][0] if n + 1 < len(headers) else len(lines)
                return i, end
        return None

    candidates: list[str] = []
    project = section("project")
    if project is not None:
        start, end = project
        for i in range(start + 1, end):
            match = re.match(r"^(\s*)dependencies\s*=\s*\[(.*)$", lines[i])
            if not match:
                continue
            rest = match.group(2)
            if rest.strip().startswith("]"):  # an empty list: dependencies = []
                lines[i] = f'{match.group(1)}dependencies = ["{POWERTOOLS_REQUIREMENT}"]' + (
                    rest.strip()[1:] + "\n"
                )
            elif rest.strip() and not rest.strip().startswith("#"):  # one line: ["a", "b"]
                lines[i] = lines[i].replace("[", f'["{POWERTOOLS_REQUIREMENT}", ', 1)
            else:  # one dependency per line
                following = lines[i + 1] if i + 1 < end else "    "
                indent = re.match(r"^(\s*)", following)
                pad = indent.group(1) if indent and indent.group(1) else "    "
                lines.insert(i + 1, f'{pad}"{POWERTOOLS_REQUIREMENT}",\n')
            candidates.append("".join(lines))
            break
        else:
            lines.insert(start + 1, f'dependencies = ["{POWERTOOLS_REQUIREMENT}"]\n')
            candidates.append("".join(lines))
    else:
        poetry = section("tool.poetry.dependencies")
        if poetry is not None:
            lines.insert(poetry[0] + 1, f'{POWERTOOLS} = ">=3,<4"\n')
            candidates.append("".join(lines))
    for candidate in candidates:
        if _lists_powertools("pyproject.toml", candidate):
            return candidate
    return None


# -- the plan --------------------------------------------------------------------------------


def plan_onboarding(
    repo: Path, *, functions: Sequence[str] = (), repo_name: str = ""
) -> OnboardingPlan:
    """What the instrumentation pull request of ``repo`` (at ``HEAD``) adds and changes.

    ``functions``: the deployed names of the functions to watch (default: detected, or
    guessed from the handlers' modules). ``repo_name`` names the service (default: the
    repository directory's name). Raises BadInputError for a path that is not a git
    repository, an invalid function name, or a repository with no handler and no
    ``functions``; NothingToChange when every file is already as planned.
    """
    commit = head_commit(repo)
    name = repo_name or repo.resolve().name
    for fn in functions:
        if not FUNCTION_NAME.match(fn):
            raise BadInputError(
                f"--function {fn!r}: a Lambda function name has 1 to 64 letters, digits, "
                "hyphens and underscores"
            )
    tree = _Tree(repo, commit)
    warnings: list[str] = []
    handlers = find_handlers(tree)
    watched: list[WatchedFunction]
    if functions:
        watched = [
            WatchedFunction(name=fn, log_group=f"/aws/lambda/{fn}", source="--function")
            for fn in dict.fromkeys(functions)
        ]
    else:
        detected = _template_functions(tree, warnings)
        watched = detected[1] if detected else _serverless_functions(tree, warnings)
        if not watched:
            watched = _guessed_names(handlers, _sanitise(name))
            if watched:
                warnings.append(
                    "the function names are guessed from the handler modules: if they are "
                    "deployed under other names, run `fixloop onboard --function NAME` (once "
                    "per function) to regenerate the template"
                )
    if not watched:
        raise BadInputError(
            f"--repo {repo}: no Python Lambda handler (def lambda_handler or def handler(event, "
            "context)) at HEAD; pass --function NAME for each function to watch"
        )

    files: list[PlannedFile] = []

    def plan(path: str, content: str, reason: str) -> None:
        current = tree.read(path)
        if current == content:
            return
        action: Literal["add", "change"] = "add" if path not in tree else "change"
        files.append(PlannedFile(path=path, content=content, action=action, reason=reason))

    plan(PACKAGE_INIT, render_package_init(), "exports the logger and the error decorator")
    plan(
        LOGGING_MODULE,
        render_logging_module(name),
        "structured JSON logs; logs unhandled exceptions with their stack trace",
    )
    powertools_in, dependency_changes = _dependency_changes(tree, handlers, warnings)
    for path, content in dependency_changes.items():
        plan(path, content, f"adds {POWERTOOLS_REQUIREMENT}")
    plan(
        TEMPLATE_PATH,
        render_cloudformation(name, watched),
        "metric filters, alarms and the subscription to fixloop, per function",
    )
    plan(CDK_PATH, render_cdk(name, watched), "the same resources as a CDK construct")
    plan(DOCS_PATH, render_docs(name, watched), "how the pieces fit, how to deploy")
    readme = tree.read("README.md")
    if readme is not None and README_MARKER not in readme:
        plan("README.md", _with_readme_section(readme), "a short section on error reporting")

    title = f"Instrument {name} for fixloop"
    if not files:
        raise NothingToChange(
            f"{name} at {commit[:12]} already has everything `fixloop onboard` adds: "
            "nothing to change"
        )
    plan_ = OnboardingPlan(
        repo_name=name,
        base_commit=commit,
        handlers=handlers,
        functions=watched,
        powertools_in=powertools_in,
        files=files,
        warnings=warnings,
        title=title,
        body="",
        commit_message=(
            f"{title}\n\nAdded by `fixloop onboard`: structured error logging with stack "
            "traces, error alarms per function, and the subscription that sends error logs "
            "to fixloop."
        ),
    )
    plan_.body = render_body(plan_)
    return plan_


def _dependency_changes(
    tree: _Tree, handlers: list[DetectedHandler], warnings: list[str]
) -> tuple[list[str], dict[str, str]]:
    """Dependency files that list Powertools already, and the new content of those that
    must (one per handler's package; the root ``requirements.txt`` when none has one)."""
    targets: list[str] = []
    directories = [PurePosixPath(h.path).parent for h in handlers] or [PurePosixPath(".")]
    for directory in directories:
        found = _dependency_file(tree, directory) or "requirements.txt"
        if found not in targets:
            targets.append(found)
    for path in targets:
        if "/" in path:
            warnings.append(
                f"{PurePosixPath(path).parent}/ has its own {PurePosixPath(path).name}, so it "
                f"is probably packaged on its own: ship {PACKAGE}/ with it (copy it there, or "
                "use a layer)"
            )
    present = [p for p in targets if _lists_powertools(p, tree.read(p) or "")]
    changes: dict[str, str] = {}
    for path in targets:
        if path in present:
            continue
        text = tree.read(path) or ""
        if path.endswith(".txt"):
            changes[path] = _with_requirement(text)
            continue
        updated = _with_pyproject_dependency(text)
        if updated is None:
            warnings.append(
                f"{path}: could not add {POWERTOOLS_REQUIREMENT} to its dependencies "
                "automatically; add it by hand"
            )
        else:
            changes[path] = updated
    return present, changes


def _with_readme_section(readme: str) -> str:
    if readme and not readme.endswith("\n"):
        readme += "\n"
    return readme + "\n" + render_readme_section()


# -- rendering -------------------------------------------------------------------------------


def render_package_init() -> str:
    return (
        '"""Error reporting for fixloop: structured logs with stack traces (see logging.py)."""\n'
        "\n"
        f"from {PACKAGE}.logging import log_unhandled_errors, logger\n"
        "\n"
        '__all__ = ["log_unhandled_errors", "logger"]\n'
    )


def render_logging_module(service: str) -> str:
    return f'''"""Structured error logging for fixloop (added by `fixloop onboard`).

Every log line is one JSON object (Powertools Logger): "level", "message", "timestamp",
"service", "location", and, in a handler decorated with ``@logger.inject_lambda_context``,
the function's name, the request id and whether it was a cold start. ``logger.exception``
adds the stack trace ("exception", "exception_name", "stack_trace"): fixloop reads it to find
the failing code.

Wrap each Lambda handler, outermost first::

    from {PACKAGE} import log_unhandled_errors, logger

    @logger.inject_lambda_context
    @log_unhandled_errors
    def lambda_handler(event, context):
        ...

The handler behaves as before: an exception is logged, then raised again, so Lambda still
reports the invocation as failed and retries as it did. The event is not logged.

Set ``POWERTOOLS_SERVICE_NAME`` to name the service in the logs (default: {service}) and
``POWERTOOLS_LOG_LEVEL`` to change the level (default: INFO).
"""

from __future__ import annotations

import functools
import os
from typing import Any, Callable, TypeVar, cast

from aws_lambda_powertools import Logger

F = TypeVar("F", bound=Callable[..., Any])

logger = Logger(service=os.environ.get("POWERTOOLS_SERVICE_NAME") or {json.dumps(service)})


def log_unhandled_errors(handler: F) -> F:
    """Log an exception escaping ``handler`` at level ERROR with its stack trace, then
    raise it again unchanged."""

    @functools.wraps(handler)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return handler(*args, **kwargs)
        except Exception:
            logger.exception("Unhandled exception in %s", handler.__qualname__)
            raise

    return cast(F, wrapper)
'''


def _logical_ids(functions: list[WatchedFunction]) -> list[str]:
    ids: list[str] = []
    for fn in functions:
        base = "".join(part[:1].upper() + part[1:] for part in re.split(r"[-_]+", fn.name))
        base = re.sub(r"[^A-Za-z0-9]", "", base) or "Function"
        if not base[0].isalpha():
            base = f"Fn{base}"
        candidate, n = base, 2
        while candidate in ids:
            candidate, n = f"{base}{n}", n + 1
        ids.append(candidate)
    return ids


def _q(value: str) -> str:
    """A YAML scalar in double quotes (JSON strings are valid YAML)."""
    return json.dumps(value)


def render_cloudformation(service: str, functions: list[WatchedFunction]) -> str:
    names = ", ".join(fn.name for fn in functions)
    out = [
        f"# Error alarms for {service}, generated by `fixloop onboard`: re-run it to regenerate",
        "# (for example with other --function names), or edit it as your own.",
        "#",
        "# Per function, on its log group /aws/lambda/<function>:",
        f"# - metric filter StructuredErrors: {STRUCTURED_ERRORS}, the lines Powertools Logger",
        "#   writes at level ERROR (and every ERROR line of Lambda's JSON log format);",
        f"# - metric filter RuntimeErrors: {RUNTIME_ERRORS}, Lambda's text log",
        "#   format: an unhandled exception is one event, [ERROR] Type: message followed by its",
        "#   traceback; logging.error through the runtime's handler; timeouts. A Powertools line",
        "#   never matches it, but a failed invocation of a handler wrapped with",
        "#   log_unhandled_errors is counted twice (its Powertools line and the runtime's).",
        f"# - both count into the metric {METRIC_NAMESPACE} / <function> (a metric filter cannot",
        "#   set a fixed dimension value, so the metric name names the function);",
        "# - an alarm at 1 error or more in a minute. CloudWatch publishes every alarm state",
        "#   change to the account's default EventBridge bus; that is how fixloop hears of it,",
        "#   and no alarm action is needed;",
        f"# - a subscription filter ({STRUCTURED_ERRORS}) sending the error lines, with their",
        "#   stack traces, to fixloop: created when FixloopLogsDestinationArn is set.",
        "#",
        "# The log groups must exist (a function's log group appears at its first invocation).",
        'AWSTemplateFormatVersion: "2010-09-09"',
        f"Description: {_q(f'fixloop error alarms for {service} ({names})'[:1024])}",
        "",
        "Parameters:",
        "  FixloopLogsDestinationArn:",
        "    Type: String",
        '    Default: ""',
        "    AllowedPattern: "
        + _q(r"^$|^arn:aws[a-zA-Z-]*:(lambda|logs|kinesis|firehose):[a-z0-9-]+:[0-9]{12}:.+$"),
        "    ConstraintDescription: empty, or the ARN of a Lambda function, a CloudWatch Logs",
        "      destination, a Kinesis stream or a Firehose delivery stream",
        "    Description: >-",
        "      Where error log lines go: fixloop's log receiver (a Lambda function ARN in this",
        "      account, or a CloudWatch Logs destination ARN for a fixloop in another account).",
        "      Empty: no subscription filters, the alarms alone.",
        "  FixloopLogsRoleArn:",
        "    Type: String",
        '    Default: ""',
        "    Description: >-",
        "      A role CloudWatch Logs assumes to write to a Kinesis or Firehose destination in",
        "      this account. Empty for a Lambda function or a Logs destination.",
        "",
        "Conditions:",
        '  SendErrorsToFixloop: !Not [!Equals [!Ref FixloopLogsDestinationArn, ""]]',
        '  HasFixloopLogsRole: !Not [!Equals [!Ref FixloopLogsRoleArn, ""]]',
        "",
        "Resources:",
    ]
    outputs = ["", "Outputs:"]
    for fn, lid in zip(functions, _logical_ids(functions), strict=True):
        group = _q(fn.log_group)
        metric = _q(fn.name)
        source = f" ({fn.handler})" if fn.handler else ""
        description = (
            f"Errors logged by Lambda function {fn.name}{source}, log group {fn.log_group}. "
            "fixloop investigates when this alarm goes to ALARM: CloudWatch publishes its state "
            "changes to the default EventBridge bus, where fixloop's rule picks them up "
            "(no alarm action needed)."
        )
        out += [
            f"  # -- {fn.name}: {fn.log_group}",
            f"  {lid}StructuredErrors:",
            "    Type: AWS::Logs::MetricFilter",
            "    Properties:",
            f"      LogGroupName: {group}",
            "      FilterName: fixloop-structured-errors",
            f"      FilterPattern: {_q(STRUCTURED_ERRORS)}",
            "      MetricTransformations:",
            f"        - MetricNamespace: {_q(METRIC_NAMESPACE)}",
            f"          MetricName: {metric}",
            '          MetricValue: "1"',
            "          Unit: Count",
            f"  {lid}RuntimeErrors:",
            "    Type: AWS::Logs::MetricFilter",
            "    Properties:",
            f"      LogGroupName: {group}",
            "      FilterName: fixloop-runtime-errors",
            f"      FilterPattern: {_q(RUNTIME_ERRORS)}",
            "      MetricTransformations:",
            f"        - MetricNamespace: {_q(METRIC_NAMESPACE)}",
            f"          MetricName: {metric}",
            '          MetricValue: "1"',
            "          Unit: Count",
            f"  {lid}ErrorsAlarm:",
            "    Type: AWS::CloudWatch::Alarm",
            "    Properties:",
            f"      AlarmName: !Sub {_q('${AWS::StackName}-' + fn.name + '-errors')}",
            f"      AlarmDescription: {_q(description[:1024])}",
            f"      Namespace: {_q(METRIC_NAMESPACE)}",
            f"      MetricName: {metric}",
            "      Statistic: Sum",
            "      Period: 60",
            "      EvaluationPeriods: 1",
            "      DatapointsToAlarm: 1",
            "      Threshold: 1",
            "      ComparisonOperator: GreaterThanOrEqualToThreshold",
            "      TreatMissingData: notBreaching",
            f"  {lid}ErrorsToFixloop:",
            "    Type: AWS::Logs::SubscriptionFilter",
            "    Condition: SendErrorsToFixloop",
            "    Properties:",
            f"      LogGroupName: {group}",
            f"      FilterName: {SUBSCRIPTION_FILTER}",
            f"      FilterPattern: {_q(STRUCTURED_ERRORS)}",
            "      DestinationArn: !Ref FixloopLogsDestinationArn",
            "      RoleArn: !If [HasFixloopLogsRole, !Ref FixloopLogsRoleArn, !Ref AWS::NoValue]",
        ]
        outputs += [
            f"  {lid}ErrorsAlarmName:",
            f"    Description: {_q(f'The alarm on errors of {fn.name}')}",
            f"    Value: !Ref {lid}ErrorsAlarm",
        ]
    return "\n".join(out + outputs) + "\n"


def render_cdk(service: str, functions: list[WatchedFunction]) -> str:
    names = "".join(f"    {_q(fn.name)},\n" for fn in functions)
    return f'''"""fixloop error alarms for {service} as a CDK construct, from `fixloop onboard`.

The same resources as ``fixloop/cloudformation/error-alarms.yaml``, for a CDK app (Python,
aws-cdk-lib v2). Copy this file into the app and add the construct to a stack::

    from aws_cdk import aws_logs_destinations as destinations

    FixloopErrorAlarms(
        self,
        "FixloopErrorAlarms",
        destination=destinations.LambdaDestination(fixloop_log_receiver),  # or None
    )

``LambdaDestination`` also lets CloudWatch Logs invoke the receiver. For a fixloop in another
account, pass a destination for its CloudWatch Logs destination ARN instead.
"""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_logs as logs
from constructs import Construct

FUNCTION_NAMES = (
{names})
METRIC_NAMESPACE = {_q(METRIC_NAMESPACE)}
STRUCTURED_ERRORS = {STRUCTURED_ERRORS!r}
"""Lines Powertools Logger writes at level ERROR (and ERROR lines of Lambda's JSON format)."""
RUNTIME_ERRORS = {RUNTIME_ERRORS!r}
"""Lambda's text log format: unhandled exceptions with their traceback, errors, timeouts."""


class FixloopErrorAlarms(Construct):
    """Per function: two metric filters counting errors into ``{METRIC_NAMESPACE}`` /
    <function>, an alarm at 1 error or more in a minute (its state changes reach fixloop
    through the default EventBridge bus), and, with a destination, a subscription filter
    sending the structured error lines to fixloop."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        function_names: Sequence[str] = FUNCTION_NAMES,
        destination: logs.ILogSubscriptionDestination | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        self.alarms: dict[str, cloudwatch.Alarm] = {{}}
        at_least = cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD
        for name in function_names:
            log_group = logs.LogGroup.from_log_group_name(
                self, f"{{name}}-LogGroup", f"/aws/lambda/{{name}}"
            )
            for kind, pattern in (("structured", STRUCTURED_ERRORS), ("runtime", RUNTIME_ERRORS)):
                logs.MetricFilter(
                    self,
                    f"{{name}}-{{kind}}-errors",
                    log_group=log_group,
                    filter_name=f"fixloop-{{kind}}-errors",
                    filter_pattern=logs.FilterPattern.literal(pattern),
                    metric_namespace=METRIC_NAMESPACE,
                    metric_name=name,
                    metric_value="1",
                    unit=cloudwatch.Unit.COUNT,
                )
            metric = cloudwatch.Metric(
                namespace=METRIC_NAMESPACE,
                metric_name=name,
                statistic="Sum",
                period=Duration.minutes(1),
            )
            self.alarms[name] = cloudwatch.Alarm(
                self,
                f"{{name}}-errors-alarm",
                metric=metric,
                threshold=1,
                evaluation_periods=1,
                datapoints_to_alarm=1,
                comparison_operator=at_least,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
                alarm_description=(
                    f"Errors logged by Lambda function {{name}}, log group /aws/lambda/{{name}}. "
                    "fixloop investigates when this alarm goes to ALARM (its state changes "
                    "reach fixloop through the default EventBridge bus)."
                ),
            )
            if destination is not None:
                logs.SubscriptionFilter(
                    self,
                    f"{{name}}-errors-to-fixloop",
                    log_group=log_group,
                    destination=destination,
                    filter_pattern=logs.FilterPattern.literal(STRUCTURED_ERRORS),
                    filter_name={_q(SUBSCRIPTION_FILTER)},
                )
'''


def _wrap_snippet() -> list[str]:
    return [
        "```python",
        f"from {PACKAGE} import log_unhandled_errors, logger",
        "",
        "",
        "@logger.inject_lambda_context",
        "@log_unhandled_errors",
        "def lambda_handler(event, context):",
        "    ...",
        "```",
    ]


def _deploy_command(service: str) -> list[str]:
    stack = _sanitise(f"{service}-fixloop-errors")
    return [
        "```sh",
        "aws cloudformation deploy \\",
        f"  --template-file {TEMPLATE_PATH} \\",
        f"  --stack-name {stack} \\",
        "  --parameter-overrides \\",
        "    FixloopLogsDestinationArn=arn:aws:lambda:REGION:ACCOUNT:function:FIXLOOP_RECEIVER",
        "    # FixloopLogsRoleArn=arn:aws:iam::ACCOUNT:role/ROLE  (Kinesis or Firehose only)",
        "```",
    ]


def _permission_command() -> list[str]:
    return [
        "```sh",
        "aws lambda add-permission \\",
        "  --function-name arn:aws:lambda:REGION:ACCOUNT:function:FIXLOOP_RECEIVER \\",
        "  --statement-id cloudwatch-logs-errors \\",
        "  --action lambda:InvokeFunction \\",
        "  --principal logs.amazonaws.com \\",
        "  --source-account ACCOUNT \\",
        '  --source-arn "arn:aws:logs:REGION:ACCOUNT:log-group:/aws/lambda/*:*"',
        "```",
    ]


def render_docs(service: str, functions: list[WatchedFunction]) -> str:
    rows = [f"| `{fn.name}` | `{fn.log_group}` | {fn.source} |" for fn in functions]
    lines = [
        f"# fixloop for {service}",
        "",
        "fixloop turns production errors into pull requests: a CloudWatch",
        "alarm or error log lines with a stack trace open an investigation, and an agent reads",
        "the signal, the logs and this code, reproduces the failure in a test and proposes a fix.",
        "This directory and `fixloop_instrumentation/` give it what it needs to watch this",
        "service. They were added by `fixloop onboard`; run it again to regenerate them.",
        "",
        "## Logging errors with their stack trace",
        "",
        "`fixloop_instrumentation` sets up a Powertools `Logger` (one JSON object per line) and",
        "`log_unhandled_errors`, a decorator that logs an exception escaping a handler with",
        "`logger.exception` (stack trace included) and raises it again. Wrap each handler:",
        "",
        *_wrap_snippet(),
        "",
        "Behaviour does not change: the exception still fails the invocation. Log your own",
        "handled errors with `logger.exception(...)` inside an `except` block to report them too.",
        "The package must be deployed with each function (in its code directory, or a layer),",
        f"and so must `{POWERTOOLS}`.",
        "",
        "## Alarms and error logs",
        "",
        "`cloudformation/error-alarms.yaml` (or `cdk/error_alarms.py` for a CDK app) adds per",
        "function two metric filters (structured ERROR lines, and the `[ERROR]` lines of",
        f"Lambda's text log format), the metric `{METRIC_NAMESPACE}` / <function>, an alarm at",
        "one error or more in a minute, and a subscription filter that sends the structured",
        "error lines to fixloop.",
        "",
        "| Function | Log group | Name from |",
        "| --- | --- | --- |",
        *rows,
        "",
        "Deploy it after the functions have run once (their log groups must exist):",
        "",
        *_deploy_command(service),
        "",
        "- **Alarms** need nothing more: CloudWatch publishes every alarm state change to the",
        "  account's default EventBridge bus, where fixloop's rule picks it up.",
        "- **Error logs**: `FixloopLogsDestinationArn` is fixloop's log receiver. A Lambda",
        "  function in this account must let CloudWatch Logs invoke it, once:",
        "",
        *_permission_command(),
        "",
        "  For a fixloop in another account, use its CloudWatch Logs destination ARN",
        "  (`arn:aws:logs:REGION:FIXLOOP_ACCOUNT:destination:NAME`), whose access policy allows",
        "  this account. Leave the parameter empty to deploy the alarms alone.",
        "- A log group takes at most two subscription filters; this template adds one.",
        "",
        "Until fixloop's triggers run in your account, investigate a signal by hand:",
        "`fixloop investigate --repo . --signal FILE` with an alarm state change event or a",
        "CloudWatch Logs subscription message.",
    ]
    return "\n".join(lines) + "\n"


def render_readme_section() -> str:
    lines = [
        README_MARKER,
        "## Error reporting (fixloop)",
        "",
        "Errors are logged as JSON with their stack trace (`fixloop_instrumentation`), counted",
        "and alarmed on per function, and sent to fixloop, which investigates them and proposes",
        f"fixes as pull requests. Wrap each Lambda handler; see [{DOCS_PATH}]({DOCS_PATH}):",
        "",
        *_wrap_snippet(),
    ]
    return "\n".join(lines) + "\n"


def render_body(plan: OnboardingPlan) -> str:
    files = [
        f"- `{f.path}` ({'new' if f.action == 'add' else 'changed'}): {f.reason}"
        for f in plan.files
    ]
    if plan.handlers:
        handlers = [
            f"- `{h.path}` line {h.line}: `{h.function}`"
            + (" (already wrapped)" if h.wrapped else "")
            for h in plan.handlers
        ]
    else:
        handlers = ["- none found at this commit: wrap the handler of each function below"]
    functions = [
        f"- `{fn.name}`: log group `{fn.log_group}` (name from {fn.source}"
        + (f", code `{fn.handler}`" if fn.handler else "")
        + ")"
        for fn in plan.functions
    ]
    dependency = (
        f"- `{POWERTOOLS}` is already a dependency in "
        + ", ".join(f"`{p}`" for p in plan.powertools_in)
        if plan.powertools_in
        else ""
    )
    lines = [
        f"This pull request prepares **{plan.repo_name}** for fixloop, which turns production",
        "errors into pull requests: an alarm or error log lines with a stack trace open an",
        "investigation in which an agent reads the logs and this code, reproduces the failure",
        "in a test and proposes a fix. fixloop needs three things from a service: errors logged",
        "with their stack trace, an alarm when errors happen, and the error lines themselves.",
        "",
        "## What is added",
        "",
        *files,
        *([dependency] if dependency else []),
        "",
        "Nothing else changes: no handler is rewritten, so behaviour is the same until they are",
        "wrapped (next section) and the template is deployed.",
        "",
        "## Handlers to wrap",
        "",
        *handlers,
        "",
        "Add two decorators to each, outermost first (an exception is logged with its stack",
        "trace, then raised again, so failures and retries stay as they are):",
        "",
        *_wrap_snippet(),
        "",
        "## Functions watched",
        "",
        *functions,
        "",
        "Per function, `fixloop/cloudformation/error-alarms.yaml` adds two metric filters on",
        f"its log group (`{STRUCTURED_ERRORS}` for structured lines, `{RUNTIME_ERRORS}` for the",
        "Lambda runtime's text format, where an unhandled exception and its traceback are one",
        f"`[ERROR]` event), the metric `{METRIC_NAMESPACE}` / <function>, an alarm at one error",
        "or more in a minute (missing data is not breaching), and a subscription filter sending",
        f"the `{STRUCTURED_ERRORS}` lines to fixloop. `fixloop/cdk/error_alarms.py` is the same",
        "as a CDK construct.",
        "",
        "## Deploying",
        "",
        "After the functions have run once (their log groups must exist):",
        "",
        *_deploy_command(plan.repo_name),
        "",
        "## Pointing it at fixloop",
        "",
        "- **Alarms**: nothing to configure. CloudWatch publishes every alarm state change to",
        "  the account's default EventBridge bus; fixloop's rule picks them up there.",
        "- **Error logs**: `FixloopLogsDestinationArn` is fixloop's log receiver. A Lambda",
        "  function in this account must allow CloudWatch Logs to invoke it (once):",
        "",
        *_permission_command(),
        "",
        "  A fixloop in another account: pass its CloudWatch Logs destination ARN, whose access",
        "  policy allows this account. Leave the parameter empty to deploy the alarms alone.",
    ]
    if plan.warnings:
        lines += ["", "## Check before merging", "", *[f"- {w}" for w in plan.warnings]]
    lines += ["", "_Opened by `fixloop onboard`; run it again to update this pull request._"]
    return "\n".join(lines) + "\n"
