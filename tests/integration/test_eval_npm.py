"""``fixloop eval`` of an ``npm`` scenario: the package's published tarball, fetched by
``npm pack`` from a registry (here one served on loopback, so nothing leaves the machine),
kept in the cache, unpacked and patched for each run."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import shutil
import tarfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.integration.test_eval import _last_json, _run, _scenario, _turns
from tests.support import tool_use

pytestmark = pytest.mark.skipif(shutil.which("npm") is None, reason="needs npm")

AMOUNTS = (
    '"use strict";\n\n'
    "/** An amount in cents as the ledger prints it: 12345678 -> 123,456.78. */\n"
    "function formatAmount(cents) {\n"
    "  const whole = Math.floor(cents / 100);\n"
    '  const frac = String(cents % 100).padStart(2, "0");\n'
    '  return `${whole.toLocaleString("en-US")}.${frac}`;\n'
    "}\n\n"
    "module.exports = { formatAmount };\n"
)
FIXED_LINE = '  return `${whole.toLocaleString("en-US")}.${frac}`;'
BUGGY_LINE = "  return `${whole}.${frac}`;"
PACKAGE = {"name": "ledgerfmt", "version": "1.0.0", "main": "index.js", "license": "MIT"}
HIDDEN_TEST = (
    'const assert = require("node:assert");\n'
    'const path = require("node:path");\n'
    'const { formatAmount } = require(path.join(process.cwd(), "index.js"));\n'
    'assert.strictEqual(formatAmount(12345678), "123,456.78");\n'
    'assert.strictEqual(formatAmount(5), "0.05");\n'
)
BUG_PATCH = (
    "--- a/index.js\n+++ b/index.js\n"
    "@@ -4,6 +4,6 @@\n"
    " function formatAmount(cents) {\n"
    "   const whole = Math.floor(cents / 100);\n"
    '   const frac = String(cents % 100).padStart(2, "0");\n'
    f"-{FIXED_LINE}\n+{BUGGY_LINE}\n"
    " }\n"
    " \n"
)


def _tarball(version: str) -> bytes:
    """The tarball ``npm publish`` would upload: the files under ``package/``."""
    files = {
        "package/package.json": json.dumps({**PACKAGE, "version": version}),
        "package/index.js": AMOUNTS,
    }
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as tf:
        for name, content in files.items():
            data = content.encode()
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o644
            tf.addfile(info, io.BytesIO(data))
    return out.getvalue()


@contextmanager
def _registry(tarball: bytes, *, served: bytes | None = None) -> Iterator[str]:
    """A registry holding ledgerfmt 1.0.0: its packument gives the integrity of ``tarball``,
    and it serves ``served`` (``tarball`` unless said otherwise) as the tarball."""
    digest = base64.b64encode(hashlib.sha512(tarball).digest()).decode()
    body = served if served is not None else tarball

    class Registry(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            base = f"http://{self.headers['Host']}"
            if self.path == "/ledgerfmt":
                dist = {
                    "tarball": f"{base}/ledgerfmt/-/ledgerfmt-1.0.0.tgz",
                    "integrity": f"sha512-{digest}",
                    "shasum": hashlib.sha1(tarball).hexdigest(),
                }
                version = {**PACKAGE, "dist": dist}
                doc = {
                    "name": "ledgerfmt",
                    "dist-tags": {"latest": "1.0.0"},
                    "versions": {"1.0.0": version},
                }
                self._send(json.dumps(doc).encode(), "application/json")
            elif self.path == "/ledgerfmt/-/ledgerfmt-1.0.0.tgz":
                self._send(body, "application/octet-stream")
            else:
                self.send_error(404)

        def _send(self, data: bytes, kind: str) -> None:
            self.send_response(200)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Registry)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


def _npm_env(tmp_path: Path, registry: str) -> dict[str, str]:
    """npm pointed at ``registry`` only, with a cache and a configuration of its own."""
    (tmp_path / "npmrc").write_text("")
    return {
        "npm_config_registry": registry,
        "npm_config_cache": str(tmp_path / "npm-cache"),
        "npm_config_userconfig": str(tmp_path / "npmrc"),
        "npm_config_update_notifier": "false",
        "npm_config_fetch_retries": "0",
    }


def _npm_scenario(folder: Path, script: str) -> Path:
    return _scenario(
        folder,
        "ledgerfmt-js-separator",
        repo={"npm": "ledgerfmt@1.0.0", "patch": "bug.patch"},
        script=script,
        files={"bug.patch": BUG_PATCH, "hidden.js": HIDDEN_TEST},
        verify='node "$SCENARIO_DIR/hidden.js"',
    )


def test_an_npm_scenario_is_packed_once_then_patched_for_each_run(tmp_path: Path) -> None:
    # Given a registry with a published tarball, and a scenario that breaks it with a patch
    fixing = _turns(
        [tool_use("read_file", path="index.js")],
        [tool_use("edit_file", path="index.js", old_text=BUGGY_LINE, new_text=FIXED_LINE)],
        [tool_use("open_pull_request", title="Separate thousands", body="Root cause: no ','.")],
        [tool_use("open_pull_request", title="Separate thousands", body="Root cause: no ','.")],
    )
    scenario = _npm_scenario(tmp_path / "pkg", fixing)
    home = tmp_path / "home"
    published = _tarball("1.0.0")
    with _registry(published) as registry:
        env = _npm_env(tmp_path, registry)
        # When it is evaluated
        first = _run("eval", scenario, "--model", "scripted", "--json", home=home, env=env)
    # Then the tarball was packed into the cache, its package/ folder patched (the script's
    # edit finds the buggy line), and the fix resolved it
    assert first.returncode == 0, first.stderr
    assert "downloading the npm tarball of ledgerfmt@1.0.0" in first.stderr
    assert _last_json(first)["resolved"] == 1
    kept = home / "eval-cache/npm/ledgerfmt-1.0.0/ledgerfmt-1.0.0.tgz"
    assert kept.read_bytes() == published
    # and when it is evaluated again with the registry gone, the cached tarball serves
    again = _run("eval", scenario, "--model", "scripted", "--json", home=home, env=env)
    assert again.returncode == 0, again.stderr
    assert "ledgerfmt@1.0.0 from the cache (ledgerfmt-1.0.0.tgz)" in again.stderr
    assert _last_json(again)["resolved"] == 1


@pytest.mark.parametrize(
    ("served", "reason"),
    [
        (b"not the published tarball", "integrity"),
        (None, "No matching version found for ledgerfmt@2.0.0"),
    ],
    ids=["tampered-tarball", "unknown-version"],
)
def test_an_npm_package_that_cannot_be_fetched_is_an_error_of_its_run(
    tmp_path: Path, served: bytes | None, reason: str
) -> None:
    # Given a registry that serves a tarball other than the one it publishes, or a scenario
    # naming a version it does not have
    scenario = _npm_scenario(tmp_path / "pkg", _turns([tool_use("finish", summary="x")]))
    if served is None:
        spec = json.loads((scenario / "scenario.json").read_text())
        spec["repo"]["npm"] = "ledgerfmt@2.0.0"
        (scenario / "scenario.json").write_text(json.dumps(spec))
    home = tmp_path / "h"
    with _registry(_tarball("1.0.0"), served=served) as registry:
        proc = _run(
            "eval", scenario, "--model", "scripted", "--json",
            home=home, env=_npm_env(tmp_path, registry),
        )  # fmt: skip
    # Then the run is an error with npm's reason in one line, and nothing is cached
    assert proc.returncode == 1, proc.stderr
    (result,) = _last_json(proc)["results"]
    assert result["status"] == "error"
    assert result["reason"].startswith("npm pack ledgerfmt@"), result["reason"]
    assert reason in result["reason"]
    assert "\n" not in result["reason"]
    assert not list((home / "eval-cache/npm").glob("*/*.tgz"))
