"""The CDK feature flags fixloop's stack depends on, set on the stack itself.

A flag in ``cdk.json`` reaches only apps the CDK CLI runs (it passes the file's context);
``make synth``, the Marketplace package (stacks/marketplace.py) and the tests build their own
``App``. So :class:`~stacks.fixloop_stack.FixloopStack` sets these on its own node before it
adds anything, and every app that builds it gets them; ``cdk.json`` repeats them for the CLI
(``cdk flags``), and a test keeps the two equal.
"""

from __future__ import annotations

from constructs import Node

__all__ = ["FEATURE_FLAGS", "RECOGNIZE_LAYER_VERSION", "apply_feature_flags"]

RECOGNIZE_LAYER_VERSION = "@aws-cdk/aws-lambda:recognizeLayerVersion"
"""A change of a function's layer alone publishes a new version of the function. Without it
(CDK v2's default), a deployment that changes only the shared layer (the fixloop package or
a dependency) updates ``$LATEST`` but keeps the published versions the state machine names:
new executions would keep running the old code."""

FEATURE_FLAGS: dict[str, bool] = {RECOGNIZE_LAYER_VERSION: True}


def apply_feature_flags(node: Node) -> None:
    """Set :data:`FEATURE_FLAGS` on ``node`` (which must have no children yet)."""
    for flag, value in FEATURE_FLAGS.items():
        node.set_context(flag, value)
