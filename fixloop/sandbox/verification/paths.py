"""Which files of a change are tests, by the conventions of the common test runners.

A *test file* is any file a test suite is made of: test modules and what they use (a
``conftest.py``, fixtures, ``testdata``), so the base commit gets all of them when the
change's tests are tried there. A *test module* is one a runner runs: those are the files
a targeted run names.
"""

from __future__ import annotations

import re
from pathlib import PurePosixPath

__all__ = ["is_test_file", "is_test_module", "java_class", "package_dir"]

TEST_DIRS = frozenset({"test", "tests", "__tests__", "spec", "specs", "testing", "testdata"})
"""Directories whose files belong to a test suite (``src/test/java`` included)."""

_JS = r"\.(?:c|m)?[jt]sx?$"
_MODULE_NAMES = (
    re.compile(r"^test_.+\.py$"),
    re.compile(r"^.+_test\.py$"),
    re.compile(r"^.+_test\.go$"),
    re.compile(r"^.+[._-](?:test|spec)" + _JS),
    re.compile(r"^test(?:-.+)?" + _JS),
    re.compile(r"^(?:Test.+|.+Tests?|.+IT)\.(?:java|kt)$"),
)


def _parts(path: str) -> tuple[str, ...]:
    return PurePosixPath(path).parts


def is_test_module(path: str) -> bool:
    """A file a runner runs as tests: ``test_*.py``, ``*_test.go``, ``*.test.js``,
    ``FooTest.java``; or a JavaScript file in a test directory (``node --test``'s rule)."""
    parts = _parts(path)
    if not parts:
        return False
    name = parts[-1]
    if any(p.match(name) for p in _MODULE_NAMES):
        return True
    in_test_dir = any(part in TEST_DIRS for part in parts[:-1])
    return in_test_dir and re.search(_JS, name) is not None and "fixture" not in path.lower()


def is_test_file(path: str) -> bool:
    """A file of a test suite: a test module, a ``conftest.py``, or anything in a test
    directory."""
    parts = _parts(path)
    if not parts:
        return False
    if is_test_module(path) or parts[-1] == "conftest.py":
        return True
    return any(part in TEST_DIRS for part in parts[:-1])


def package_dir(path: str) -> str:
    """The Go package (``./dir``) a ``_test.go`` file belongs to."""
    parent = PurePosixPath(path).parent.as_posix()
    return "." if parent in ("", ".") else f"./{parent}"


def java_class(path: str) -> str:
    """The test class a Java or Kotlin file declares, by its name (``FooTest``)."""
    return PurePosixPath(path).stem
