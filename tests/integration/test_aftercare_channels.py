"""What people see of a fix after its merge: each status (merged, deployed, verified,
recurred) announced once in the investigation's Slack thread and on its Linear issue, and the
fix's aftercare in the live view's read model."""

from __future__ import annotations

from pathlib import Path

from fixloop import aws
from fixloop.aftercare import record_merge
from fixloop.domain.signal import utcnow
from fixloop.live.views import investigation_summaries, read_investigation
from fixloop.store import stores
from tests.integration.aftercare import deliver, fast, statuses_logged, wait_status
from tests.integration.channels import SLACK_CHANNEL, Channels
from tests.runtime import LocalRuntime
from tests.support import alarm_event, put_alarm, wait_for


def _slack(channels: Channels, investigation_id: str) -> list[str]:
    inv = stores().investigations.get(investigation_id)
    assert inv.slack_channel == SLACK_CHANNEL and inv.slack_thread_ts
    return [m["text"] for m in channels.slack_api.thread(SLACK_CHANNEL, inv.slack_thread_ts)]


def _linear(channels: Channels) -> list[str]:
    return [str(c["body"]) for c in channels.linear_api.comments]


def test_merged_deployed_and_verified_are_announced_and_in_the_live_view(
    runtime: LocalRuntime, channels: Channels, repo: Path, tmp_path: Path
) -> None:
    # Given a delivered fix of an alarm that stays OK, announced in Slack and on Linear
    alarm = "aftercare-announced-holds"
    put_alarm(aws.client("cloudwatch"), alarm)
    with fast(runtime, verify_window_seconds="2"):
        inv = deliver(runtime, repo, tmp_path / "s.jsonl", signal=alarm_event(alarm))
        inv_id = inv.investigation_id
        # When its pull request is merged and nothing brings the problem back
        record_merge(inv_id, commit="ab12" * 10, at=utcnow(), by="ana", source="github")
        wait_status(inv_id, "verified")

        def told(*prefixes: str) -> bool:
            slack, linear = _slack(channels, inv_id), _linear(channels)
            return all(
                any(t.startswith(p) for t in slack) and any(t.startswith(p) for t in linear)
                for p in prefixes
            )

        wait_for(lambda: told("Merged:", "Assumed deployed:", "Verified:"), what="announced")
    # Then the thread and the issue were told each step once, naming the pull request
    slack = _slack(channels, inv_id)
    for prefix in ("Merged: pull request #1", "Assumed deployed: pull request #1", "Verified:"):
        assert len([t for t in slack if t.startswith(prefix)]) == 1, (prefix, slack)
        assert len([t for t in _linear(channels) if t.startswith(prefix)]) == 1, prefix
    assert "Watching for its deployment." in next(t for t in slack if t.startswith("Merged:"))
    assert "held in production" in next(t for t in slack if t.startswith("Verified:"))
    assert statuses_logged(inv_id)[-3:] == ["merged", "deployed", "verified"]
    # And the live view lists it verified, with what became of its fix
    (summary,) = [s for s in investigation_summaries() if s["investigation_id"] == inv_id]
    assert summary["status"] == "verified"
    after = summary["aftercare"]
    assert (after["phase"], after["deploy_source"], after["recurrences"]) == (
        "verified",
        "assumed",
        0,
    )
    assert after["merged_at"] and after["deployed_at"] and after["verified_at"]
    read = read_investigation(inv_id, limit=500)
    assert read["investigation"]["aftercare"] == after
    changes = [e["text"] for e in read["events"] if e["type"] == "status_changed"]
    assert any("verified" in text for text in changes), changes


def test_a_recurrence_is_announced_and_the_live_view_counts_it(
    runtime: LocalRuntime, channels: Channels, repo: Path, tmp_path: Path
) -> None:
    # Given a delivered, merged and deployed fix of an alarm
    alarm = "aftercare-announced-recurs"
    put_alarm(aws.client("cloudwatch"), alarm)
    with fast(runtime, verify_window_seconds="3"):
        inv = deliver(runtime, repo, tmp_path / "s.jsonl", signal=alarm_event(alarm))
        inv_id = inv.investigation_id
        record_merge(inv_id, commit="cd34" * 10, at=utcnow(), by="ana", source="github")
        wait_status(inv_id, "deployed")
        # When the alarm goes back into ALARM within the window
        aws.client("cloudwatch").set_alarm_state(
            AlarmName=alarm, StateValue="ALARM", StateReason="errors again"
        )
        wait_status(inv_id, "finished")
        wait_for(
            lambda: any(t.startswith("Recurred after") for t in _slack(channels, inv_id)),
            what="the recurrence announced",
        )
    # Then the thread and the issue were told it recurred and is reopened
    (recurred,) = [t for t in _slack(channels, inv_id) if t.startswith("Recurred after")]
    assert recurred.startswith("Recurred after pull request #1: ")
    assert f"the alarm {alarm} went into ALARM" in recurred
    assert recurred.endswith("The investigation is reopened.")
    assert [t for t in _linear(channels) if t.startswith("Recurred after")] == [recurred]
    # And the live view shows the recurrence on its aftercare
    (summary,) = [s for s in investigation_summaries() if s["investigation_id"] == inv_id]
    assert summary["aftercare"]["recurrences"] == 1
    assert "recurred" in statuses_logged(inv_id)
