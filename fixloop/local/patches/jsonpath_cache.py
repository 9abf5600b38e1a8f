"""Speed: moto's interpreter builds a JSONPath parser for every path it evaluates.

``extract_json`` (``moto.stepfunctions.parser.asl.utils.json_path``) and ``ResultPath``
(``...component.common.path.result_path``) call jsonpath_ng's ``parse`` each time a state
reads ``$.x`` or ``$$.Map.Item.Value``, and each call constructs a PLY parser: about a third
of the interpreter's time per state. Parsed paths are immutable (jsonpath_ng sets a node's
fields only in ``__init__``), so each module's ``parse`` is replaced by a cached one.
"""

from __future__ import annotations

import functools

from fixloop.local.patches.internals import Replacement, internal, require

_USERS = (
    "moto.stepfunctions.parser.asl.utils.json_path",
    "moto.stepfunctions.parser.asl.component.common.path.result_path",
)
CACHE_SIZE = 4096
"""Distinct paths kept; a state machine has a few dozen."""


def replacements() -> list[Replacement]:
    found = []
    for name in _USERS:
        module = internal(name)
        original = require(module, "parse", name)
        found.append(
            Replacement(module, "parse", functools.lru_cache(maxsize=CACHE_SIZE)(original))
        )
    return found
