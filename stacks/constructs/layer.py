"""The shared ``fixloop`` Lambda layer: runtime dependencies plus the fixloop package."""

from __future__ import annotations

from pathlib import Path

import aws_cdk as cdk
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from layers.bundler import PROJECT_ROOT, LayerBundler, LayerTarget

__all__ = ["LAYER_ARCHITECTURE", "LAYER_RUNTIME", "SharedLayer"]

LAYER_RUNTIME = lambda_.Runtime.PYTHON_3_13
LAYER_ARCHITECTURE = lambda_.Architecture.ARM_64
_TARGET = LayerTarget(python_version="3.13", architecture="arm64")

# Never pulled: LayerBundler.try_bundle always bundles locally (or raises), so CDK never
# falls back to Docker. BundlingOptions requires an image all the same.
_UNUSED_IMAGE = cdk.DockerImage.from_registry("public.ecr.aws/sam/build-python3.13")


class SharedLayer(Construct):
    """``fixloop`` layer for python3.13 on arm64, built by :class:`layers.LayerBundler`.

    ``asset_dir``: a prebuilt layer directory (``python/`` inside) to use as is instead of
    running pip, e.g. for fast infrastructure tests or a layer built elsewhere.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        asset_dir: str | None = None,
        bundler: LayerBundler | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        if asset_dir is not None:
            if not Path(asset_dir).is_dir():
                raise FileNotFoundError(f"prebuilt layer directory {asset_dir!r} does not exist")
            code = lambda_.Code.from_asset(asset_dir)
        else:
            bundler = bundler or LayerBundler(target=_TARGET)
            code = lambda_.Code.from_asset(
                # The source is not read (the bundler knows its inputs); the custom hash
                # covers them, so an unchanged layer keeps its asset hash and is not rebuilt.
                str(PROJECT_ROOT / "layers"),
                asset_hash_type=cdk.AssetHashType.CUSTOM,
                asset_hash=bundler.fingerprint(),
                bundling=cdk.BundlingOptions(image=_UNUSED_IMAGE, local=bundler),
            )
        self.layer = lambda_.LayerVersion(
            self,
            "Layer",
            code=code,
            compatible_runtimes=[LAYER_RUNTIME],
            compatible_architectures=[LAYER_ARCHITECTURE],
            description="fixloop runtime dependencies and the fixloop package",
        )
