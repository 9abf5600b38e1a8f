"""Signature checks as Slack and Linear document them (pure functions, no AWS)."""

from __future__ import annotations

import hashlib
import hmac
import json
import time

from slack_sdk.signature import SignatureVerifier

from fixloop.channels import linear, slack
from fixloop.channels.github import signature_valid as github_valid

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"  # the example secret of Slack's documentation


def slack_headers(body: bytes, stamp: int, secret: str = SECRET) -> dict[str, str]:
    signature = SignatureVerifier(secret).generate_signature(timestamp=str(stamp), body=body)
    return {"X-Slack-Request-Timestamp": str(stamp), "X-Slack-Signature": str(signature)}


def test_slack_signature_matches_slacks_own_verifier_within_five_minutes() -> None:
    body = b"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&command=%2Fweather"
    now = 1531420618
    assert slack.signature_valid(SECRET, slack_headers(body, now), body, now=now)
    assert slack.signature_valid(SECRET, slack_headers(body, now - 300), body, now=now)
    # stale (a replay), from the future, another secret, a changed body, no headers
    assert not slack.signature_valid(SECRET, slack_headers(body, now - 301), body, now=now)
    assert not slack.signature_valid(SECRET, slack_headers(body, now + 301), body, now=now)
    assert not slack.signature_valid(SECRET, slack_headers(body, now, "x"), body, now=now)
    assert not slack.signature_valid(SECRET, slack_headers(body, now), body + b" ", now=now)
    assert not slack.signature_valid(SECRET, {}, body, now=now)
    assert not slack.signature_valid("", slack_headers(body, now, "x"), body, now=now)


def test_slack_receive_answers_the_challenge_and_hands_events_on() -> None:
    challenge = json.dumps({"type": "url_verification", "challenge": "abc"}).encode()
    stamp = int(time.time())
    answer = slack.receive(SECRET, slack_headers(challenge, stamp), challenge)
    assert (answer.status, answer.body, answer.event) == (200, {"challenge": "abc"}, None)
    event = json.dumps({"type": "event_callback", "event_id": "Ev1", "event": {}}).encode()
    answer = slack.receive(SECRET, slack_headers(event, stamp), event)
    assert answer.status == 200 and answer.event is not None
    not_json = b"nope"
    assert slack.receive(SECRET, slack_headers(not_json, stamp), not_json).status == 400
    assert slack.receive(SECRET, {}, event).status == 401


def test_linear_signature_is_the_hex_hmac_of_the_raw_body_and_must_be_fresh() -> None:
    now = 1_764_158_400.0
    body = json.dumps(
        {"type": "Issue", "action": "update", "webhookTimestamp": int(now * 1000)}
    ).encode()
    good = hmac.new(b"lin-secret", body, hashlib.sha256).hexdigest()
    headers = {"Linear-Signature": good}
    assert linear.handle_webhook("lin-secret", headers, body, now=now).status == 200
    assert linear.handle_webhook("lin-secret", headers, body, now=now + 61).status == 401
    assert linear.handle_webhook("other", headers, body, now=now).status == 401
    assert linear.handle_webhook("lin-secret", {}, body, now=now).status == 401
    unsigned_json = b"{}"
    signed = {"Linear-Signature": hmac.new(b"k", unsigned_json, hashlib.sha256).hexdigest()}
    assert linear.handle_webhook("k", signed, unsigned_json, now=now).status == 400


def test_github_signature_needs_the_sha256_prefix() -> None:
    body = b'{"zen": "hi"}'
    digest = hmac.new(b"s", body, hashlib.sha256).hexdigest()
    assert github_valid("s", body, f"sha256={digest}")
    assert not github_valid("s", body, digest)
    assert not github_valid("s", body, None)
