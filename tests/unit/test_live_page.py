"""What the live view page is given by whoever serves it (fixloop/live/page.py)."""

from __future__ import annotations

import json

from fixloop.live.page import CONFIG_KEYS, CONFIG_VARIABLE, PageConfig, content_security_policy


def _settings(script: str) -> dict[str, object]:
    head, body = script.split(f"{CONFIG_VARIABLE} = ", 1)
    assert head.startswith("//")
    settings: dict[str, object] = json.loads(body.rstrip().removesuffix(";"))
    return settings


def test_an_empty_config_keeps_every_local_default() -> None:
    # Given / When the script of a config with nothing set
    settings = _settings(PageConfig().script())

    # Then every documented key is there, null
    assert tuple(settings) == CONFIG_KEYS
    assert set(settings.values()) == {None}


def test_a_deployed_config_names_its_values_in_camel_case() -> None:
    # Given a config as a deployment fills it
    config = PageConfig(
        websocket_url="wss://abc.execute-api.eu-west-1.amazonaws.com/live",
        region="eu-west-1",
        user_pool_id="eu-west-1_AbC",
        user_pool_client_id="client",
        user_pool_domain="https://fixloop-0123.auth.eu-west-1.amazoncognito.com",
        oauth_scopes=("openid", "email"),
        redirect_uri="https://d111.cloudfront.net/",
    )

    # When its script is read back
    settings = _settings(config.script())

    # Then each value is under its config.js name, the scopes a list
    assert settings["websocketUrl"] == "wss://abc.execute-api.eu-west-1.amazonaws.com/live"
    assert settings["userPoolClientId"] == "client"
    assert settings["userPoolDomain"] == "https://fixloop-0123.auth.eu-west-1.amazoncognito.com"
    assert settings["oauthScopes"] == ["openid", "email"]
    assert settings["redirectUri"] == "https://d111.cloudfront.net/"
    assert settings["restUrl"] is None


def test_content_security_policy_connects_to_the_given_origins_only() -> None:
    # Given / When the policy for one WebSocket API and a sign-in domain
    policy = content_security_policy(
        [
            "wss://abc.execute-api.eu-west-1.amazonaws.com",
            "https://x.auth.eu-west-1.amazoncognito.com",
        ]
    )
    directives = dict(d.split(" ", 1) for d in policy.split("; "))

    # Then scripts and styles are the page's own, nothing inline or evaluated
    assert directives["script-src"] == "'self'"
    assert directives["style-src"] == "'self'"
    assert directives["default-src"] == "'none'"
    assert "unsafe" not in policy
    # And it connects to its origin and those two, nothing else
    assert directives["connect-src"] == (
        "'self' wss://abc.execute-api.eu-west-1.amazonaws.com "
        "https://x.auth.eu-west-1.amazoncognito.com"
    )
