"""The sandbox holds nothing worth stealing: it gets none of the CLI's secrets, writes no
table, takes calls from its dispatcher only, and the embedded AWS refuses its commands; a
sandbox that hangs is replaced and stopped."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from fixloop.domain import ToolResult
from fixloop.store import stores
from tests.integration.scenario import log_of, run_scripted, start_scripted
from tests.runtime import LocalRuntime
from tests.security.calls import sandbox_pid
from tests.security.conftest import CANARY
from tests.support import tool_use, wait_for

CLI_SECRETS = {
    "ANTHROPIC_API_KEY": f"sk-ant-{CANARY}",
    "GITHUB_TOKEN": f"ghp_{CANARY}",
    "FIXLOOP_GITHUB_WEBHOOK_SECRET": f"whsec-{CANARY}",
    "FIXLOOP_SLACK_BOT_TOKEN": f"xoxb-{CANARY}",
}


def _results(investigation_id: str) -> dict[str, ToolResult]:
    return {
        e.event.name: e.event for e in log_of(investigation_id) if isinstance(e.event, ToolResult)
    }


@contextmanager
def requests_seen() -> Iterator[list[tuple[str, str, str]]]:
    """(user agent, service, action-or-path) of every request moto's server answers."""
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication

    seen: list[tuple[str, str, str]] = []
    original = DomainDispatcherApplication.__call__

    def call(app: Any, environ: dict[str, Any], start_response: Any) -> Any:
        auth = str(environ.get("HTTP_AUTHORIZATION", ""))
        scope = auth.split("Credential=", 1)[-1].split(",", 1)[0].split("/") if auth else []
        service = (
            scope[3]
            if len(scope) > 3
            else ("s3" if "X-Amz-Credential" in str(environ.get("QUERY_STRING", "")) else "")
        )
        action = str(environ.get("HTTP_X_AMZ_TARGET", "")) or (
            f"{environ.get('REQUEST_METHOD')} {environ.get('PATH_INFO')}"
        )
        seen.append((str(environ.get("HTTP_USER_AGENT", "")), service, action))
        return original(app, environ, start_response)

    DomainDispatcherApplication.__call__ = call  # type: ignore[method-assign,assignment]
    try:
        yield seen
    finally:
        DomainDispatcherApplication.__call__ = original  # type: ignore[method-assign]


def test_a_sandbox_gets_none_of_the_clis_secrets_and_only_answers_its_task_tokens(
    runtime: LocalRuntime, repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given the CLI's process holding a model key, a GitHub token and webhook secrets
    for name, value in CLI_SECRETS.items():
        monkeypatch.setenv(name, value)
    turns = [
        [tool_use("read_file", path="app/handler.py")],
        [tool_use("edit_file", path="app/util.py", old_text="return x", new_text="return x or 0")],
        [tool_use("run_command", command="sleep 2; python -c 'print(1)'")],
        [tool_use("finish", summary="done")],
    ]
    environments: list[bytes] = []

    def look_while_it_runs(investigation_id: str) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            pid = sandbox_pid(investigation_id)
            if pid is not None:
                environments.append(Path(f"/proc/{pid}/environ").read_bytes())
                return
            time.sleep(0.05)

    # When an investigation runs code tools in its sandbox
    with requests_seen() as seen:
        inv_id = start_scripted(repo, turns, tmp_path / "s.jsonl")
        looker = threading.Thread(target=look_while_it_runs, args=(inv_id,))
        looker.start()
        runtime.watcher.wait(inv_id, timeout_s=120)
        looker.join()
    # Then its sandbox process never had the CLI's secrets in its environment
    assert environments, "the sandbox process was not seen"
    assert CANARY.encode() not in environments[0]
    assert b"AWS_ACCESS_KEY_ID=" in environments[0]  # its own way to answer task tokens
    # And what it asked of AWS was answering task tokens, and putting and getting its own
    # investigation's objects through the URLs it was handed: no table, nothing else
    from_sandbox = [(service, action) for agent, service, action in seen if "sandbox" in agent]
    assert from_sandbox, "no request came from the sandbox"
    assert {a.rsplit(".", 1)[-1] for _, a in from_sandbox} <= {
        "SendTaskSuccess",
        "SendTaskHeartbeat",
        "SendTaskFailure",
    }
    urls = [a for agent, s, a in seen if agent.startswith("Python-urllib")]
    assert urls and all(f"/sandboxes/{inv_id}/" in a for a in urls)
    assert stores().investigations.get(inv_id).status == "finished"


def _probe_command(endpoint: str) -> str:
    """A command that tries to hand its own sandbox a call, and to read the runtime's AWS."""
    script = (
        "import urllib.request as u\n"
        "o = u.build_opener(u.ProxyHandler({}))\n"
        "for h in [f'127.0.{a}.{b}' for a in range(16) for b in range(1, 255)]:\n"
        "    try:\n"
        "        r = o.open(u.Request(f'http://{h}:8080/calls', data=b'{}', method='POST'),"
        " timeout=1)\n"
        "        print('call', h, r.status)\n"
        "    except u.HTTPError as e:\n"
        "        print('call', h, e.code)\n"
        "    except OSError as e:\n"
        "        pass\n"
        "try:\n"
        f"    print('aws', o.open('{endpoint}/fixloop-blobs', timeout=2).status)\n"
        "except u.HTTPError as e:\n"
        "    print('aws', e.code)\n"
        "except OSError as e:\n"
        "    print('aws unreachable')\n"
    )
    return f"python3 - <<'EOF'\n{script}EOF"


def test_a_command_can_neither_hand_its_sandbox_a_call_nor_use_the_runtimes_aws(
    runtime: LocalRuntime, sandbox_mode: str, repo: Path, tmp_path: Path
) -> None:
    # Given a command that looks for sandboxes on loopback and the embedded AWS endpoint
    turns = [
        [tool_use("run_command", command=_probe_command(runtime.endpoint_url))],
        [tool_use("finish", summary="done")],
    ]
    # When it runs (confined as the mode says)
    summary = run_scripted(runtime, repo, turns, tmp_path / "s.jsonl")
    out = _results(summary.investigation.investigation_id)["run_command"].content
    # Then no sandbox took a call from it, and the runtime's AWS answered it nothing
    assert "exit code 0" in out
    calls = [line for line in out.splitlines() if line.startswith("call ")]
    assert all(line.endswith(" 401") for line in calls), calls
    if sandbox_mode == "uid":  # the network is shared: its own sandbox answered, refusing
        assert calls
    else:  # no network at all
        assert not calls
    assert ("aws 403" in out) or ("aws unreachable" in out)
    assert "aws 200" not in out


def test_a_hung_sandbox_is_replaced_and_stopped(
    runtime: LocalRuntime, repo: Path, tmp_path: Path
) -> None:
    # Given an investigation whose sandbox freezes between two calls (as one stuck in a
    # runaway loop that holds its interpreter would: it accepts nothing, answers nothing)
    runtime.configure(sandbox_heartbeat_seconds="3")
    try:
        marker = "hung-sandbox-7c1d"
        turns = [
            [tool_use("write_file", path="notes.txt", content="kept\n")],
            [tool_use("run_command", command=f"sleep 1 # {marker}")],
            [tool_use("read_file", path="notes.txt")],
            [tool_use("finish", summary="done")],
        ]
        inv_id = start_scripted(repo, turns, tmp_path / "s.jsonl")
        wait_for(lambda: sandbox_pid(inv_id) is not None, timeout_s=60, what="the sandbox")
        frozen = sandbox_pid(inv_id)
        assert frozen is not None
        wait_for(
            lambda: any(r.name == "write_file" for r in _results(inv_id).values()),
            timeout_s=60,
            what="the first call's result",
        )
        os.kill(frozen, signal.SIGSTOP)
        # When the investigation goes on
        ended = runtime.watcher.wait(inv_id, timeout_s=180)
    finally:
        runtime.configure(sandbox_heartbeat_seconds=None)
    # Then another sandbox took over with the workspace, and the frozen one is gone
    assert ended.status == "finished"
    assert "kept" in _results(inv_id)["read_file"].content
    assert runtime.sandboxes.launched_for(inv_id) == 2
    wait_for(
        lambda: not Path(f"/proc/{frozen}").exists() or _zombie(frozen),
        timeout_s=30,
        what="the frozen sandbox to be stopped",
    )


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True
