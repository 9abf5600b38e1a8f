"""How the shared ``fixloop`` Lambda layer is built: locally with pip, no Docker."""

from __future__ import annotations

from layers.bundler import (
    BUNDLER_VERSION,
    PROJECT_ROOT,
    LayerBuildError,
    LayerBundler,
    LayerTarget,
    runtime_requirements,
)

__all__ = [
    "BUNDLER_VERSION",
    "PROJECT_ROOT",
    "LayerBuildError",
    "LayerBundler",
    "LayerTarget",
    "runtime_requirements",
]
