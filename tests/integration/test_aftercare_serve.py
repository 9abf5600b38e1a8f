"""Acceptance, on ``fixloop serve`` with the local code host: a delivered fix merged into the
target branch (git merge), then the same error delivered again, wakes the same investigation,
whose agent reads that its merged fix did not hold. And ``fixloop serve`` notices a merge by
itself, and ``fixloop stats`` counts the outcomes from its REST API."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tests.integration.aftercare import log_signal, trace
from tests.support import make_repo, tool_use, write_script

TURNS = [
    [tool_use("edit_file", path="app/handler.py", old_text="event['user']", new_text="event")],
    [tool_use("open_pull_request", title="Read the id safely", body="Root cause: no user.")],
    [tool_use("finish", summary="The id is read from the wrong place too; noted.")],
]


@contextmanager
def serve(repo: Path, script: Path, home: Path, **settings: str) -> Iterator[str]:
    """``fixloop serve`` on a free port with the repository as the target of the signals."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "FIXLOOP_"))}
    env |= {k: v for k, v in os.environ.items() if k.startswith("FIXLOOP_SANDBOX_")}
    env |= {
        "FIXLOOP_HOME": str(home),
        "FIXLOOP_TARGETS": json.dumps({"/aws/lambda/*": {"repo": str(repo)}}),
        "FIXLOOP_MODEL": f"scripted:{script}",
        "FIXLOOP_DEPLOY_POLL_SECONDS": "1",
        "FIXLOOP_DEPLOY_ASSUMED_DELAY_SECONDS": "0",
        "FIXLOOP_VERIFY_WINDOW_SECONDS": "3600",
        **{f"FIXLOOP_{k.upper()}": v for k, v in settings.items()},
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "fixloop.cli", "serve", "--port", "0"],
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stderr is not None
        url = ""
        for line in proc.stderr:
            if line.startswith("listening"):
                url = line.split()[-1]
                break
        assert url.startswith("http://127.0.0.1:"), "fixloop serve did not start"
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=60)


def call(url: str, method: str = "GET", body: Any = None) -> tuple[int, dict[str, Any]]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(
        url, data=data, method=method, headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as resp:
            return resp.status, json.loads(resp.read() or b"{}")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


def investigation(url: str, investigation_id: str) -> dict[str, Any]:
    status, body = call(f"{url}/investigations/{investigation_id}?limit=200")
    assert status == 200, body
    return body


def wait_until(url: str, investigation_id: str, *statuses: str, timeout_s: float = 180) -> None:
    deadline = time.monotonic() + timeout_s
    status = ""
    while time.monotonic() < deadline:
        status = investigation(url, investigation_id)["investigation"]["status"]
        if status in statuses:
            return
        time.sleep(0.3)
    raise AssertionError(f"{investigation_id} is {status}, not {'/'.join(statuses)}")


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), "-c", "user.name=Ana", "-c", "user.email=ana@example.com", *args],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()


def service_repo(tmp_path: Path) -> Path:
    return make_repo(
        tmp_path / "svc",
        {"app/handler.py": "def handle(event):\n    return event['user']['id']\n"},
    )


def test_a_merged_fix_that_did_not_hold_wakes_the_same_investigation_on_fixloop_serve(
    tmp_path: Path,
) -> None:
    repo = service_repo(tmp_path)
    script = write_script(tmp_path / "s.jsonl", TURNS)
    signal = log_signal("/aws/lambda/orders", trace("serve"))
    with serve(repo, script, tmp_path / "home", merge_poll_seconds="3600") as url:
        # Given an error that fixloop investigated and fixed with a pull request
        status, first = call(f"{url}/signals", "POST", signal)
        assert status == 202, first
        ((admitted),) = first["admissions"]
        inv_id = admitted["investigation_id"]
        assert admitted["started"]
        wait_until(url, inv_id, "delivered")
        pull_request = investigation(url, inv_id)["investigation"]["pull_request"]
        # When a person merges the fix branch into the target branch
        git(repo, "merge", "--no-ff", "-q", "-m", "Merge the fix", pull_request["branch"])
        # And the same error is delivered again
        status, again = call(f"{url}/signals", "POST", signal)
        # Then no new investigation starts: the same one wakes, runs and concludes
        assert status == 202, again
        assert [(a["investigation_id"], a["started"]) for a in again["admissions"]] == [
            (inv_id, False)
        ]
        wait_until(url, inv_id, "finished")
        read = investigation(url, inv_id)
        status, stats = call(f"{url}/stats")
    record = read["investigation"]
    assert record["aftercare"]["merge_source"] == "local"
    assert record["aftercare"]["merge_commit"] == git(repo, "rev-parse", "HEAD")
    assert record["aftercare"]["recurrences"] == 1
    # And the message its agent received says that its merged fix did not hold
    messages = [e for e in read["events"] if e["type"] == "user_message"]
    (message,) = messages
    assert message["text"].startswith(
        f"Your fix did not hold. Pull request #{pull_request['number']}"
    )
    assert "was merged into main" in message["text"]
    assert "The problem recurred after it: 1 new occurrence" in message["text"]
    assert message["in_reply_to"]
    statuses = [e["status"] for e in read["events"] if e["type"] == "status_changed"]
    assert statuses[-3:] == ["merged", "recurred", "finished"] or statuses[-4:] == [
        "merged",
        "deployed",
        "recurred",
        "finished",
    ]
    # And GET /stats counts one investigation, one pull request, merged once, recurred once
    assert status == 200
    overall = stats["overall"]
    assert (overall["investigations"], overall["pull_requests"]) == (1, 1)
    assert (overall["merged"], overall["recurred"], overall["verified"]) == (1, 1, 0)
    assert overall["median_seconds_to_pull_request"] is not None
    assert list(stats["services"]) == ["orders"]


def test_fixloop_serve_notices_a_merge_by_itself_and_fixloop_stats_reads_its_api(
    tmp_path: Path,
) -> None:
    repo = service_repo(tmp_path)
    script = write_script(tmp_path / "s.jsonl", TURNS)
    signal = log_signal("/aws/lambda/payments", trace("poll"))
    with serve(
        repo, script, tmp_path / "home", merge_poll_seconds="1", verify_window_seconds="1"
    ) as url:
        status, first = call(f"{url}/signals", "POST", signal)
        assert status == 202, first
        inv_id = first["admissions"][0]["investigation_id"]
        wait_until(url, inv_id, "delivered")
        branch = investigation(url, inv_id)["investigation"]["pull_request"]["branch"]
        # When the fix branch is merged and no signal comes
        git(repo, "merge", "--ff-only", "-q", branch)
        # Then serve finds the merge, assumes the deployment (nothing tells it) and verifies
        wait_until(url, inv_id, "verified", timeout_s=60)
        record = investigation(url, inv_id)["investigation"]
        stats = subprocess.run(
            [sys.executable, "-m", "fixloop.cli", "stats", "--url", url, "--json"],
            capture_output=True,
            text=True,
            check=True,
            env={k: v for k, v in os.environ.items() if not k.startswith("AWS_")},
        )
        table = subprocess.run(
            [sys.executable, "-m", "fixloop.cli", "stats", "--url", url],
            capture_output=True,
            text=True,
            check=True,
            env={k: v for k, v in os.environ.items() if not k.startswith("AWS_")},
        )
    assert record["aftercare"]["merge_commit"] == record["pull_request"]["head_sha"]  # ff
    assert record["aftercare"]["deploy_source"] == "assumed"
    figures = json.loads(stats.stdout)
    assert figures["services"]["payments"]["verified"] == 1
    assert figures["overall"]["median_seconds_to_verified"] is not None
    lines = table.stdout.splitlines()
    assert lines[0].split()[:6] == [
        "service",
        "investigations",
        "pull",
        "requests",
        "merged",
        "verified",
    ]
    (row,) = [ln for ln in lines if ln.startswith("payments")]
    assert row.split()[1:6] == ["1", "1", "1", "1", "0"]
