"""Reading a service's repository at ``HEAD`` (never its working tree): its Python Lambda
handlers, and the deployed names of its functions from a SAM/CloudFormation ``template.yaml``,
a ``serverless.yml``, or, failing those, the handlers' modules."""

from __future__ import annotations

import ast
import functools
import importlib
import subprocess
from pathlib import Path, PurePosixPath
from typing import Any

from fixloop.errors import BadInputError, FixloopError
from fixloop.onboarding.models import (
    FUNCTION_NAME,
    PACKAGE,
    DetectedHandler,
    WatchedFunction,
    sanitise,
)
from fixloop.sandbox.git import Git

__all__ = [
    "Tree",
    "find_handlers",
    "guessed_names",
    "head_commit",
    "serverless_functions",
    "template_functions",
]

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
TEMPLATE_FILES = ("template.yaml", "template.yml")
SERVERLESS_FILES = ("serverless.yml", "serverless.yaml")
GIT_TIMEOUT_S = 120


# -- reading the repository at HEAD ---------------------------------------------------------


def _git(repo: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[bytes]:
    proc = Git(repo, workspace=False).run(list(args), timeout=GIT_TIMEOUT_S)
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


class Tree:
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


def find_handlers(tree: Tree) -> list[DetectedHandler]:
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


def guessed_names(handlers: list[DetectedHandler], repo_name: str) -> list[WatchedFunction]:
    """A function name per handler: its module's name, or its directory's when the module's
    says nothing (``app.py``); the module path when two handlers would share a name."""

    def short(h: DetectedHandler) -> str:
        p = PurePosixPath(h.path)
        if p.stem not in GENERIC_MODULES:
            return p.stem
        return p.parent.name if p.parent.name else repo_name

    def long(h: DetectedHandler) -> str:
        return "-".join(PurePosixPath(h.path).with_suffix("").parts)

    shorts = [sanitise(short(h)) for h in handlers]
    found: dict[str, WatchedFunction] = {}
    for h, guess in zip(handlers, shorts, strict=True):
        name = sanitise(long(h)) if shorts.count(guess) > 1 else guess
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


def template_functions(tree: Tree, warnings: list[str]) -> tuple[str, list[WatchedFunction]] | None:
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


def serverless_functions(tree: Tree, warnings: list[str]) -> list[WatchedFunction]:
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
