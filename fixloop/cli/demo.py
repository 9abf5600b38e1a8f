"""The built-in scenario: a copy of the sample service as a fresh git repository."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

SCENARIO_FOLDER = "fixloop"
"""Inside the sample: the signal and the script, not part of the service's repository."""


def prepare_demo_repo(sample: Path) -> Path:
    """Copy ``sample`` (minus its scenario folder) into a new git repository with one commit."""
    repo = Path(tempfile.mkdtemp(prefix="fixloop-demo-")) / sample.name
    shutil.copytree(
        sample, repo, ignore=shutil.ignore_patterns(SCENARIO_FOLDER, "__pycache__", ".pytest_cache")
    )
    git = ["git", "-C", str(repo), "-c", "user.name=orders-dev", "-c", "user.email=dev@example.com"]
    subprocess.run([*git, "init", "-q", "-b", "main"], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run(
        [*git, "commit", "-q", "-m", "orders-service: checkout with coupons"], check=True
    )
    return repo
