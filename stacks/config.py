"""Deployment settings read from CDK context (``cdk.json`` or ``cdk synth -c key=value``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from constructs import Node

__all__ = [
    "CONTEXT_ANTHROPIC_SECRET_NAME",
    "CONTEXT_LAYER_ASSET_DIR",
    "CONTEXT_MODEL",
    "CONTEXT_STATE_MACHINE_NAME",
    "FixloopConfig",
]

CONTEXT_MODEL = "fixloop:model"
"""Default model spec of new investigations (``FIXLOOP_MODEL``): bedrock[:ID], anthropic[:ID]."""
CONTEXT_ANTHROPIC_SECRET_NAME = "fixloop:anthropic_secret_name"
"""Name of a Secrets Manager secret holding an Anthropic API key; empty: none."""
CONTEXT_LAYER_ASSET_DIR = "fixloop:layer_asset_dir"
"""A prebuilt layer directory (with ``python/`` inside) used instead of bundling with pip."""
CONTEXT_STATE_MACHINE_NAME = "fixloop:state_machine_name"
"""Physical name of the investigation state machine (one per account and region)."""


@dataclass(frozen=True)
class FixloopConfig:
    model: str = "bedrock"
    anthropic_secret_name: str | None = None
    layer_asset_dir: str | None = None
    state_machine_name: str = "fixloop-investigation"

    @classmethod
    def from_context(cls, node: Node) -> FixloopConfig:
        defaults = cls()
        return cls(
            model=_string(node, CONTEXT_MODEL) or defaults.model,
            anthropic_secret_name=_string(node, CONTEXT_ANTHROPIC_SECRET_NAME),
            layer_asset_dir=_string(node, CONTEXT_LAYER_ASSET_DIR),
            state_machine_name=(
                _string(node, CONTEXT_STATE_MACHINE_NAME) or defaults.state_machine_name
            ),
        )


def _string(node: Node, key: str) -> str | None:
    """A context value as a non-empty string, or None when unset or empty."""
    value = node.try_get_context(key)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise TypeError(f"context {key!r} must be a string, got {value!r}")
    return value
