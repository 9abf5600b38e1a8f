"""Gap: moto 5.2.5 has no CloudWatch ``DescribeAlarmHistory`` (it answers 500,
``NotImplementedError``), though each alarm keeps its state changes: ``Alarm.update_state``
appends the state it leaves (name, reason, data, value, since when) to ``Alarm.history``.

The action is added, answering from that history as AWS does for ``StateUpdate`` items:
newest first, ``HistorySummary`` "Alarm updated from OK to ALARM", ``HistoryData`` a JSON
document with ``oldState`` and ``newState`` (``stateValue``, ``stateReason``), filtered by
``AlarmName``, ``HistoryItemType``, ``StartDate``/``EndDate`` and cut at ``MaxRecords``
(default 100). fixloop's aftercare reads it to verify a fix (fixloop.aftercare.verification).
Configuration updates and actions are not recorded by moto, so only ``StateUpdate`` items
exist.
"""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime
from typing import Any, Final

from fixloop.local.patches.internals import Replacement, internal, require_class

_RESPONSES: Final = "moto.cloudwatch.responses"
_MODELS: Final = "moto.cloudwatch.models"
_CORE: Final = "moto.core.responses"
_DEFAULT_RECORDS: Final = 100


def replacements() -> list[Replacement]:
    response = require_class(_RESPONSES, "CloudWatchResponse", "describe_alarms")
    require_class(_MODELS, "Alarm", "update_state")
    require_class(_CORE, "ActionResult")
    return [Replacement(response, "describe_alarm_history", _describe_alarm_history)]


def _describe_alarm_history(self: Any) -> Any:
    """``CloudWatchResponse.describe_alarm_history``."""
    name = self._get_param("AlarmName")
    kind = self._get_param("HistoryItemType")
    start = _time(self._get_param("StartDate"))
    end = _time(self._get_param("EndDate"))
    limit = int(self._get_param("MaxRecords") or _DEFAULT_RECORDS)
    alarms = self.cloudwatch_backend.describe_alarms()
    items: list[dict[str, Any]] = []
    if kind in (None, "", "StateUpdate"):
        for alarm in alarms:
            if name and alarm.name != name:
                continue
            items += _state_updates(alarm)
    items = [
        i
        for i in items
        if (start is None or i["Timestamp"] >= start) and (end is None or i["Timestamp"] <= end)
    ]
    items.sort(key=lambda i: i["Timestamp"], reverse=True)
    return internal(_CORE).ActionResult({"AlarmHistoryItems": items[:limit]})


def _state_updates(alarm: Any) -> list[dict[str, Any]]:
    """One item per change: each history entry is a state left, the next entry (or the
    alarm's current state) the state entered, at that one's time."""
    states = [(value, reason, _aware(at)) for _k, reason, _d, value, at in alarm.history]
    states.append((alarm.state_value, alarm.state_reason, _aware(alarm.state_updated_timestamp)))
    items = []
    for (old, old_reason, _), (new, new_reason, at) in itertools.pairwise(states):
        data = {
            "version": "1.0",
            "oldState": {"stateValue": old, "stateReason": old_reason},
            "newState": {"stateValue": new, "stateReason": new_reason},
        }
        items.append(
            {
                "AlarmName": alarm.name,
                "AlarmType": "CompositeAlarm" if alarm.rule else "MetricAlarm",
                "Timestamp": at,
                "HistoryItemType": "StateUpdate",
                "HistorySummary": f"Alarm updated from {old} to {new}",
                "HistoryData": json.dumps(data),
            }
        )
    return items


def _aware(at: datetime) -> datetime:
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def _time(value: Any) -> datetime | None:
    if value in (None, ""):
        return None
    if isinstance(value, datetime):
        return _aware(value)
    text = str(value)
    try:
        return datetime.fromtimestamp(float(text), UTC)
    except ValueError:
        return _aware(datetime.fromisoformat(text.replace("Z", "+00:00")))
