"""Build the shared ``fixloop`` Lambda layer on this machine, without Docker.

CDK calls :meth:`LayerBundler.try_bundle` (its ``ILocalBundling`` hook) before it would start a
bundling container. It runs ``pip install --target <out>/python`` twice:

1. the runtime dependencies, the ``[project] dependencies`` of ``pyproject.toml`` and nothing
   from the optional extras (moto, cdk, dev never reach Lambda), as binary wheels for the
   Lambda platform (``--platform manylinux*_<arch> --python-version 3.13 --implementation cp
   --only-binary=:all:``), so a wheel built for the machine running the synth cannot slip in;
2. the ``fixloop`` package itself with ``--no-deps``, from a clean copy of its sources (so
   the build leaves no ``build/`` or ``*.egg-info`` behind in the work tree).

Byte-code caches, console scripts and tests are left out. :meth:`LayerBundler.fingerprint`
hashes every input, so CDK reuses a bundle already staged in the output directory and the
layer's asset hash changes only when its content would.
"""

from __future__ import annotations

import fnmatch
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import aws_cdk as cdk
import jsii

__all__ = [
    "BUNDLER_VERSION",
    "PROJECT_ROOT",
    "LayerBuildError",
    "LayerBundler",
    "LayerTarget",
    "runtime_requirements",
]

PROJECT_ROOT = Path(__file__).resolve().parent.parent
"""The repository root: holds ``pyproject.toml`` and the ``fixloop`` package."""

BUNDLER_VERSION = "1"
"""Bump when the way the layer is built changes, so staged bundles are not reused."""

PACKAGE_NAME = "fixloop"
_IGNORED = (
    "__pycache__",
    "*.pyc",
    "*.pyo",
    "tests",
    "test",
    ".pytest_cache",
    ".mypy_cache",
    # fixloop.local (the embedded runtime) needs moto: local-only, never in Lambda.
    "local",
)
_PACKAGE_FILES = ("pyproject.toml", "README.md", "LICENSE", "LICENSE.txt", "NOTICE")
_PIP_OUTPUT_TAIL = 4000

Architecture = Literal["arm64", "x86_64"]


class LayerBuildError(RuntimeError):
    """pip could not build the layer; the message carries the command and pip's output."""


def runtime_requirements(pyproject: Path = PROJECT_ROOT / "pyproject.toml") -> list[str]:
    """Return the ``[project] dependencies`` of ``pyproject``: what the layer must contain.

    Optional extras (``[project.optional-dependencies]``) are deliberately ignored.
    """
    with pyproject.open("rb") as f:
        project = tomllib.load(f).get("project", {})
    deps = project.get("dependencies", [])
    if not isinstance(deps, list) or not all(isinstance(d, str) for d in deps):
        raise ValueError(f"{pyproject}: [project] dependencies must be a list of strings")
    return list(deps)


@dataclass(frozen=True)
class LayerTarget:
    """The Lambda runtime the layer's wheels must match."""

    python_version: str = "3.13"
    architecture: Architecture = "arm64"

    @property
    def platforms(self) -> tuple[str, ...]:
        """pip ``--platform`` tags: manylinux2014 (glibc 2.17) and manylinux_2_28, both of
        which run on the Amazon Linux 2023 base of the python3.13 runtime."""
        machine = "aarch64" if self.architecture == "arm64" else "x86_64"
        return (f"manylinux2014_{machine}", f"manylinux_2_28_{machine}")


@jsii.implements(cdk.ILocalBundling)
class LayerBundler:
    """Local bundler for the ``fixloop`` layer (``BundlingOptions(local=LayerBundler())``).

    A plain class, not a frozen dataclass: jsii attaches its object reference to the instance.
    ``python`` is the interpreter whose pip runs the install; it need not match the target.
    """

    def __init__(
        self,
        project_root: Path = PROJECT_ROOT,
        target: LayerTarget | None = None,
        python: str = sys.executable,
    ) -> None:
        self.project_root = project_root
        self.target = target or LayerTarget()
        self.python = python

    @property
    def requirements(self) -> list[str]:
        return runtime_requirements(self.project_root / "pyproject.toml")

    def try_bundle(self, output_dir: str, *, image: cdk.DockerImage, **options: Any) -> bool:
        """CDK's ``ILocalBundling`` hook: build into ``output_dir``; never defer to Docker.

        ``image`` and ``options`` (the ``BundlingOptions``) are unused: the bundler's own
        fields say what to build.
        """
        self.bundle(Path(output_dir))
        return True

    def bundle(self, output_dir: Path) -> Path:
        """Install the layer into ``output_dir/python`` and return that directory."""
        site = output_dir / "python"
        site.mkdir(parents=True, exist_ok=True)
        requirements = self.requirements
        print(
            f"fixloop layer: pip install {len(requirements)} runtime requirements for "
            f"cp{self.target.python_version} {self.target.architecture}, then {PACKAGE_NAME}",
            file=sys.stderr,
        )
        if requirements:
            self._pip(site, *self._platform_args(), *requirements)
        with tempfile.TemporaryDirectory(prefix="fixloop-layer-src-") as tmp:
            source = self._copy_package_source(Path(tmp) / "src")
            # --upgrade lets the package's own files replace what step 1 left in the target.
            self._pip(site, "--no-deps", "--upgrade", str(source))
        self._prune(site)
        return site

    def fingerprint(self) -> str:
        """A hash of every input of :meth:`bundle`, for ``AssetHashType.CUSTOM``."""
        digest = hashlib.sha256()
        for part in (
            BUNDLER_VERSION,
            self.target.python_version,
            *self.target.platforms,
            *self.requirements,
        ):
            digest.update(part.encode())
            digest.update(b"\0")
        for path in self._source_files():
            digest.update(path.relative_to(self.project_root).as_posix().encode())
            digest.update(b"\0")
            digest.update(path.read_bytes())
        return digest.hexdigest()

    def _platform_args(self) -> list[str]:
        args = ["--only-binary=:all:", "--implementation", "cp"]
        args += ["--python-version", self.target.python_version]
        for platform in self.target.platforms:
            args += ["--platform", platform]
        return args

    def _pip(self, site: Path, *args: str) -> None:
        cmd = [self.python, "-m", "pip", "install", "--quiet", "--no-compile", "--target"]
        cmd += [str(site), *args]
        env = {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1", "PYTHONDONTWRITEBYTECODE": "1"}
        done = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
        if done.returncode != 0:
            output = (done.stdout + done.stderr)[-_PIP_OUTPUT_TAIL:]
            raise LayerBuildError(
                f"building the fixloop layer failed (exit {done.returncode}): "
                f"{' '.join(cmd)}\n{output}"
            )

    def _source_files(self) -> list[Path]:
        files = [self.project_root / name for name in _PACKAGE_FILES]
        files = [f for f in files if f.is_file()]
        package = self.project_root / PACKAGE_NAME
        files += sorted(
            p for p in package.rglob("*") if p.is_file() and not _ignored(p.relative_to(package))
        )
        return files

    def _copy_package_source(self, dest: Path) -> Path:
        dest.mkdir(parents=True)
        for name in _PACKAGE_FILES:
            if (self.project_root / name).is_file():
                shutil.copy2(self.project_root / name, dest / name)
        shutil.copytree(
            self.project_root / PACKAGE_NAME,
            dest / PACKAGE_NAME,
            ignore=shutil.ignore_patterns(*_IGNORED),
        )
        return dest

    @staticmethod
    def _prune(site: Path) -> None:
        """Drop what Lambda never uses: console scripts (their shebang points at this
        machine's interpreter) and byte-code compiled for another Python version."""
        shutil.rmtree(site / "bin", ignore_errors=True)
        for cache in list(site.rglob("__pycache__")):
            shutil.rmtree(cache, ignore_errors=True)


def _ignored(relative: Path) -> bool:
    """Whether a path under the package is left out (the same rule ``copytree`` applies)."""
    return any(fnmatch.fnmatch(part, pattern) for part in relative.parts for pattern in _IGNORED)
