"""Build a :class:`~fixloop.llm.protocol.Model` from a one-string spec.

Specs (the ``--model`` option, the ``FIXLOOP_MODEL`` setting)::

    scripted:PATH          replay a script of assistant turns (tests, offline demo)
    anthropic[:MODEL_ID]   the Anthropic API; key from ANTHROPIC_API_KEY or Secrets Manager
    bedrock[:MODEL_ID]     Amazon Bedrock; IAM credentials from the default chain; no id:
                           the region's inference profile (fixloop.llm.bedrock)

API-backed models are cached per spec, so a warm Lambda reuses its client (and its connection
pool). A scripted model is parsed once per version of its file (path, modification time and
size, checked with a ``stat`` on every call), so an edited script takes effect and an unchanged
one is not read and checked again every turn.
"""

from __future__ import annotations

import json
import os
import threading
from collections import OrderedDict

from fixloop.errors import BadInputError, ConfigError
from fixloop.llm.protocol import Model
from fixloop.llm.scripted import ScriptedModel

__all__ = ["API_KEY_ENV", "SECRET_ARN_ENV", "clear_model_cache", "model_from_spec"]

API_KEY_ENV = "ANTHROPIC_API_KEY"
SECRET_ARN_ENV = "FIXLOOP_ANTHROPIC_SECRET_ARN"

_SPEC_FORMS = "scripted:PATH, anthropic, anthropic:MODEL_ID, bedrock or bedrock:MODEL_ID"

_cache: dict[str, Model] = {}
_lock = threading.Lock()

_SCRIPTS_KEPT = 16
_ScriptKey = tuple[str, frozenset[str] | None]
_scripts: OrderedDict[_ScriptKey, tuple[tuple[int, int], ScriptedModel]] = OrderedDict()
"""(path, known tools) -> ((mtime_ns, size) of the file when parsed, the model); the least
recently used goes first."""


def model_from_spec(spec: str, *, known_tools: set[str] | None = None) -> Model:
    """The model a spec names; :class:`~fixloop.errors.BadInputError` for an unknown spec.

    ``known_tools`` applies to scripted models: a script calling another tool is refused.
    Missing credentials raise :class:`~fixloop.errors.ConfigError`.
    """
    provider, sep, rest = spec.strip().partition(":")
    if provider == "scripted" and rest:
        return _scripted(rest, known_tools)
    if provider not in ("anthropic", "bedrock") or (sep and not rest):
        raise BadInputError(f"unknown model spec {spec!r}; expected {_SPEC_FORMS}")

    # Imported here: the SDK takes about a second to import, which scripted runs need not pay.
    from fixloop.llm.anthropic import DEFAULT_ANTHROPIC_MODEL, anthropic_model, bedrock_model

    key = f"{provider}:{rest}"
    with _lock:
        model = _cache.get(key)
        if model is None:
            if provider == "anthropic":
                model = anthropic_model(rest or DEFAULT_ANTHROPIC_MODEL, api_key=_api_key())
            else:
                # No id: the inference profile of the client's region.
                model = bedrock_model(rest or None)
            _cache[key] = model
    return model


def clear_model_cache() -> None:
    """Forget every cached model and close its client (tests; a rotated API key).

    Models handed out before keep their closed clients: ask :func:`model_from_spec` again.
    """
    with _lock:
        models = list(_cache.values())
        _cache.clear()
        _scripts.clear()
    for model in models:
        close = getattr(model, "close", None)
        if callable(close):
            close()


def _scripted(path: str, known_tools: set[str] | None) -> ScriptedModel:
    """The script at ``path``, parsed again only when its file changed."""
    try:
        stat = os.stat(path)
    except OSError:
        return ScriptedModel.from_file(path, known_tools=known_tools)  # says why it cannot
    key = (path, frozenset(known_tools) if known_tools is not None else None)
    version = (stat.st_mtime_ns, stat.st_size)
    with _lock:
        kept = _scripts.get(key)
        if kept is not None and kept[0] == version:
            _scripts.move_to_end(key)
            return kept[1]
    model = ScriptedModel.from_file(path, known_tools=known_tools)
    with _lock:
        _scripts[key] = (version, model)
        _scripts.move_to_end(key)
        while len(_scripts) > _SCRIPTS_KEPT:
            _scripts.popitem(last=False)
    return model


def _api_key() -> str:
    """The Anthropic API key: ANTHROPIC_API_KEY, else the secret FIXLOOP_ANTHROPIC_SECRET_ARN."""
    key = os.environ.get(API_KEY_ENV, "").strip()
    if key:
        return key
    arn = os.environ.get(SECRET_ARN_ENV, "").strip()
    if not arn:
        raise ConfigError(
            f"no Anthropic API key: set {API_KEY_ENV}, or {SECRET_ARN_ENV} to the ARN of a "
            "Secrets Manager secret holding it"
        )
    return _key_from_secret(arn)


def _key_from_secret(arn: str) -> str:
    """Read the key from a secret whose string is the raw key or ``{"api_key": ...}``."""
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        secret = boto3.client("secretsmanager").get_secret_value(SecretId=arn)
    except (BotoCoreError, ClientError) as exc:
        raise ConfigError(f"cannot read the Anthropic API key from secret {arn}: {exc}") from exc
    text = str(secret.get("SecretString") or "").strip()
    if text.startswith("{"):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"secret {arn} looks like JSON but does not parse") from exc
        text = str(data.get("api_key") or "").strip() if isinstance(data, dict) else ""
    if not text:
        raise ConfigError(
            f'secret {arn} holds no Anthropic API key (expected the key or {{"api_key": ...}})'
        )
    return text
