"""What the live view page (web/) needs from whoever serves it: its ``config.js`` and its
Content-Security-Policy.

``config.js`` sets ``window.FIXLOOP_CONFIG`` before the page's own scripts run; its keys are
:data:`CONFIG_KEYS` (docs/architecture.md, "The web view", says what each means). A key left
``null`` keeps the page's local behaviour: no ``websocketUrl`` is the page's own server at
``/ws``, no ``userPoolDomain`` is the local token instead of a Cognito sign-in. The CDK stack
writes it with deploy-time values (stacks/constructs/live_view.py); the values may be CDK
tokens, which are placed in the text as they are and resolved at deployment, so they must be
values JSON needs no escape for (URLs, ids, a region).

The policy allows the page's own files and nothing inline or evaluated, and connects only to
its own origin and the origins it is given (the WebSocket, REST and MCP APIs, the user pool's
sign-in domain).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, fields

__all__ = ["CONFIG_KEYS", "CONFIG_VARIABLE", "PageConfig", "content_security_policy"]

CONFIG_VARIABLE = "window.FIXLOOP_CONFIG"


@dataclass(frozen=True)
class PageConfig:
    """The page's settings; ``None``: the page's local default."""

    websocket_url: str | None = None
    """The WebSocket API's stage URL (``wss://{api}.execute-api.{region}.amazonaws.com/live``)."""
    rest_url: str | None = None
    """The REST API's root (``https://{api}.execute-api.{region}.amazonaws.com/prod/``)."""
    mcp_url: str | None = None
    """The MCP endpoint (``https://{api}.execute-api.{region}.amazonaws.com/mcp``)."""
    region: str | None = None
    user_pool_id: str | None = None
    user_pool_client_id: str | None = None
    """The app client the page signs in with (authorization code grant, PKCE, no secret)."""
    user_pool_domain: str | None = None
    """The user pool's hosted UI (``https://{prefix}.auth.{region}.amazoncognito.com``): its
    ``/oauth2/authorize``, ``/oauth2/token`` and ``/logout`` endpoints."""
    oauth_scopes: tuple[str, ...] | None = None
    """The scopes the page asks for: those the app client allows."""
    redirect_uri: str | None = None
    """Where the hosted UI sends people back after signing in and out: the page's own URL,
    registered as the app client's callback and sign-out URL."""

    def as_json(self) -> dict[str, object]:
        """The settings under their ``config.js`` names (camelCase)."""
        settings: dict[str, object] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            settings[_camel(f.name)] = list(value) if isinstance(value, tuple) else value
        return settings

    def script(self) -> str:
        """The text of ``config.js``."""
        body = json.dumps(self.as_json(), indent=2)
        return (
            "// Written at deployment: where the live API is and how to sign in.\n"
            f"{CONFIG_VARIABLE} = {body};\n"
        )


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


CONFIG_KEYS = tuple(_camel(f.name) for f in fields(PageConfig))
"""The keys of ``window.FIXLOOP_CONFIG``, in order."""


def content_security_policy(connect: Sequence[str]) -> str:
    """The page's policy: scripts, styles, images and fonts from its own origin only (no
    inline script or style, no ``eval``), connections to its origin and ``connect`` (origins
    such as ``wss://abc.execute-api.eu-west-1.amazonaws.com``), no plugins, no ``<base>``,
    forms posted to itself only, never framed."""
    directives = {
        "default-src": ["'none'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'", *connect],
        "manifest-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
    return "; ".join(f"{name} {' '.join(sources)}" for name, sources in directives.items())
