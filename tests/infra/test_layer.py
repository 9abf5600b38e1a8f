"""The shared Lambda layer (stacks/constructs/layer.py, layers/bundler.py)."""

from __future__ import annotations

import re
import time
from pathlib import Path

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Template

from layers.bundler import LayerBundler, LayerTarget, runtime_requirements
from stacks.constructs.layer import SharedLayer


def test_layer_requirements_are_the_runtime_dependencies_only() -> None:
    # Given pyproject.toml
    # When the layer's requirement list is computed
    names = {re.split(r"[\[=<>!~ ;]", r, maxsplit=1)[0].lower() for r in runtime_requirements()}

    # Then it holds the runtime dependencies and none of the optional extras
    assert {"anthropic", "aws-lambda-powertools", "pydantic"} <= names
    assert not names & {"moto", "aws-cdk-lib", "cdk-nag", "pytest", "cfn-lint", "ruff"}


def test_layer_fingerprint_follows_the_target() -> None:
    # Given bundlers for two architectures / When fingerprinted / Then they differ
    arm = LayerBundler(target=LayerTarget(architecture="arm64"))
    x86 = LayerBundler(target=LayerTarget(architecture="x86_64"))
    assert arm.fingerprint() == arm.fingerprint()
    assert arm.fingerprint() != x86.fingerprint()


@pytest.mark.slow
def test_real_layer_bundler(tmp_path: Path) -> None:
    # Given a stack for the shared layer alone
    app = cdk.App(outdir=str(tmp_path / "cdk.out"))
    stack = cdk.Stack(app, "LayerOnly")

    # When the layer is defined with the real local bundler (pip, no Docker; CDK stages,
    # and so bundles, assets as they are defined) and the app is synthesized
    started = time.perf_counter()
    SharedLayer(stack, "SharedLayer")
    app.synth()
    print(f"\nreal layer bundling + synth: {time.perf_counter() - started:.1f} s")

    # Then the staged layer holds fixloop and its runtime deps for cp313/arm64, not moto
    (layer,) = Template.from_stack(stack).find_resources("AWS::Lambda::LayerVersion").values()
    asset_hash = layer["Properties"]["Content"]["S3Key"].removesuffix(".zip")
    site = tmp_path / "cdk.out" / f"asset.{asset_hash}" / "python"
    assert (site / "fixloop" / "__init__.py").is_file()
    assert (site / "anthropic").is_dir()
    assert (site / "aws_lambda_powertools").is_dir()
    assert not (site / "moto").exists()
    assert not (site / "fixloop" / "local").exists()
    assert not (site / "fixloop" / "testing").exists()
    assert (site / "fixloop" / "agent" / "prepare.py").is_file()
    assert not (site / "bin").exists()
    assert not list(site.rglob("__pycache__"))
    assert list(site.glob("pydantic_core/_pydantic_core.cpython-313-aarch64-linux-gnu.so"))
