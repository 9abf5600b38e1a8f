"""Trust: moto's server answers whoever reaches its port, with any credentials or none.

AWS refuses a request that is not signed with a valid key of the account. The embedded
runtime's AWS listens on loopback, where anything running on the machine can reach it: with
moto's default, a process that finds the port could read and write every table of every
investigation. ``moto.moto_server.werkzeug_app.DomainDispatcherApplication.__call__`` is
wrapped so that, once :func:`set_run_credential` names a server's own access key id, a request
signed with another key, or not signed at all, is refused as AWS refuses it (403
``UnrecognizedClientException``, the answer of the JSON APIs to an unknown key;
``InvalidAccessKeyId`` for S3), before moto parses it. The key is
read from the ``Authorization`` header (SigV4 ``Credential=KEY/...``, S3's SigV2 ``AWS
KEY:...``) or, for a pre-signed URL, the ``X-Amz-Credential`` (``AWSAccessKeyId``) query
parameter. moto's own API (``/moto-api/``) is refused
too once the credential is set (the runtime configures the server before).
"""

from __future__ import annotations

import json
import re
import threading
from typing import Any
from urllib.parse import parse_qs

from fixloop.local.patches.internals import Replacement, require_class

__all__ = ["replacements", "set_run_credential"]

_APP = "moto.moto_server.werkzeug_app"
_CREDENTIAL = re.compile(r"Credential=([^,\s]+)")


_expected: dict[int, str] = {}
"""The key each server answers, by the ``id`` of its dispatcher application."""
_lock = threading.Lock()


def set_run_credential(app: Any, access_key_id: str) -> None:
    """Have the server whose dispatcher application is ``app`` refuse every request not
    signed with ``access_key_id`` ("" accepts everything again). Other moto servers of the
    process are not affected."""
    with _lock:
        if access_key_id:
            _expected[id(app)] = access_key_id
        else:
            _expected.pop(id(app), None)


def _scope(environ: dict[str, Any]) -> tuple[str, str]:
    """The access key id and the service of a request's SigV4 credential scope
    (``KEY/date/region/service/aws4_request``), from its header or its pre-signed query."""
    header = str(environ.get("HTTP_AUTHORIZATION", ""))
    query = parse_qs(str(environ.get("QUERY_STRING", "")))
    found = _CREDENTIAL.search(header)
    if found:
        credential = found.group(1)
    elif header.startswith("AWS "):  # Signature Version 2: "AWS KEY:signature" (S3)
        return header[4:].split(":", 1)[0], "s3"
    elif "AWSAccessKeyId" in query:  # a Signature Version 2 pre-signed URL (S3)
        return query["AWSAccessKeyId"][0], "s3"
    else:
        credential = (query.get("X-Amz-Credential") or [""])[0]
    parts = credential.split("/")
    return parts[0], parts[3] if len(parts) > 3 else ""


def _refusal(service: str, start_response: Any) -> list[bytes]:
    if service == "s3":
        start_response("403 Forbidden", [("Content-Type", "application/xml")])
        return [
            b'<?xml version="1.0" encoding="UTF-8"?><Error><Code>InvalidAccessKeyId</Code>'
            b"<Message>The AWS Access Key Id you provided does not exist in our records."
            b"</Message></Error>"
        ]
    start_response(
        "403 Forbidden",
        [
            ("Content-Type", "application/x-amz-json-1.0"),
            ("x-amzn-ErrorType", "UnrecognizedClientException"),
        ],
    )
    message = "The security token included in the request is invalid."
    return [json.dumps({"__type": "UnrecognizedClientException", "message": message}).encode()]


def replacements() -> list[Replacement]:
    dispatcher = require_class(_APP, "DomainDispatcherApplication", "__call__")
    original = dispatcher.__call__

    def call(self: Any, environ: dict[str, Any], start_response: Any) -> Any:
        expected = _expected.get(id(self))
        if expected:
            key, service = _scope(environ)
            if key != expected:
                return _refusal(service, start_response)
        return original(self, environ, start_response)

    return [Replacement(dispatcher, "__call__", call)]
