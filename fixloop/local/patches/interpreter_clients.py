"""Gap: the ASL interpreter's own AWS clients miss the server that runs the execution.

``moto.stepfunctions.parser.asl.utils.boto_client.boto_client_for`` builds a new boto3 client
per task (~10 ms each) aimed at ``http://localhost:$MOTO_PORT`` (default 5000), not at the
server executing the state machine, so every Lambda task and service integration fails with a
connection error. It is replaced, in every parser module that bound it by name, by a function
that aims the clients at the endpoint given to :func:`set_internal_endpoint` and caches them
per (endpoint, region, service). Inside ``mock_aws`` (in-process moto) moto's own function is
kept.
"""

from __future__ import annotations

import os
import sys
import threading
from typing import Any

import boto3
from botocore.config import Config

from fixloop.local.patches.internals import Replacement, internal, require

_BOTO_CLIENT = "moto.stepfunctions.parser.asl.utils.boto_client"
_PARSER_PACKAGE = "moto.stepfunctions.parser"
# Modules that bind boto_client_for by name: imported first, so they are rebound too.
_BINDERS = (
    "moto.stepfunctions.parser.asl.component.state.exec.state_task.lambda_eval_utils",
    "moto.stepfunctions.parser.asl.component.state.exec.state_task.service"
    ".state_task_service_factory",
)


class _Clients:
    """The endpoint and the clients built for it, from one session per endpoint."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.endpoint_url: str | None = None
        self.clients: dict[tuple[str, str, str], Any] = {}
        self.session: boto3.session.Session | None = None

    def forget(self) -> None:
        with self.lock:
            self.clients.clear()
            self.session = None  # a new one picks up botocore handlers registered since


_state = _Clients()


def set_internal_endpoint(endpoint_url: str | None) -> None:
    """Point the interpreter's own AWS calls (Lambda, Step Functions, ...) at a server.

    ``None`` restores moto's default, ``http://localhost:$MOTO_PORT``.
    """
    _state.forget()
    _state.endpoint_url = endpoint_url.rstrip("/") if endpoint_url else None


def internal_endpoint() -> str | None:
    return _state.endpoint_url


def forget_clients() -> None:
    """Drop the cached clients (they are rebuilt on next use)."""
    _state.forget()


def replacements() -> list[Replacement]:
    module = internal(_BOTO_CLIENT)
    original = require(module, "boto_client_for", _BOTO_CLIENT)
    stubber = require(module, "botocore_stubber", _BOTO_CLIENT)
    require(stubber, "enabled", f"{_BOTO_CLIENT}.botocore_stubber")
    require(module, "moto_server_port", _BOTO_CLIENT)
    timeouts = require(module, "TimeoutSeconds", _BOTO_CLIENT)
    require(timeouts, "DEFAULT_TIMEOUT_SECONDS", f"{_BOTO_CLIENT}.TimeoutSeconds")
    for name in _BINDERS:
        internal(name)

    def boto_client_for(region: str, service: str, state_credentials: Any = None) -> Any:
        """``boto_client_for``: the interpreter's clients, aimed at our server and cached."""
        if module.botocore_stubber.enabled:
            # Inside mock_aws: moto intercepts in-process, keep its own behaviour.
            return original(region=region, service=service, state_credentials=state_credentials)
        endpoint = _state.endpoint_url or f"http://localhost:{module.moto_server_port()}"
        return _client(endpoint, region, service, module.TimeoutSeconds.DEFAULT_TIMEOUT_SECONDS)

    return [
        Replacement(loaded, "boto_client_for", boto_client_for)
        for name, loaded in list(sys.modules.items())
        if name.startswith(_PARSER_PACKAGE)
        and loaded is not None
        and getattr(loaded, "boto_client_for", None) is original
    ]


def _client(endpoint: str, region: str, service: str, timeout: float) -> Any:
    key = (endpoint, region, service)
    client = _state.clients.get(key)
    if client is not None:
        return client
    with _state.lock:
        client = _state.clients.get(key)
        if client is None:
            if _state.session is None:
                # A private session: the default one is not safe to share across threads. It
                # signs with the run's key (the server answers no other, see run_credential).
                _state.session = boto3.session.Session(
                    aws_access_key_id=os.environ.get("AWS_ACCESS_KEY_ID") or "ak",
                    aws_secret_access_key=os.environ.get("AWS_SECRET_ACCESS_KEY") or "sk",
                )
            client = _state.session.client(
                service_name=service,
                region_name=region,
                endpoint_url=endpoint,
                config=Config(
                    parameter_validation=False,
                    retries={"max_attempts": 0, "total_max_attempts": 1},
                    connect_timeout=timeout,
                    read_timeout=timeout,
                    max_pool_connections=64,
                    proxies={},
                    account_id_endpoint_mode="disabled",
                ),
            )
            _state.clients[key] = client
    return client
