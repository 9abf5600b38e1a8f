"""Check every scenario of this suite: its bug is real and its hidden verification grades it.

For each folder holding ``scenario.json`` (or only those named on the command line):

- the repository is made as ``fixloop eval`` makes it: a ``pypi`` sdist downloaded (pip,
  ``--no-binary :all:``) or an ``npm`` tarball packed (``npm pack NAME@VERSION``), kept in a
  cache, unpacked and patched with ``patch -p1``; a ``path`` folder copied;
- its ``verify`` command must FAIL there (the bug is in the code the agent gets);
- the bug is then fixed (``pypi``, ``npm``: the bug patch reversed, which gives the published
  package;
  ``path``: ``fix.patch`` of the scenario applied) and ``verify`` must PASS;
- ``signal`` and ``script`` (when named) must be files of the scenario.

Usage: ``python evals/check.py [SCENARIO_DIR...]``; exit 0 only when every scenario checks.
The verify commands find Python with pytest through ``PYTHON`` (this interpreter by default),
Node through ``node``, Java through ``javac``/``java``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "fixloop-evals"
VERIFY_TIMEOUT_S = 600


class CheckFailed(Exception):
    pass


def scenarios(names: list[str]) -> list[Path]:
    if names:
        return [Path(n).resolve() for n in names]
    return sorted(p.parent for p in HERE.glob("*/scenario.json"))


def language(folder: Path, spec: dict[str, object]) -> str:
    repo = spec["repo"]
    assert isinstance(repo, dict)
    if "pypi" in repo:
        return "python"
    if "npm" in repo:
        return "node"
    root = folder / str(repo.get("path", ""))
    if (root / "package.json").is_file():
        return "node"
    if any(root.rglob("*.java")):
        return "java"
    if (root / "go.mod").is_file():
        return "go"
    return "python"


def run(cmd: list[str], cwd: Path, env: dict[str, str] | None = None) -> tuple[int, str]:
    proc = subprocess.run(
        cmd,
        cwd=cwd,
        env=env,
        capture_output=True,
        stdin=subprocess.DEVNULL,
        timeout=VERIFY_TIMEOUT_S,
        check=False,
    )
    return proc.returncode, (proc.stdout + proc.stderr).decode("utf-8", "replace")


def sdist(requirement: str) -> Path:
    """The sdist of NAME==VERSION, from the cache or downloaded into it."""
    entry = CACHE / requirement.replace("==", "-")
    entry.mkdir(parents=True, exist_ok=True)
    found = [p for p in entry.iterdir() if p.name.endswith((".tar.gz", ".zip", ".tgz"))]
    if not found:
        code, out = run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
             "--disable-pip-version-check", "--quiet", "--dest", str(entry), requirement],
            cwd=entry,
        )  # fmt: skip
        found = [p for p in entry.iterdir() if p.name.endswith((".tar.gz", ".zip", ".tgz"))]
        if code != 0 or not found:
            raise CheckFailed(f"pip download {requirement} failed: {out.strip()[-300:]}")
    return found[0]


def npm_tarball(package: str) -> Path:
    """The registry's tarball of NAME@VERSION (npm checks its integrity), from the cache or
    packed into it."""
    entry = CACHE / "npm" / package.replace("/", "+")
    entry.mkdir(parents=True, exist_ok=True)
    found = [p for p in entry.iterdir() if p.name.endswith(".tgz")]
    if not found:
        code, out = run(
            ["npm", "pack", package, "--pack-destination", str(entry), "--ignore-scripts",
             "--loglevel=error", "--update-notifier=false"],
            cwd=entry,
        )  # fmt: skip
        found = [p for p in entry.iterdir() if p.name.endswith(".tgz")]
        if code != 0 or not found:
            raise CheckFailed(f"npm pack {package} failed: {out.strip()[-300:]}")
    return found[0]


def unpack(archive: Path, dest: Path) -> Path:
    if archive.name.endswith(".zip"):
        with zipfile.ZipFile(archive) as zf:
            zf.extractall(dest)
    else:
        with tarfile.open(archive) as tf:
            tf.extractall(dest, filter="data")
    entries = list(dest.iterdir())
    return entries[0] if len(entries) == 1 and entries[0].is_dir() else dest


def patch(root: Path, patch_file: Path, *, reverse: bool = False) -> None:
    cmd = ["patch", "-p1", "--batch", "--forward", "--no-backup-if-mismatch", "-i", str(patch_file)]
    if reverse:
        cmd.insert(1, "-R")
    code, out = run(cmd, cwd=root)
    if code != 0:
        raise CheckFailed(f"{patch_file.name} does not apply: {out.strip().splitlines()[-1:]}")


def verify(folder: Path, spec: dict[str, object], root: Path) -> tuple[int, str]:
    """As ``fixloop eval`` grades: in the checkout, with a copy of the scenario's folder in
    SCENARIO_DIR, first on PATH, beside a copy of what the suite shares (``../lib``: the
    suite's entries that are not scenarios)."""
    with tempfile.TemporaryDirectory(prefix="fixloop-evals-scenario-") as tmp:
        copy = Path(tmp) / "scenario"
        shutil.copytree(folder, copy, symlinks=True)
        for entry in folder.parent.iterdir():
            if entry.is_dir() and not (entry / "scenario.json").is_file():
                shutil.copytree(entry, Path(tmp) / entry.name, symlinks=True)
        env = dict(
            os.environ,
            SCENARIO_DIR=str(copy),
            PATH=os.pathsep.join([str(copy), os.environ.get("PATH", "")]),
            PYTHON=os.environ.get("PYTHON", sys.executable),
        )
        return run(["bash", "-c", str(spec["verify"])], cwd=root, env=env)


def check(folder: Path, work: Path) -> str:
    spec = json.loads((folder / "scenario.json").read_text())
    for key in ("signal", "script", "logs"):
        if key in spec and not (folder / spec[key]).is_file():
            raise CheckFailed(f"{key} {spec[key]!r} is not a file of the scenario")
    repo = spec["repo"]
    tree = work / "repo"
    if "pypi" in repo or "npm" in repo:
        archive = sdist(repo["pypi"]) if "pypi" in repo else npm_tarball(repo["npm"])
        root = unpack(archive, tree)
        patch(root, folder / repo["patch"])
    elif "path" in repo:
        shutil.copytree(folder / repo["path"], tree)
        root = tree
        if not (folder / "fix.patch").is_file():
            raise CheckFailed("a path scenario needs fix.patch to be checked")
    else:
        raise CheckFailed(f"repo kind {sorted(repo)} is not checked here")
    code, out = verify(folder, spec, root)
    if code == 0:
        raise CheckFailed("verify passes on the buggy code")
    before = code
    if "patch" in repo:
        patch(root, folder / repo["patch"], reverse=True)
    else:
        patch(root, folder / "fix.patch")
    code, out = verify(folder, spec, root)
    if code != 0:
        tail = " | ".join(out.strip().splitlines()[-3:])
        raise CheckFailed(f"verify fails after the fix (exit {code}): {tail}")
    return f"verify exit {before} with the bug, 0 with the fix"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("scenarios", nargs="*", help="scenario folders (default: all of evals/)")
    args = parser.parse_args()
    folders = scenarios(args.scenarios)
    failed = 0
    for folder in folders:
        spec = json.loads((folder / "scenario.json").read_text())
        lang = language(folder, spec)
        started = time.monotonic()
        with tempfile.TemporaryDirectory(prefix="fixloop-evals-check-") as tmp:
            try:
                said = check(folder, Path(tmp))
                mark = "ok  "
            except (CheckFailed, subprocess.TimeoutExpired, OSError) as exc:
                said, mark = str(exc), "FAIL"
                failed += 1
        took = time.monotonic() - started
        print(f"{mark} {folder.name:34} {lang:7} {took:5.1f}s  {said}", flush=True)
    print(f"{len(folders) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
