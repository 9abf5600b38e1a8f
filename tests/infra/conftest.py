"""Fixtures of the infrastructure tests: the real app, synthesized once per test process.

One session-scoped synth of the whole app (with a prebuilt stand-in layer, so pip does not run
for every test) backs most tests, whichever file they are in; a test that needs other context
synthesizes its own app. ``test_real_layer_bundler`` runs the real local bundler once. The
sandbox image is only staged at synth (its build context copied), never built: no Docker.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

# Node 20 is past end of life; jsii prints a banner on every start unless silenced. Must be
# set before aws_cdk starts its jsii runtime (at import).
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Template

from app import build_app
from stacks import FixloopStack
from stacks.config import (
    CONTEXT_ANTHROPIC_SECRET_NAME,
    CONTEXT_GITHUB_SECRET_NAME,
    CONTEXT_LAYER_ASSET_DIR,
)
from tests.infra.support import GITHUB_SECRET_NAME, SECRET_NAME


@pytest.fixture(scope="session")
def prebuilt_layer(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A stand-in for the built layer: the real one is exercised once, in its own test."""
    root = tmp_path_factory.mktemp("layer")
    (root / "python" / "fixloop").mkdir(parents=True)
    (root / "python" / "fixloop" / "__init__.py").write_text("")
    return root


@pytest.fixture(scope="session")
def app(tmp_path_factory: pytest.TempPathFactory, prebuilt_layer: Path) -> cdk.App:
    """The real app (with cdk-nag registered), an Anthropic and a GitHub secret configured."""
    return build_app(
        cdk.App(
            outdir=str(tmp_path_factory.mktemp("cdk.out")),
            context={
                CONTEXT_LAYER_ASSET_DIR: str(prebuilt_layer),
                CONTEXT_ANTHROPIC_SECRET_NAME: SECRET_NAME,
                CONTEXT_GITHUB_SECRET_NAME: GITHUB_SECRET_NAME,
            },
        )
    )


@pytest.fixture(scope="session")
def stack(app: cdk.App) -> FixloopStack:
    child = app.node.find_child("Fixloop")
    assert isinstance(child, FixloopStack)
    return child


@pytest.fixture(scope="session")
def template_json(app: cdk.App) -> dict[str, Any]:
    # app.synth() also runs the cdk-nag plugin: an unacknowledged finding fails here.
    started = time.perf_counter()
    assembly = app.synth()
    print(f"\nsynth of the app: {time.perf_counter() - started:.1f} s")
    template: dict[str, Any] = assembly.get_stack_by_name("Fixloop").template
    return template


@pytest.fixture(scope="session")
def template(template_json: dict[str, Any]) -> Template:
    return Template.from_json(template_json)
