"""Verification: after the window, did the problem stay away?

Two readings, each where it applies:

- the problem's occurrences: its Fingerprints record (the one triage counts every occurrence
  on) last seen after the deployment means it recurred;
- an alarm signal's alarm: its state history since the deployment (``DescribeAlarmHistory``,
  ``StateUpdate`` items) and its state now (``DescribeAlarms``). Into ``ALARM`` after the
  deployment, or in ``ALARM`` now, means it recurred; back to ``OK`` and staying there means
  it held.

A reading that cannot be made (no fingerprint, the alarm not readable) is said in the
evidence; with neither, the fix is verified by the absence of any new signal, and says so.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from fixloop.domain import Investigation, Signal
from fixloop.errors import ToolFailed
from fixloop.store import stores
from fixloop.tools.telemetry.common import call_aws, iso, utc

__all__ = ["Verdict", "verify"]


@dataclass(frozen=True)
class Verdict:
    held: bool
    evidence: str


def verify(inv: Investigation, signal: Signal, since: datetime) -> Verdict:
    """Whether the fix held from ``since`` (its deployment) until now."""
    since = utc(since)
    notes: list[str] = []
    if inv.fingerprint:
        record = stores().fingerprints.get(inv.fingerprint)
        if (
            record is not None
            and record.investigation_id == inv.investigation_id
            and utc(record.last_seen) > since
        ):
            return Verdict(
                False,
                f"the problem was seen again at {iso(record.last_seen)}, after the deployment "
                f"at {iso(since)} ({record.occurrences} occurrences in all)",
            )
        notes.append(f"no occurrence of the problem since the deployment at {iso(since)}")
    else:
        notes.append("its occurrences are not counted (it was not opened by triage)")
    if signal.kind == "alarm":
        try:
            verdict = _alarm(signal.source, since)
        except ToolFailed as exc:
            notes.append(f"the alarm {signal.source} could not be read ({exc})")
        else:
            if not verdict.held:
                return verdict
            notes.append(verdict.evidence)
    return Verdict(True, "; ".join(notes))


def _alarm(name: str, since: datetime) -> Verdict:
    items = call_aws(
        "cloudwatch",
        "describe_alarm_history",
        AlarmName=name,
        HistoryItemType="StateUpdate",
        StartDate=since,
        MaxRecords=100,
    ).get("AlarmHistoryItems", [])
    alarmed = [i for i in items if _new_state(i) == "ALARM"]
    if alarmed:
        at = min(utc(i["Timestamp"]) for i in alarmed)
        return Verdict(False, f"the alarm {name} went into ALARM at {iso(at)}, after the fix")
    alarms = call_aws("cloudwatch", "describe_alarms", AlarmNames=[name])
    found = [*alarms.get("MetricAlarms", []), *alarms.get("CompositeAlarms", [])]
    if not found:
        raise ToolFailed("no such alarm")
    state = str(found[0].get("StateValue") or "")
    if state == "ALARM":
        return Verdict(False, f"the alarm {name} is in ALARM")
    oks = [utc(i["Timestamp"]) for i in items if _new_state(i) == "OK"]
    if state == "OK":
        back = f" since {iso(max(oks))}" if oks else ""
        return Verdict(True, f"the alarm {name} is OK{back} and stayed there")
    return Verdict(True, f"the alarm {name} is {state or 'unknown'}: no ALARM since the fix")


def _new_state(item: dict[str, object]) -> str:
    try:
        data = json.loads(str(item.get("HistoryData") or "{}"))
        return str(data["newState"]["stateValue"])
    except (ValueError, KeyError, TypeError):
        summary = str(item.get("HistorySummary") or "")
        return summary.rsplit(" to ", 1)[-1] if " to " in summary else ""
