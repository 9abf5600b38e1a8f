"""Shared builders for tests: signals, scripted turns, git repositories."""

from __future__ import annotations

import base64
import gzip
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from fixloop.agent.toolset import default_registry
from fixloop.llm import clear_model_cache
from fixloop.tools import Tool
from tests.fakes.messages import MessagesServer

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "examples" / "orders-service"


def alarm_event(name: str = "orders-5xx", state: str = "ALARM") -> dict[str, Any]:
    """An EventBridge 'CloudWatch Alarm State Change' event as AWS documents it."""
    return {
        "version": "0",
        "id": "c4c1c1c9-6542-e61b-6ef0-8c4d36933a92",
        "detail-type": "CloudWatch Alarm State Change",
        "source": "aws.cloudwatch",
        "account": "123456789012",
        "time": "2026-11-22T09:20:00Z",
        "region": "us-east-1",
        "resources": [f"arn:aws:cloudwatch:us-east-1:123456789012:alarm:{name}"],
        "detail": {
            "alarmName": name,
            "state": {
                "value": state,
                "reason": "Threshold Crossed: 1 out of the last 1 datapoints [12.0] was >= 5.0",
                "reasonData": "{}",
                "timestamp": "2026-11-22T09:20:00.000+0000",
            },
            "previousState": {
                "value": "OK",
                "reason": "",
                "timestamp": "2026-11-22T09:10:00.000+0000",
            },
            "configuration": {
                "description": "5xx responses of the orders API",
                "metrics": [
                    {
                        "id": "m1",
                        "metricStat": {
                            "metric": {
                                "namespace": "AWS/ApiGateway",
                                "name": "5XXError",
                                "dimensions": {"ApiName": "orders"},
                            },
                            "period": 60,
                            "stat": "Sum",
                        },
                        "returnData": True,
                    }
                ],
            },
        },
    }


def put_alarm(cloudwatch: Any, name: str, namespace: str = "orders") -> None:
    """A CloudWatch alarm on the namespace's Errors metric (one failure in a minute)."""
    cloudwatch.put_metric_alarm(
        AlarmName=name,
        Namespace=namespace,
        MetricName="Errors",
        Statistic="Sum",
        Period=60,
        EvaluationPeriods=1,
        Threshold=1,
        ComparisonOperator="GreaterThanOrEqualToThreshold",
    )


def logs_message(lines: list[str], group: str = "/aws/lambda/orders") -> dict[str, Any]:
    """A decoded CloudWatch Logs subscription message."""
    return {
        "messageType": "DATA_MESSAGE",
        "owner": "123456789012",
        "logGroup": group,
        "logStream": "2026/11/22/[$LATEST]abc",
        "subscriptionFilters": ["fixloop-errors"],
        "logEvents": [
            {"id": str(i), "timestamp": 1795435200000 + i, "message": line}
            for i, line in enumerate(lines)
        ],
    }


def awslogs_envelope(message: dict[str, Any]) -> dict[str, Any]:
    """The ``{"awslogs": {"data": ...}}`` envelope a Lambda subscriber receives."""
    data = base64.b64encode(gzip.compress(json.dumps(message).encode())).decode()
    return {"awslogs": {"data": data}}


FIXLOOP_CLI = [sys.executable, "-m", "fixloop.cli"]
"""The ``fixloop`` command, run by this interpreter."""
NOT_A_USERS = ("AWS_", "FIXLOOP_", "POWERTOOLS_")
"""Settings of this test process a user's shell would not have."""


def user_env(home: Path, *, drop: tuple[str, ...] = ()) -> dict[str, str]:
    """This process's environment as a user's shell has it: without its AWS, fixloop and
    Powertools settings (or those of ``drop`` too), with ``home`` as ``FIXLOOP_HOME``."""
    prefixes = (*NOT_A_USERS, *drop)
    clean = {k: v for k, v in os.environ.items() if not k.startswith(prefixes)}
    return {**clean, "FIXLOOP_HOME": str(home)}


def run_cli(
    *args: str | Path,
    home: Path,
    timeout: float = 300,
    env: dict[str, str] | None = None,
    drop: tuple[str, ...] = (),
) -> subprocess.CompletedProcess[str]:
    """Run the CLI as a user would (:func:`user_env`), from the project's root; ``env`` adds
    to it."""
    return subprocess.run(
        [*FIXLOOP_CLI, *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
        env={**user_env(home, drop=drop), **(env or {})},
        check=False,
    )


@contextmanager
def messages_api(monkeypatch: pytest.MonkeyPatch) -> Iterator[MessagesServer]:
    """The local Messages API, which the Anthropic SDK of this process (and the embedded
    runtime's handlers) reach while it runs."""
    with MessagesServer() as server:
        monkeypatch.setenv("ANTHROPIC_BASE_URL", server.base_url)
        monkeypatch.setenv("ANTHROPIC_API_KEY", "test-key")
        clear_model_cache()
        yield server
    clear_model_cache()


def tool_use(name: str, **inp: Any) -> dict[str, Any]:
    return {"type": "tool_use", "name": name, "input": inp}


def text(t: str) -> dict[str, Any]:
    return {"type": "text", "text": t}


def thinking(t: str) -> dict[str, Any]:
    return {"type": "thinking", "thinking": t}


def write_script(path: Path, turns: list[list[dict[str, Any]]]) -> Path:
    with path.open("w") as f:
        for content in turns:
            f.write(json.dumps({"content": content}) + "\n")
    return path


def make_repo(path: Path, files: dict[str, str]) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        (path / name).parent.mkdir(parents=True, exist_ok=True)
        (path / name).write_text(content)
    git = ["git", "-C", str(path), "-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run([*git, "init", "-q", "-b", "main"], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "init"], check=True)
    return path


def commit_as(repo: Path, author: str, message: str, files: dict[str, str]) -> str:
    """Write ``files`` and commit them as ``author`` (email: lower-case name @example.com)."""
    for name, content in files.items():
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        (repo / name).write_text(content)
    git = ["git", "-C", str(repo), "-c", f"user.name={author}"]
    git += ["-c", f"user.email={author.lower()}@example.com"]
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", message], check=True)
    return head(repo)


def head(repo: Path) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True, check=True
    ).stdout.strip()


def wait_for(check: Callable[[], bool], timeout_s: float = 30, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def rsa_key_pair() -> tuple[str, str]:
    """A fresh 2048-bit RSA key pair as PEM: (private, public), as a GitHub App has."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    ).decode()
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return private, public


@contextmanager
def extra_tools(*tools: Tool) -> Iterator[None]:
    """Add test-only tools to the default registry for the block, then remove them: the
    registry is process-wide, and other test files assert its exact contents."""
    registry = default_registry()
    for tool in tools:
        registry.register(tool)
    try:
        yield
    finally:
        for tool in tools:
            registry.unregister(tool.name)


def processes_with(marker: str) -> list[int]:
    """Live processes (not zombies) of this machine whose command line holds ``marker``, seen
    from here: a confined command's own ``$$`` and ``$!`` are pids of its PID namespace."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if marker in cmdline and state != "Z":
            found.append(int(entry.name))
    return found


@contextmanager
def chaos(spec: str, *, time_scale: float = 0.001, seed: int = 0) -> Iterator[None]:
    """``FIXLOOP_CHAOS`` (with its seed and time scale) for a block, then as it was.

    The chaos is read from the settings on every request, so the faults start and stop with
    the block (the embedded runtime's ``configure(chaos=...)`` does the same, and also
    rebuilds its cached clients)."""
    from fixloop.config import get_settings

    keys = {
        "FIXLOOP_CHAOS": spec,
        "FIXLOOP_CHAOS_SEED": str(seed),
        "FIXLOOP_CHAOS_TIME_SCALE": str(time_scale),
    }
    before = {k: os.environ.get(k) for k in keys}
    os.environ.update(keys)
    get_settings.cache_clear()
    try:
        yield
    finally:
        for k, v in before.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        get_settings.cache_clear()
