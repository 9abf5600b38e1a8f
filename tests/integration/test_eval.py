"""``fixloop eval`` as a person runs it: scenarios it has never seen, built here, graded by a
verification the agent never sees; the JSON line, the report, the interval, the errors."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tarfile
from pathlib import Path
from typing import Any

import pytest

from fixloop.cli.eval import wilson_interval
from tests.support import ROOT, logs_message, make_repo, run_cli, tool_use

LEDGER = {
    "ledger/__init__.py": "",
    "ledger/amounts.py": (
        "def format_amount(cents: int) -> str:\n"
        '    """An amount in cents as the ledger prints it: 12345678 -> 123,456.78."""\n'
        "    whole, frac = divmod(cents, 100)\n"
        '    return f"{whole}.{frac:02d}"\n'
    ),
    "tests/test_amounts.py": (
        "from ledger.amounts import format_amount\n\n\n"
        "def test_small_amounts() -> None:\n"
        '    assert format_amount(1234) == "12.34"\n'
    ),
}
BUG = 'return f"{whole}.{frac:02d}"'
FIX = 'return f"{whole:,}.{frac:02d}"'
HIDDEN_TEST = (
    "from ledger.amounts import format_amount\n\n\n"
    "def test_thousands_are_separated() -> None:\n"
    '    assert format_amount(12345678) == "123,456.78"\n'
    '    assert format_amount(5) == "0.05"\n'
)
VERIFY = (
    "set -eu\n"
    'cp "$SCENARIO_DIR/hidden_test.py" tests/test_hidden_by_eval.py\n'
    "python -m pytest -q -p no:cacheprovider tests\n"
)
REGRESSION_TEST = (
    "from ledger.amounts import format_amount\n\n\n"
    "def test_a_million() -> None:\n"
    '    assert format_amount(100000000) == "1,000,000.00"\n'
)


def _run(
    *args: str | Path, home: Path, env: dict[str, str] | None = None, timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    return run_cli(*args, home=home, timeout=timeout, env=env)


def _turns(*turns: list[dict[str, Any]]) -> str:
    return "".join(json.dumps({"content": t}) + "\n" for t in turns)


def _fixing_script() -> str:
    return _turns(
        [tool_use("read_file", path="ledger/amounts.py")],
        [
            tool_use("write_file", path="tests/test_million.py", content=REGRESSION_TEST),
            tool_use("edit_file", path="ledger/amounts.py", old_text=BUG, new_text=FIX),
        ],
        [tool_use("open_pull_request", title="Separate thousands", body="Root cause: no ','.")],
        # spare turns: a verification of the change that fails gives the model another try
        [tool_use("open_pull_request", title="Separate thousands", body="Root cause: no ','.")],
    )


def _scenario(
    folder: Path,
    name: str,
    *,
    repo: dict[str, str],
    script: str | None,
    files: dict[str, str] | None = None,
    verify: str = "bash verify.sh",
) -> Path:
    """A scenario folder: scenario.json, the signal, verify.sh and its hidden test, a script."""
    folder.mkdir(parents=True, exist_ok=True)
    signal = logs_message(
        ["[ERROR] ReconciliationError: statement shows 123456.78, ledger expects 123,456.78"],
        group="/aws/lambda/ledger",
    )
    (folder / "signal.json").write_text(json.dumps(signal))
    (folder / "verify.sh").write_text(VERIFY)
    (folder / "hidden_test.py").write_text(HIDDEN_TEST)
    spec: dict[str, Any] = {"name": name, "repo": repo, "signal": "signal.json", "verify": verify}
    if script is not None:
        (folder / "script.jsonl").write_text(script)
        spec["script"] = "script.jsonl"
    for path, content in (files or {}).items():
        (folder / path).parent.mkdir(parents=True, exist_ok=True)
        (folder / path).write_text(content)
    (folder / "scenario.json").write_text(json.dumps(spec))
    return folder


def _last_json(proc: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    data = json.loads(proc.stdout.strip().splitlines()[-1])
    assert isinstance(data, dict)
    return data


def _tool_outputs(record: str) -> str:
    events = json.loads(Path(record).read_text())["events"]
    return "\n".join(e["event"]["content"] for e in events if e["event"]["type"] == "tool_result")


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()


def test_eval_grades_scenarios_it_has_never_seen(tmp_path: Path) -> None:
    # Given a suite of three scenarios: a folder repository the script fixes...
    suite = tmp_path / "suite"
    _scenario(
        suite / "ledger-fixed",
        "ledger-thousands",
        repo={"path": "repo"},
        script=_fixing_script(),
        files={f"repo/{k}": v for k, v in LEDGER.items()},
    )
    # ...the same bug with a script whose change does not fix it, and which looks around for
    # the scenario's files from inside the sandbox...
    unfixed = suite / "ledger-unfixed"
    probe = (
        f'echo "scenario files: $(test -e {unfixed}/verify.sh && echo seen || echo unseen)"; '
        'echo "scenario dir: ${SCENARIO_DIR:-unset}"; echo LISTING; ls -a'
    )
    wrong = 'return f"{whole}.{frac:02}"'
    _scenario(
        unfixed,
        "ledger-unfixed",
        repo={"path": "repo"},
        script=_turns(
            [tool_use("run_command", command=probe)],
            [tool_use("edit_file", path="ledger/amounts.py", old_text=BUG, new_text=wrong)],
            *[[tool_use("open_pull_request", title="Tidy", body="A guess.")]] * 3,
        ),
        files={f"repo/{k}": v for k, v in LEDGER.items()},
    )
    # ...and a git repository at a tag, whose later upstream commit fixes the bug
    upstream = make_repo(tmp_path / "upstream", LEDGER)
    _git(upstream, "tag", "v1.0")
    (upstream / "ledger/amounts.py").write_text(LEDGER["ledger/amounts.py"].replace(BUG, FIX))
    _git(upstream, "commit", "-qam", "upstream fix of the separator")
    upstream_fix = _git(upstream, "rev-parse", "HEAD")
    look = f"git log --all --oneline; git cat-file -t {upstream_fix} || echo NO-UPSTREAM-FIX"
    # (its verify command is a helper the suite shares, beside the scenarios)
    (suite / "lib").mkdir()
    (suite / "lib" / "verify-ledger.sh").write_text(VERIFY)
    _scenario(
        suite / "from-git",
        "ledger-from-git",
        repo={"git": str(upstream), "ref": "v1.0"},
        verify='bash "$SCENARIO_DIR/../lib/verify-ledger.sh"',
        script=_turns([tool_use("run_command", command=look)], *_fixing_lines()),
    )
    home = tmp_path / "home"
    report = tmp_path / "report.md"

    # When the suite is evaluated with the scripted model, two at a time
    proc = _run(
        "eval",
        suite,
        "--model",
        "scripted",
        "--parallel",
        "2",
        "--json",
        "--report",
        report,
        home=home,
    )

    # Then each scenario was run and graded by its hidden verification
    assert proc.returncode == 0, proc.stderr
    data = _last_json(proc)
    assert data["scenarios"] == 3
    assert data["runs"] == 3
    assert data["resolved"] == 2
    assert data["resolved_rate"] == pytest.approx(2 / 3, abs=1e-4)
    assert data["confidence_interval"] is None  # one run each: no interval
    results = {r["name"]: r for r in data["results"]}
    assert set(results) == {"ledger-thousands", "ledger-unfixed", "ledger-from-git"}
    for r in results.values():
        assert set(r) >= {
            "name",
            "resolved",
            "status",
            "turns",
            "tool_calls",
            "tokens",
            "cost_usd",
            "wall_s",
            "verification",
        }
        assert r["status"] == "delivered", r
        assert r["turns"] >= 2 and r["tool_calls"] >= 2
        assert r["tokens"]["input"] > 0
        assert r["cost_usd"] is not None and r["cost_usd"] > 0  # AWS's part; a replay is free
        assert r["wall_s"] > 0
        assert Path(r["record"]).is_file()
        assert Path(r["record"]).parent == home / "investigations"
    assert results["ledger-thousands"]["resolved"] is True
    assert results["ledger-thousands"]["verify_exit_code"] == 0
    assert "3 passed" in results["ledger-thousands"]["verify_output"]
    assert results["ledger-from-git"]["resolved"] is True
    unresolved = results["ledger-unfixed"]
    assert unresolved["resolved"] is False
    assert unresolved["reason"] == "verify failed (exit code 1)"
    assert "test_thousands_are_separated" in unresolved["verify_output"]
    # and the agent saw neither the scenario's folder nor anything of it in the repository
    seen = _tool_outputs(unresolved["record"])
    assert "scenario files: unseen" in seen and "scenario files: seen" not in seen
    assert "scenario dir: unset" in seen
    listing = seen.split("\nLISTING\n", 1)[1].split("\n\n", 1)[0].split()
    assert sorted(listing) == [".", "..", ".git", "ledger", "tests"]
    # nor the upstream history after the scenario's ref
    history = _tool_outputs(results["ledger-from-git"]["record"])
    assert "NO-UPSTREAM-FIX" in history
    assert "upstream fix" not in history
    # and progress was shown per run
    assert "] ledger-thousands: started" in proc.stderr
    assert "] ledger-thousands: turn 2" in proc.stderr
    assert "] ledger-thousands: resolved in " in proc.stderr
    assert "] ledger-unfixed: not resolved in " in proc.stderr
    # and the report is a table a person can read, with a way to each investigation
    text = report.read_text()
    assert "Resolved 2 of 3 runs (67%)" in text
    assert "| scenario | run | resolved | status | turns | tool calls |" in text
    for r in results.values():
        row = next(line for line in text.splitlines() if line.startswith(f"| {r['name']} |"))
        assert f"`fixloop show {r['investigation_id']}`" in row
        assert r["record"] in row
        assert ("| yes |" in row) is r["resolved"]
    assert "## Not resolved" in text and "verify failed (exit code 1)" in text
    # and `fixloop show` finds the runs it links to
    shown = _run("show", results["ledger-thousands"]["investigation_id"], home=home)
    assert shown.returncode == 0, shown.stderr
    assert "Pull request #1: Separate thousands" in shown.stdout


RECORDED = ROOT / "tests" / "scenarios"
"""The recorded scenarios (a script each): plumbing that `make test` runs, not intelligence."""


def test_the_recorded_scenarios_resolve(tmp_path: Path) -> None:
    # When the recorded scenarios are evaluated with their scripts
    report = tmp_path / "report.md"
    proc = _run(
        "eval", RECORDED, "--model", "scripted", "--json", "--report", report, home=tmp_path / "h"
    )
    # Then every one of them (three at least) is resolved by its hidden verification
    assert proc.returncode == 0, proc.stderr
    data = _last_json(proc)
    assert data["scenarios"] >= 3
    assert data["resolved"] == data["runs"] == data["scenarios"], data["results"]
    assert {r["status"] for r in data["results"]} == {"delivered"}
    assert f"Resolved {data['runs']} of {data['runs']} runs (100%)" in report.read_text()
    # and the alarm's evidence, the scenario's logs, was found where query_logs looks
    (alarm,) = (r for r in data["results"] if r["name"] == "reports-last-page")
    assert "6 log events put into CloudWatch Logs" in proc.stderr
    assert "WARN export 7f2a wrote 200 of 250 rows" in _tool_outputs(alarm["record"])


def _fixing_lines() -> list[list[dict[str, Any]]]:
    return [json.loads(line)["content"] for line in _fixing_script().splitlines()]


def test_repeat_gives_the_wilson_interval_over_all_runs(tmp_path: Path) -> None:
    # Given a scenario whose script concludes without a change
    scenario = _scenario(
        tmp_path / "gives-up",
        "gives-up",
        repo={"path": "repo"},
        script=_turns([tool_use("finish", summary="Not reproducible from the logs.")]),
        files={f"repo/{k}": v for k, v in LEDGER.items()},
    )
    # When it is evaluated three times
    proc = _run(
        "eval", scenario, "--model", "scripted", "--repeat", "3", "--json", home=tmp_path / "h"
    )
    # Then no run is resolved, each says why, and the interval covers all three runs
    assert proc.returncode == 0, proc.stderr
    data = _last_json(proc)
    assert (data["scenarios"], data["runs"], data["resolved"]) == (1, 3, 0)
    assert [r["run"] for r in data["results"]] == [1, 2, 3]
    assert {r["status"] for r in data["results"]} == {"finished"}
    assert {r["reason"] for r in data["results"]} == {
        "no pull request: the investigation ended finished: Not reproducible from the logs."
    }
    assert all(r["verification"] is None for r in data["results"])
    assert data["confidence_interval"] == pytest.approx([0.0, 0.5615], abs=1e-4)
    assert data["confidence_interval"] == pytest.approx(list(wilson_interval(0, 3)), abs=1e-4)
    assert "[3/3] gives-up (run 3/3): not resolved in " in proc.stderr
    assert "Resolved 0 of 3 runs (0%) of 1 scenarios x 3; 95% Wilson interval 0% to 56%" in (
        proc.stdout
    )


BACKEND = """import os


def get_requires_for_build_wheel(config_settings=None):
    return []


def prepare_metadata_for_build_wheel(metadata_directory, config_settings=None):
    name = "ledgerfmt-1.0.dist-info"
    os.makedirs(os.path.join(metadata_directory, name))
    with open(os.path.join(metadata_directory, name, "METADATA"), "w") as f:
        f.write("Metadata-Version: 2.1\\nName: ledgerfmt\\nVersion: 1.0\\n")
    return name


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    raise NotImplementedError("downloaded as source only")
"""


def _local_index(folder: Path) -> Path:
    """A package index of one sdist (ledgerfmt 1.0, the ledger without its bug) that pip
    downloads offline: its build backend is in the sdist and needs nothing installed."""
    src = folder / "src" / "ledgerfmt-1.0"
    files = {
        **{k: v.replace(BUG, FIX) for k, v in LEDGER.items()},
        "PKG-INFO": "Metadata-Version: 2.1\nName: ledgerfmt\nVersion: 1.0\n",
        "pyproject.toml": '[build-system]\nrequires = []\nbuild-backend = "backend"\n'
        'backend-path = ["."]\n',
        "backend.py": BACKEND,
    }
    for name, content in files.items():
        (src / name).parent.mkdir(parents=True, exist_ok=True)
        (src / name).write_text(content)
    links = folder / "links"
    links.mkdir()
    with tarfile.open(links / "ledgerfmt-1.0.tar.gz", "w:gz") as tf:
        tf.add(src, arcname="ledgerfmt-1.0")
    return links


def test_a_pypi_scenario_is_downloaded_once_then_patched_for_each_run(tmp_path: Path) -> None:
    # Given a package index with a released sdist, and a scenario that breaks it with a patch
    links = _local_index(tmp_path / "index")
    patch = (
        "--- a/ledger/amounts.py\n+++ b/ledger/amounts.py\n"
        "@@ -1,4 +1,4 @@\n"
        " def format_amount(cents: int) -> str:\n"
        '     """An amount in cents as the ledger prints it: 12345678 -> 123,456.78."""\n'
        "     whole, frac = divmod(cents, 100)\n"
        f"-    {FIX}\n+    {BUG}\n"
    )
    scenario = _scenario(
        tmp_path / "pkg",
        "ledgerfmt-separator",
        repo={"pypi": "ledgerfmt==1.0", "patch": "bug.patch"},
        script=_fixing_script(),
        files={"bug.patch": patch},
    )
    home = tmp_path / "home"
    pip = {"PIP_NO_INDEX": "1", "PIP_FIND_LINKS": str(links), "PIP_NO_CACHE_DIR": "1"}
    # When it is evaluated
    first = _run("eval", scenario, "--model", "scripted", "--json", home=home, env=pip)
    # Then the sdist was downloaded into the cache, patched, and the fix resolved it
    assert first.returncode == 0, first.stderr
    assert "downloading the sdist of ledgerfmt==1.0" in first.stderr
    assert _last_json(first)["resolved"] == 1
    assert (home / "eval-cache/pypi/ledgerfmt-1.0/ledgerfmt-1.0.tar.gz").is_file()
    # and when it is evaluated again with the index gone, the cached sdist serves
    shutil.rmtree(links)
    again = _run("eval", scenario, "--model", "scripted", "--json", home=home, env=pip)
    assert again.returncode == 0, again.stderr
    assert "ledgerfmt==1.0 from the cache" in again.stderr
    assert _last_json(again)["resolved"] == 1


def test_a_scenario_that_cannot_be_prepared_is_an_error_of_its_run(tmp_path: Path) -> None:
    # Given a pypi scenario whose package the index does not have
    scenario = _scenario(
        tmp_path / "missing",
        "missing-package",
        repo={"pypi": "ledgerfmt==9.9", "patch": "bug.patch"},
        script=_turns([tool_use("finish", summary="x")]),
        files={"bug.patch": ""},
    )
    empty = tmp_path / "links"
    empty.mkdir()
    pip = {"PIP_NO_INDEX": "1", "PIP_FIND_LINKS": str(empty)}
    proc = _run("eval", scenario, "--model", "scripted", "--json", home=tmp_path / "h", env=pip)
    # Then the run is reported as an error with pip's reason, and the command exits 1
    assert proc.returncode == 1, proc.stderr
    (result,) = _last_json(proc)["results"]
    assert result["status"] == "error"
    assert result["resolved"] is False
    assert result["reason"].startswith("pip download ledgerfmt==9.9 failed")
    assert "] missing-package: error: pip download" in proc.stderr


def _assert_one_line_error(proc: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("fixloop: error: ")
    for needle in needles:
        assert needle in lines[0], lines[0]
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize(
    ("content", "needles"),
    [
        ('{"name": "x",', ("scenario.json is not valid JSON",)),
        (
            {"name": "x", "repo": {"svn": "u"}, "signal": "signal.json", "verify": "true"},
            ("repo:",),
        ),
        (
            {"name": "x", "repo": {"path": "../.."}, "signal": "signal.json", "verify": "true"},
            ("repo.path", "outside the scenario's folder"),
        ),
        (
            {"name": "x", "repo": {"path": "repo"}, "signal": "signal.json", "verify": "true"},
            ('no "script": --model scripted replays',),
        ),
    ],
    ids=["invalid-json", "unknown-repo-kind", "path-outside", "no-script"],
)
def test_a_bad_scenario_is_a_one_line_error(
    tmp_path: Path, content: Any, needles: tuple[str, ...]
) -> None:
    # (every check of scenario.json: tests/unit/test_eval_scenario.py)
    folder = tmp_path / "suite" / "bad"
    (folder / "repo").mkdir(parents=True)
    (folder / "signal.json").write_text(json.dumps(logs_message(["[ERROR] boom"])))
    (folder / "scenario.json").write_text(
        content if isinstance(content, str) else json.dumps(content)
    )
    proc = _run("eval", tmp_path / "suite", "--model", "scripted", home=tmp_path / "h")
    _assert_one_line_error(proc, f"{folder}/scenario.json", *needles)
    assert "runtime" not in proc.stderr  # nothing was started


def test_a_broken_script_and_duplicate_names_are_one_line_errors(tmp_path: Path) -> None:
    files = {f"repo/{k}": v for k, v in LEDGER.items()}
    _scenario(tmp_path / "a", "same", repo={"path": "repo"}, script=_fixing_script(), files=files)
    _scenario(tmp_path / "b", "same", repo={"path": "repo"}, script=_fixing_script(), files=files)
    proc = _run("eval", tmp_path, "--model", "scripted", home=tmp_path / "h")
    _assert_one_line_error(proc, "two scenarios are named 'same'")
    _scenario(tmp_path / "b", "other", repo={"path": "repo"}, script='{"content": [\n')
    proc = _run("eval", tmp_path, "--model", "scripted", home=tmp_path / "h")
    _assert_one_line_error(proc, "script.jsonl:1")
    proc = _run("eval", tmp_path / "nothing-here", "--model", "scripted", home=tmp_path / "h")
    _assert_one_line_error(proc, "nothing-here: no such directory")


def test_a_real_model_without_credentials_stops_before_anything(tmp_path: Path) -> None:
    scenario = _scenario(
        tmp_path / "s", "s", repo={"path": "repo"}, script=None, files={"repo/a.py": "x = 1\n"}
    )
    no_key = {"ANTHROPIC_API_KEY": ""}
    proc = _run("eval", scenario, "--model", "anthropic", home=tmp_path / "h", env=no_key)
    _assert_one_line_error(proc, "needs an Anthropic API key: set ANTHROPIC_API_KEY")
    no_aws = {
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"),
        "AWS_CONFIG_FILE": str(tmp_path / "none"),
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    proc = _run("eval", scenario, "--model", "bedrock", home=tmp_path / "h", env=no_aws)
    _assert_one_line_error(proc, "needs AWS credentials")
    proc = _run("eval", scenario, "--model", "gpt", home=tmp_path / "h")
    _assert_one_line_error(proc, "unknown model spec 'gpt'")


def test_make_eval_says_it_needs_a_model_when_none_is_configured(tmp_path: Path) -> None:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("ANTHROPIC_API_KEY", "FIXLOOP_ANTHROPIC_SECRET_ARN", "FIXLOOP_EVAL_BEDROCK")
        and not k.startswith("EVAL_")
    }
    proc = subprocess.run(
        ["bash", "scripts/eval.sh"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**env, "FIXLOOP": str(tmp_path / "not-run")},
        timeout=60,
        check=False,
    )
    assert proc.returncode == 2
    assert proc.stderr.startswith("make eval needs a real model, and none is configured")
    assert "ANTHROPIC_API_KEY" in proc.stderr and "FIXLOOP_EVAL_BEDROCK=1" in proc.stderr
    assert proc.stdout == ""
