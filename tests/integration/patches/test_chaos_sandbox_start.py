"""patches.chaos_sandbox_start: a sandbox task starts as slowly as a Fargate task, reporting
PROVISIONING then PENDING, its address refusing connections until its process starts."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from fixloop.config import get_settings
from fixloop.local.patches import chaos as chaos_state
from fixloop.local.patches.chaos_sandbox_start import pending_status, start_delay
from fixloop.local.sandboxes import LocalSandboxes
from tests.support import chaos, wait_for

START_S = 60.0
SCALE = 0.02
"""A 60 s start, scaled to 1.2 s."""


@pytest.fixture
def sandboxes(tmp_path: Path) -> Iterator[LocalSandboxes]:
    boxes = LocalSandboxes(tmp_path)
    yield boxes
    boxes.stop_all()


def _answers(address: str) -> bool:
    """Whether the task's address accepts a connection on the sandbox port."""
    try:
        with socket.create_connection((address, get_settings().sandbox_port), timeout=0.5):
            return True
    except OSError:
        return False


def test_a_task_provisions_then_pends_and_answers_only_once_started(
    sandboxes: LocalSandboxes,
) -> None:
    # Given sandbox tasks that take 60 s to start (scaled)
    before = chaos_state.fired()["sandbox_start"]
    with chaos(f"sandbox_start={START_S:g}", time_scale=SCALE):
        # When a task is run
        started_at = time.monotonic()
        address = sandboxes.start("arn:aws:ecs:task/slow", {"FIXLOOP_SANDBOX_INVESTIGATION": "i"})

        # Then it is PROVISIONING at first, its address refusing connections
        assert sandboxes.status("arn:aws:ecs:task/slow") == "PROVISIONING"
        assert not _answers(address)
        # then PENDING for the second half of its start, still refusing
        wait_for(
            lambda: sandboxes.status("arn:aws:ecs:task/slow") == "PENDING",
            timeout_s=START_S * SCALE,
            what="PENDING",
        )
        assert time.monotonic() - started_at >= START_S * SCALE / 2
        assert not _answers(address)
        # and once started, its address answers
        wait_for(lambda: _answers(address), timeout_s=10, what="the started sandbox")
        assert time.monotonic() - started_at >= START_S * SCALE
        assert sandboxes.status("arn:aws:ecs:task/slow") == "RUNNING"
    sandboxes.terminate("arn:aws:ecs:task/slow")
    assert chaos_state.fired()["sandbox_start"] == before + 1


def test_a_task_stopped_while_starting_never_starts(sandboxes: LocalSandboxes) -> None:
    # Given a task still starting
    with chaos("sandbox_start=10", time_scale=0.05):
        address = sandboxes.start("arn:aws:ecs:task/stopped", {})
        # When it is stopped before its process starts
        sandboxes.terminate("arn:aws:ecs:task/stopped")
        time.sleep(10 * 0.05 + 0.3)
    # Then it is STOPPED and nothing ever listens on its address
    assert sandboxes.status("arn:aws:ecs:task/stopped") == "STOPPED"
    assert not _answers(address)
    assert sandboxes.running() == 0


def test_without_the_fault_a_task_starts_at_once() -> None:
    # Given no chaos / Then no delay, and the status halves of a start
    with chaos(""):
        assert start_delay() == 0.0
    assert pending_status(0.4, 1.0) == "PROVISIONING"
    assert pending_status(0.6, 1.0) == "PENDING"
