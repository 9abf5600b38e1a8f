"""Signing in on the page with a Cognito user pool's hosted UI, as a deployment's config.js
sets it up: authorization code with PKCE, the ID token on the WebSocket, sign-out at the
hosted UI. The hosted UI, its token endpoint and the WebSocket API are stood in for by
Playwright's routes (the page's code runs unchanged); the page itself comes from the local
server."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlencode, urlsplit

from fixloop.local.live import LiveServer
from tests.browser.conftest import check_accessibility, screenshot

if TYPE_CHECKING:
    from playwright.sync_api import Page, Route, WebSocketRoute

DOMAIN = "auth.example.test"
CLIENT_ID = "web-client-id"
WEBSOCKET = "wss://live.example.test/prod"
CONFIG = {
    "websocketUrl": WEBSOCKET,
    "region": "eu-west-1",
    "userPoolDomain": DOMAIN,
    "userPoolClientId": CLIENT_ID,
    "userPoolId": "eu-west-1_AbCdEf123",
}


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


ID_TOKEN = ".".join(
    _b64url(json.dumps(part).encode())
    for part in ({"alg": "RS256"}, {"email": "ana@example.com", "token_use": "id"}, {"sig": 1})
)


class HostedUI:
    """The hosted UI's endpoints and the WebSocket API, as the page meets them."""

    def __init__(self, page: Page) -> None:
        self.authorize: dict[str, str] = {}
        self.token: dict[str, str] = {}
        self.logout: dict[str, str] = {}
        self.sockets: list[str] = []
        page.route("**/config.js", self._config)
        page.route(f"https://{DOMAIN}/oauth2/authorize?*", self._authorize)
        page.route(f"https://{DOMAIN}/oauth2/token", self._token)
        page.route(f"https://{DOMAIN}/logout?*", self._logout)
        page.route_web_socket(re.compile(re.escape(WEBSOCKET) + r".*"), self._socket)

    @staticmethod
    def _query(url: str) -> dict[str, str]:
        return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}

    def _config(self, route: Route) -> None:
        body = f"window.FIXLOOP_CONFIG = {json.dumps(CONFIG)};"
        route.fulfill(body=body, content_type="text/javascript")

    def _authorize(self, route: Route) -> None:
        """The person signs in; the hosted UI sends them back with a code and the state."""
        self.authorize = self._query(route.request.url)
        back = (
            self.authorize["redirect_uri"]
            + "?"
            + urlencode({"code": "the-code", "state": self.authorize["state"]})
        )
        route.fulfill(
            body=f"<script>location.replace({json.dumps(back)})</script>",
            content_type="text/html",
        )

    def _token(self, route: Route) -> None:
        self.token = {k: v[0] for k, v in parse_qs(route.request.post_data or "").items()}
        answer: dict[str, Any] = {
            "id_token": ID_TOKEN,
            "access_token": "access",
            "refresh_token": "refresh",
            "expires_in": 3600,
            "token_type": "Bearer",
        }
        route.fulfill(
            json=answer,
            headers={"Access-Control-Allow-Origin": "*"},
            content_type="application/json",
        )

    def _logout(self, route: Route) -> None:
        self.logout = self._query(route.request.url)
        route.fulfill(body="<title>Signed out</title><p>Signed out</p>", content_type="text/html")

    def _socket(self, ws: WebSocketRoute) -> None:
        self.sockets.append(ws.url)

        def answer(message: str | bytes) -> None:
            if json.loads(message).get("action") == "subscribe_list":
                ws.send(json.dumps({"kind": "investigations", "items": []}))

        ws.on_message(answer)


def test_sign_in_with_the_hosted_ui_and_pkce(page: Page, live: LiveServer) -> None:
    from playwright.sync_api import expect

    ui = HostedUI(page)
    # Given a deployment's config.js naming a user pool, when a person opens the page
    page.goto(f"{live.url}/")
    # Then it asks them to sign in (and opens nothing without a token)
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    assert ui.sockets == []
    check_accessibility(page, "sign-in")
    screenshot(page, "sign-in")
    # When they sign in
    page.get_by_role("button", name="Sign in").click()
    # Then the page signs them in with the authorization code and PKCE
    expect(page.locator("#user")).to_have_text("ana@example.com")
    assert ui.authorize["response_type"] == "code"
    assert ui.authorize["client_id"] == CLIENT_ID
    assert ui.authorize["redirect_uri"] == f"{live.url}/"
    assert ui.authorize["scope"] == "openid email profile"
    assert ui.authorize["code_challenge_method"] == "S256"
    verifier = ui.token["code_verifier"]
    assert _b64url(hashlib.sha256(verifier.encode()).digest()) == ui.authorize["code_challenge"]
    assert ui.token == {
        "grant_type": "authorization_code",
        "client_id": CLIENT_ID,
        "code": "the-code",
        "redirect_uri": f"{live.url}/",
        "code_verifier": verifier,
    }
    # ... the code leaves the address bar, and the WebSocket API gets the ID token
    assert urlsplit(page.url).query == ""
    expect(page.locator("#connection")).to_have_text("Live")
    assert ui.sockets == [f"{WEBSOCKET}?token={ID_TOKEN}"]
    expect(page.get_by_role("heading", name="Investigations")).to_be_visible()
    # When they sign out, the hosted UI ends the session and sends them back here
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_title("Signed out")
    assert ui.logout == {"client_id": CLIENT_ID, "logout_uri": f"{live.url}/"}


def test_a_sign_in_answer_that_does_not_match_is_refused(page: Page, live: LiveServer) -> None:
    from playwright.sync_api import expect

    ui = HostedUI(page)
    # When the page is opened with a code it did not ask for (no sign-in was started here)
    page.goto(f"{live.url}/?code=stolen&state=guess")
    # Then it exchanges nothing, says why and offers to sign in
    expect(page.locator("#notice")).to_contain_text("the answer did not match the request")
    expect(page.get_by_role("button", name="Sign in")).to_be_visible()
    assert ui.token == {} and ui.sockets == []
    assert urlsplit(page.url).query == ""
