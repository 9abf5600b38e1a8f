"""patches.alarm_history: CloudWatch DescribeAlarmHistory answers from moto's state changes."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from tests.integration.patches.harness import PREFIX, Moto
from tests.support import put_alarm


def test_state_changes_come_back_newest_first_as_aws_shapes_them(moto: Moto) -> None:
    # Given an alarm that went OK -> ALARM -> OK
    cw = moto.client("cloudwatch")
    name = f"{PREFIX}-history"
    put_alarm(cw, name, namespace="svc")
    before = datetime.now(UTC) - timedelta(seconds=1)
    cw.set_alarm_state(AlarmName=name, StateValue="ALARM", StateReason="errors")
    cw.set_alarm_state(AlarmName=name, StateValue="OK", StateReason="quiet")
    # When its history is read
    items = cw.describe_alarm_history(AlarmName=name, HistoryItemType="StateUpdate")[
        "AlarmHistoryItems"
    ]
    # Then each change is an item, newest first, with its old and new state
    assert [i["HistorySummary"] for i in items] == [
        "Alarm updated from ALARM to OK",
        "Alarm updated from OK to ALARM",
    ]
    assert all(i["AlarmName"] == name and i["Timestamp"] >= before for i in items)
    data = json.loads(items[0]["HistoryData"])
    assert data["oldState"]["stateValue"] == "ALARM" and data["newState"]["stateValue"] == "OK"
    # And StartDate, MaxRecords and another item type filter it
    later = cw.describe_alarm_history(AlarmName=name, StartDate=datetime.now(UTC) + timedelta(1))
    assert later["AlarmHistoryItems"] == []
    one = cw.describe_alarm_history(AlarmName=name, MaxRecords=1)["AlarmHistoryItems"]
    assert [i["HistorySummary"] for i in one] == ["Alarm updated from ALARM to OK"]
    actions = cw.describe_alarm_history(AlarmName=name, HistoryItemType="Action")
    assert actions["AlarmHistoryItems"] == []
