"""The Bedrock model fixloop uses when none is named: an inference profile of the region.

Anthropic's current models on Amazon Bedrock are invoked through cross-Region inference
profiles, whose id is the model id with a scope in front: ``global.`` (any commercial Region
may serve the request), or a geography (``us.``, ``eu.``, ``apac.``, ``jp.``, ``au.``...: Regions
of that geography only). A profile can be called only from its own source Regions, so a
default with one geography (``us.``) fails everywhere else.

The default is the model's global profile: every commercial Region that offers the model is
one of its source Regions, and AWS prices it about 10% below the geographic profiles
(docs.aws.amazon.com/bedrock/latest/userguide/global-cross-region-inference.html). AWS
GovCloud (US) has no global profile: there it is the ``us-gov.`` one. A deployment that must
keep inference in one geography names that profile (``bedrock:eu.anthropic.claude-sonnet-5``,
docs/deploying.md).
"""

from __future__ import annotations

__all__ = ["BEDROCK_BASE_MODEL", "DEFAULT_BEDROCK_MODEL", "default_bedrock_model"]

BEDROCK_BASE_MODEL = "anthropic.claude-sonnet-5"
"""The Bedrock model id of the default model, without an inference profile's scope."""

_SCOPE_OF_REGION_PREFIX = {"us-gov-": "us-gov"}
"""Regions whose partition has no global profile, and the profile scope there."""
_GLOBAL = "global"


def default_bedrock_model(region: str | None) -> str:
    """The default model id for requests from ``region`` (the global profile if unknown)."""
    scope = next(
        (s for prefix, s in _SCOPE_OF_REGION_PREFIX.items() if (region or "").startswith(prefix)),
        _GLOBAL,
    )
    return f"{scope}.{BEDROCK_BASE_MODEL}"


DEFAULT_BEDROCK_MODEL = default_bedrock_model(None)
"""The default in the commercial Regions: the model's global inference profile."""
