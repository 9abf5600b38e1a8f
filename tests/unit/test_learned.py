"""What a channel learns from its credentials is kept an hour per process: asked once, asked
again when it expires, never kept when the lookup failed."""

from __future__ import annotations

import pytest

from fixloop.channels.learned import LEARNED_SECONDS, Learned, credential_key
from fixloop.errors import TransientError


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_an_answer_is_kept_until_it_expires() -> None:
    # Given an answer learned at t=1000
    clock, asked = Clock(), []
    learned: Learned[str] = Learned(clock=clock)

    def learn() -> str:
        asked.append(clock.now)
        return f"T{len(asked)}"

    key = credential_key("https://slack.com/api/", "xoxb-1")
    assert learned.get(key, learn) == "T1"
    # When it is asked for again within the hour, and after it
    clock.now += LEARNED_SECONDS - 1
    kept = learned.get(key, learn)
    clock.now += 1
    renewed = learned.get(key, learn)
    # Then the platform was asked at the start and once the hour had passed
    assert (kept, renewed) == ("T1", "T2")
    assert asked == [1000.0, 1000.0 + LEARNED_SECONDS]


def test_a_failed_lookup_is_not_kept_and_credentials_have_their_own_answers() -> None:
    learned: Learned[str] = Learned(clock=Clock())

    def down() -> str:
        raise TransientError("Slack auth.test failed (service_unavailable)")

    one, other = credential_key("u", "xoxb-1"), credential_key("u", "xoxb-2")
    with pytest.raises(TransientError):
        learned.get(one, down)
    assert learned.get(one, lambda: "T1") == "T1"  # asked again: the failure was not kept
    assert learned.get(other, lambda: "T2") == "T2"
    assert learned.get(one, down) == "T1"
    # the key is a digest: the credential is not kept in it
    assert "xoxb" not in one and one != credential_key("u", "xoxb-1", "")
