"""The shared Lambda layer (stacks/constructs/layer.py, layers/bundler.py)."""

from __future__ import annotations

import json
import re
import shutil
import time
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Template

from fixloop.functions import LOOP_STEPS
from layers.bundler import PROJECT_ROOT, LayerBundler, LayerTarget, runtime_requirements
from stacks.constructs.layer import SharedLayer
from stacks.flags import FEATURE_FLAGS, RECOGNIZE_LAYER_VERSION
from tests.infra.support import (
    function_ids,
    replaced_on_update,
    resources,
    shared_layer_id,
    state_machine,
    synth_template,
)


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


def loop_versions(template_json: dict[str, Any]) -> dict[str, str]:
    """Loop step folder -> logical id of its published version (AWS::Lambda::Version)."""
    fn_ids = function_ids(template_json)
    return {
        folder: version_id
        for version_id, version in resources(template_json, "AWS::Lambda::Version").items()
        for folder, fn_id in fn_ids.items()
        if version["Properties"]["FunctionName"] == {"Ref": fn_id}
    }


def test_a_change_of_the_shared_layer_alone_publishes_new_loop_versions(
    tmp_path: Path, prebuilt_layer: Path
) -> None:
    # Given two builds of the shared layer that differ only in the fixloop package
    changed_layer = tmp_path / "layer-changed"
    shutil.copytree(prebuilt_layer, changed_layer)
    (changed_layer / "python" / "fixloop" / "__init__.py").write_text("FIXED = True\n")

    # When the stack is synthesized with each, in a bare App (no cdk.json context: as
    # make synth, the Marketplace package and the tests build it)
    before = synth_template(tmp_path / "before", prebuilt_layer)
    after = synth_template(tmp_path / "after", changed_layer)

    # Then the layer version is replaced (its content is create-only: a new layer version)
    layer_id = shared_layer_id(after)
    assert layer_id in replaced_on_update(before, after)
    # And every loop step's published version is a new resource (CloudFormation creates it:
    # Lambda publishes the function with the new layer), the old one retained for the
    # executions still running on it
    old, new = loop_versions(before), loop_versions(after)
    assert set(old) == set(new) == {spec.folder for spec in LOOP_STEPS}
    for folder in old:
        assert old[folder] not in after["Resources"], folder
        assert new[folder] not in before["Resources"], folder
        assert before["Resources"][old[folder]]["DeletionPolicy"] == "Retain", folder
    # And the state machine names the new versions, so its next version runs the new layer
    substitutions = state_machine(after)["Properties"]["DefinitionSubstitutions"]
    named = {v["Ref"] for v in substitutions.values() if isinstance(v, dict) and "Ref" in v}
    assert set(new.values()) <= named
    # And the functions themselves are the same resources (only their layer changed)
    assert function_ids(before) == function_ids(after)
    layer = after["Resources"][layer_id]
    assert layer["Properties"]["Content"] != before["Resources"][layer_id]["Properties"]["Content"]


def test_the_feature_flags_are_set_on_the_stack_and_in_cdk_json() -> None:
    # Given cdk.json (what the CDK CLI passes) and the flags the stack sets on itself
    context = json.loads((PROJECT_ROOT / "cdk.json").read_text())["context"]

    # When / Then cdk.json holds the same values, and the layer flag is on
    assert {flag: context.get(flag) for flag in FEATURE_FLAGS} == FEATURE_FLAGS
    assert FEATURE_FLAGS[RECOGNIZE_LAYER_VERSION] is True
