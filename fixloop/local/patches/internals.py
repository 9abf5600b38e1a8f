"""Finding moto's internals: the pinned version, and lookups that fail loudly.

Every patch reaches into moto 5.2.5's private modules. Each one looks up what it replaces
through :func:`internal` and :func:`require`, which raise ``RuntimeError`` naming the missing
module or attribute, so an upgrade that moves something fails at :func:`~fixloop.local.patches
.install` instead of misbehaving later.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from types import ModuleType
from typing import Any, Final

MOTO_VERSION: Final = "5.2.5"


@dataclass(frozen=True)
class Replacement:
    """``setattr(owner, name, new)``, undone by putting the original back."""

    owner: Any
    name: str
    new: Any


def assert_moto_version() -> None:
    """Raise ``RuntimeError`` unless the installed moto is exactly the pinned version."""
    try:
        import moto
    except ImportError as exc:  # pragma: no cover - moto is a local-only extra
        raise RuntimeError(
            f"fixloop.local needs moto=={MOTO_VERSION} (pip install 'fixloop[local]')"
        ) from exc
    version = getattr(moto, "__version__", None)
    if version != MOTO_VERSION:
        raise RuntimeError(
            f"fixloop.local.patches targets moto=={MOTO_VERSION} internals, found moto "
            f"{version!r}: re-check every patch in that package against the new version, then "
            "update the pin"
        )


def internal(name: str) -> ModuleType:
    """Import moto's module ``name``, or raise ``RuntimeError`` naming it."""
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        raise RuntimeError(
            f"moto internals changed: cannot import {name} (patches target moto=={MOTO_VERSION})"
        ) from exc


def require(owner: Any, attribute: str, where: str) -> Any:
    """``owner.attribute``, or raise ``RuntimeError`` naming ``where.attribute``."""
    if not hasattr(owner, attribute):
        raise RuntimeError(
            f"moto internals changed: {where}.{attribute} is missing "
            f"(fixloop.local.patches targets moto=={MOTO_VERSION})"
        )
    return getattr(owner, attribute)


def require_class(module_name: str, class_name: str, *methods: str) -> Any:
    """Class ``class_name`` of moto's module ``module_name``, checked to have ``methods``."""
    cls = require(internal(module_name), class_name, module_name)
    for method in methods:
        require(cls, method, f"{module_name}.{class_name}")
    return cls
