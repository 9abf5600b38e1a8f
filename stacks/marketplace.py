"""The AWS Marketplace package: ``make marketplace`` (``python -m stacks.marketplace``).

Writes ``dist/marketplace/``:

- ``fixloop.template.json``: the fixloop stack as a standalone CloudFormation template. It is
  synthesized with a synthesizer that needs no ``cdk bootstrap``: file assets are read from
  the bucket and key prefix given as parameters (``AssetsBucket``, ``AssetsPrefix``), no
  bootstrap role, bucket, repository, ``BootstrapVersion`` parameter or rule is referenced,
  and the choices a user makes are parameters with constraints (stacks/parameters.py);
- ``assets/<hash>.zip``: the Lambda code of each function and the shared layer, named as
  the template refers to them: upload the folder's files under ``AssetsPrefix``;
- ``manifest.json``: each zip's SHA-256 and what it is.

The sandbox image is not in the package: AWS Marketplace publishes container images to its
own ECR registry, separately from the CloudFormation template, so the template takes the
image URI as the parameter ``SandboxImageUri`` (build sandbox/Dockerfile and push it to ECR
to deploy outside the Marketplace).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import aws_cdk as cdk
from cdk_nag import AwsSolutionsChecks

from layers.bundler import PROJECT_ROOT
from stacks.config import CONTEXT_LAYER_ASSET_DIR
from stacks.fixloop_stack import FixloopStack
from stacks.parameters import ASSETS_BUCKET, ASSETS_PREFIX

__all__ = [
    "MARKETPLACE_DIR",
    "STACK_NAME",
    "TEMPLATE_FILE",
    "build_marketplace",
    "standalone_synthesizer",
]

MARKETPLACE_DIR = PROJECT_ROOT / "dist" / "marketplace"
STACK_NAME = "Fixloop"
TEMPLATE_FILE = "fixloop.template.json"
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)
"""Every zip entry gets this time, so that a zip's bytes depend on its content only."""


def standalone_synthesizer() -> cdk.DefaultStackSynthesizer:
    """Assets from ``${AssetsBucket}``/``${AssetsPrefix}`` (CloudFormation parameters, which
    ``Fn::Sub`` resolves), no bootstrap version check. The roles the default synthesizer
    names only appear in the cloud assembly's asset manifest, never in the template."""
    return cdk.DefaultStackSynthesizer(
        file_assets_bucket_name="${" + ASSETS_BUCKET + "}",
        bucket_prefix="${" + ASSETS_PREFIX + "}",
        generate_bootstrap_version_rule=False,
    )


def build_marketplace(
    out_dir: Path = MARKETPLACE_DIR, *, layer_asset_dir: str | None = None
) -> Path:
    """Synthesize the standalone template and write the package to ``out_dir`` (replaced).

    ``layer_asset_dir``: a prebuilt layer directory instead of running the layer bundler
    (tests); cdk-nag validates the stack as for ``cdk synth``. Returns the template's path.
    """
    context: dict[str, Any] = {"aws:cdk:enable-path-metadata": False}
    if layer_asset_dir is not None:
        context[CONTEXT_LAYER_ASSET_DIR] = layer_asset_dir
    with tempfile.TemporaryDirectory(prefix="fixloop-marketplace-") as staging:
        app = cdk.App(outdir=staging, context=context, analytics_reporting=False)
        FixloopStack(
            app,
            STACK_NAME,
            standalone=True,
            synthesizer=standalone_synthesizer(),
            description="fixloop: durable AI DevOps agent (Step Functions loop over Lambda)",
        )
        cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app))
        assembly = app.synth()
        artifact = assembly.get_stack_by_name(STACK_NAME)
        template: dict[str, Any] = artifact.template
        manifest = json.loads((Path(staging) / f"{STACK_NAME}.assets.json").read_text())

        if out_dir.exists():
            shutil.rmtree(out_dir)
        (out_dir / "assets").mkdir(parents=True)
        template_path = out_dir / TEMPLATE_FILE
        template_path.write_text(json.dumps(template, indent=1, sort_keys=True) + "\n")
        written = []
        for asset in manifest["files"].values():
            source = asset["source"]
            if source["path"] == artifact.template_file:
                continue  # the template itself: written above
            (destination,) = asset["destinations"].values()
            key = str(destination["objectKey"]).removeprefix("${" + ASSETS_PREFIX + "}")
            target = out_dir / "assets" / key
            _package(Path(staging) / source["path"], source["packaging"], target)
            written.append(
                {
                    "key": key,
                    "what": asset.get("displayName", ""),
                    "sha256": hashlib.sha256(target.read_bytes()).hexdigest(),
                }
            )
        if manifest.get("dockerImages"):
            raise RuntimeError(
                "the standalone template must not build images: check SandboxImageUri"
            )
    (out_dir / "manifest.json").write_text(
        json.dumps(
            {"template": TEMPLATE_FILE, "assets": sorted(written, key=lambda a: a["key"])}, indent=1
        )
        + "\n"
    )
    return template_path


def _package(source: Path, packaging: str, target: Path) -> None:
    """A directory asset as a zip of its files (as ``cdk deploy`` would upload it), with
    fixed timestamps and order; a file asset as is."""
    if packaging == "file":
        shutil.copyfile(source, target)
        return
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(p for p in source.rglob("*") if p.is_file()):
            info = zipfile.ZipInfo(path.relative_to(source).as_posix(), date_time=_ZIP_TIME)
            info.external_attr = (0o755 if os.access(path, os.X_OK) else 0o644) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, path.read_bytes())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write the AWS Marketplace package of fixloop.")
    parser.add_argument("--out", type=Path, default=MARKETPLACE_DIR, help="output directory")
    parser.add_argument(
        "--layer-dir", help="a prebuilt layer directory (python/ inside) instead of building one"
    )
    args = parser.parse_args(argv)
    template = build_marketplace(args.out, layer_asset_dir=args.layer_dir)
    print(f"wrote {template} and {len(list((args.out / 'assets').iterdir()))} asset zips")
    return 0


if __name__ == "__main__":
    sys.exit(main())
