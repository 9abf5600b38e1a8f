from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import make_repo


@pytest.fixture(scope="session")
def runtime() -> Iterator[object]:
    """One embedded runtime per test process (it owns the process's AWS environment)."""
    from fixloop.local import moto_patches
    from fixloop.local.runtime import EmbeddedRuntime

    with EmbeddedRuntime() as rt:
        moto_patches.set_retry_sleep(lambda _s: None)  # retry intervals are not under test
        yield rt


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return make_repo(
        tmp_path / "svc",
        {
            "app/handler.py": "def handle(event):\n    return event['user']['id']\n",
            "app/util.py": "def ident(x):\n    return x\n",
            "README.md": "# svc\n",
        },
    )
