"""The fixloop command as a person runs it: exit codes, one-line errors, the JSON summary."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from fixloop.store import stores
from tests.runtime import LocalRuntime
from tests.support import logs_message, make_repo, run_cli, tool_use, write_script

TEST_HOME = Path(tempfile.gettempdir()) / "fixloop-tests-home"  # never the user's ~/.fixloop


def _run(
    *args: str | Path, timeout: float = 300, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the CLI as a user would: without this test process's AWS settings, unless given."""
    return run_cli(*args, home=TEST_HOME, timeout=timeout, env=env)


@pytest.fixture
def signal_file(tmp_path: Path) -> Path:
    path = tmp_path / "signal.json"
    path.write_text(json.dumps(logs_message(["[ERROR] KeyError: 'id'"])))
    return path


def _assert_one_line_error(proc: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("fixloop: error: ")
    for needle in needles:
        assert needle in lines[0]
    assert "Traceback" not in proc.stderr


def test_malformed_signal_file(repo: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"detail-type": "CloudWatch Alarm State Change",')
    script = write_script(tmp_path / "s.jsonl", [[tool_use("finish", summary="x")]])
    proc = _run("investigate", "--repo", repo, "--signal", bad, "--model", f"scripted:{script}")
    _assert_one_line_error(proc, "bad.json is not valid JSON")


def test_signal_of_an_unknown_shape(repo: Path, tmp_path: Path) -> None:
    odd = tmp_path / "odd.json"
    odd.write_text('{"hello": "world"}')
    proc = _run("investigate", "--repo", repo, "--signal", odd, "--model", "anthropic")
    _assert_one_line_error(proc, "unrecognised signal")


def test_scripted_file_with_invalid_json(repo: Path, signal_file: Path, tmp_path: Path) -> None:
    script = tmp_path / "s.jsonl"
    script.write_text('{"content": [{"type": "text", "text": "hi"}]}\n{"content": [\n')
    proc = _run(
        "investigate", "--repo", repo, "--signal", signal_file, "--model", f"scripted:{script}"
    )
    _assert_one_line_error(proc, "s.jsonl:2")


def test_unknown_tool_name_from_the_model(repo: Path, signal_file: Path, tmp_path: Path) -> None:
    script = write_script(
        tmp_path / "s.jsonl", [[tool_use("read_file", path="a")], [tool_use("rm_rf")]]
    )
    proc = _run(
        "investigate", "--repo", repo, "--signal", signal_file, "--model", f"scripted:{script}"
    )
    _assert_one_line_error(proc, "s.jsonl:2", "rm_rf")


def test_not_a_git_repository(signal_file: Path, tmp_path: Path) -> None:
    proc = _run("investigate", "--repo", tmp_path, "--signal", signal_file, "--model", "anthropic")
    _assert_one_line_error(proc, "not a git repository")


def test_unknown_model_spec(repo: Path, signal_file: Path) -> None:
    proc = _run("investigate", "--repo", repo, "--signal", signal_file, "--model", "gpt")
    _assert_one_line_error(proc, "gpt")


def test_investigate_any_repository_with_json_summary(tmp_path: Path) -> None:
    # Given a repository that is not the demo's, and an awslogs envelope signal
    repo = make_repo(
        tmp_path / "billing", {"billing/charge.py": "def charge(x):\n    return 1/x\n"}
    )
    from tests.support import awslogs_envelope

    signal = tmp_path / "sig.json"
    signal.write_text(
        json.dumps(awslogs_envelope(logs_message(["ZeroDivisionError: division by zero"])))
    )
    script = write_script(
        tmp_path / "s.jsonl",
        [
            [tool_use("search_code", pattern="1/x"), tool_use("get_signal")],
            [tool_use("read_file", path="billing/charge.py")],
            [tool_use("finish", summary="charge(0) divides by zero; callers must validate.")],
        ],
    )
    # When it is investigated with --json
    proc = _run(
        "investigate", "--repo", repo, "--signal", signal, "--model", f"scripted:{script}", "--json"
    )
    # Then progress is readable and the last line is the JSON summary
    assert proc.returncode == 0, proc.stderr
    assert "turn 1    calls     search_code" in proc.stderr
    assert "a replay of recorded turns" in proc.stderr
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    assert summary["status"] == "finished"
    assert summary["turns"] == 3
    assert summary["tool_calls"] == 3 + 1  # and the repository overview before turn 1
    assert summary["executions"] == 1
    assert summary["state_transitions"] > 10
    assert 0 < summary["max_state_payload_bytes"] < 16 * 1024
    # signal, 3 assistant messages, 3 tool results, outcome and status, and each turn's
    # streamed fragments in one chunk (the scripted model streams at once); the gathering of
    # the repository overview and its result; each turn's budget note
    assert summary["events"] == 1 + 3 + 3 + 2 + 3 + 2 + 3


def test_investigate_under_chaos_says_what_it_asked_and_what_fired(
    repo: Path, signal_file: Path, tmp_path: Path
) -> None:
    # Given a scripted run and FIXLOOP_CHAOS throttling DynamoDB, bursts past the SDK too
    script = write_script(
        tmp_path / "s.jsonl",
        [
            [tool_use("search_code", pattern="user"), tool_use("get_signal")],
            [tool_use("finish", summary="The handler reads a missing key.")],
        ],
    )
    chaos = {
        "FIXLOOP_CHAOS": "dynamodb_throttle=0.3,dynamodb_throttle_burst=0.1",
        "FIXLOOP_CHAOS_SEED": "3",
        "FIXLOOP_CHAOS_TIME_SCALE": "0.01",
    }
    # When it is investigated (the command's own requests are spared: it only observes)
    proc = _run(
        "investigate",
        *("--repo", repo, "--signal", signal_file, "--model", f"scripted:{script}", "--json"),
        env=chaos,
    )
    # Then it ends as without chaos, saying which faults were asked for and which fired
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout.strip().splitlines()[-1])["status"] == "finished"
    assert (
        "chaos      dynamodb_throttle=0.3,dynamodb_throttle_burst=0.1 (seed 3, time scale 0.01)"
        in proc.stderr
    )
    (fired,) = [line for line in proc.stderr.splitlines() if line.startswith("chaos      fired:")]
    assert "dynamodb_throttle " in fired and "dynamodb_throttle_burst " in fired


def test_demo_ends_with_a_delivered_pull_request(tmp_path: Path) -> None:
    # When the demo runs
    home = {"FIXLOOP_HOME": str(tmp_path / "home")}
    proc = _run("demo", "--json", env=home)
    # Then it ends with a pull request on the local code host
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    assert summary["status"] == "delivered"
    assert summary["outcome"].startswith("Answer 400 for unknown coupon codes")
    pr = summary["pull_request"]
    assert pr["number"] == 1
    assert pr["branch"] == f"fixloop/{summary['investigation_id']}"
    assert pr["url"].startswith("file://")
    assert "delivered  pull request" in proc.stderr
    # the failure was reproduced with a test in the sandbox, then the tests passed
    assert "turn 4    result    run_command [ok] exit code 1: 2 failed, 2 passed" in proc.stderr
    assert "turn 6    result    run_command [ok] exit code 0: 4 passed" in proc.stderr
    assert "(3 files changed)" in proc.stderr
    # and fixloop verified the fix itself before the pull request: the new tests fail on
    # the base commit with the production KeyError (not an ImportError) and pass with the
    # fix, and the whole suite has no new failure
    assert "verify     verified: reproduced yes, fixed yes" in proc.stderr
    verification = summary["verification"]
    assert verification["reproduced"] is True and verification["fixed"] is True
    assert verification["symptom_matched"] is True
    assert verification["command"] == "python -m pytest"
    assert verification["tests"] == ["tests/test_unknown_coupon.py"]
    assert verification["suite"]["base"]["passed"] == 2
    assert verification["suite"]["fix"]["passed"] == 4
    assert "KeyError, as in production" in verification["reason"]
    assert "Investigation inv-" in proc.stdout
    # and the branch holds the fix: the sample's tests pass on it
    repo = Path(pr["url"].removeprefix("file://").split("#")[0])
    worktree = tmp_path / "checkout"
    subprocess.run(
        ["git", "-C", str(repo), "worktree", "add", "-q", str(worktree), pr["branch"]], check=True
    )
    tests = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"],
        cwd=worktree,
        capture_output=True,
        text=True,
        check=False,
    )
    assert tests.returncode == 0, tests.stdout
    assert "4 passed" in tests.stdout
    # and `fixloop show` shows the pull request with its evidence and test runs
    shown = _run("show", summary["investigation_id"], env=home)
    assert shown.returncode == 0, shown.stderr
    assert "Pull request #1: Answer 400 for unknown coupon codes" in shown.stdout
    assert "### Evidence gathered by fixloop" in shown.stdout
    assert "### Verified by fixloop" in shown.stdout
    assert "**Verified.**" in shown.stdout
    assert "FAILED tests/test_unknown_coupon.py::" in shown.stdout  # the run on the base
    assert "KeyError: 'SUMMER23'" in shown.stdout
    assert "verified           reproduced yes, fixed yes" in shown.stdout
    assert "+class InvalidCoupon(ValueError):" in shown.stdout
    # and what it cost, by part (a replay's tokens are counted but have no price)
    cost = summary["cost_usd"]
    assert cost["model"] == 0
    assert cost["step_functions"] > 0
    assert cost["fargate"] > 0  # the sandbox ran the tests
    assert cost["total"] == pytest.approx(cost["aws"])
    assert summary["tokens"]["input"] > 0
    assert f"cost               ${cost['total']:.4f}" in shown.stdout
    assert "step functions $" in shown.stdout


def test_show_an_unknown_investigation(tmp_path: Path) -> None:
    # (a well-formed id: one that is not an id at all is a bad argument, exit 2, see
    # tests/security/test_cli_input.py)
    unknown = "inv-20261122093000-0badc0de"
    proc = _run("show", unknown, env={"FIXLOOP_HOME": str(tmp_path)})
    assert proc.returncode == 4
    assert f"no record of investigation {unknown}" in proc.stderr


def test_an_endpoint_setting_points_the_cli_at_an_existing_local_aws(
    runtime: LocalRuntime, repo: Path, signal_file: Path, tmp_path: Path
) -> None:
    # Given a local AWS with fixloop deployed (this test process's embedded runtime)
    script = write_script(tmp_path / "s.jsonl", [[tool_use("finish", summary="nothing to fix")]])
    aws_env = {k: v for k, v in os.environ.items() if k.startswith(("AWS_", "FIXLOOP_"))}
    # When the CLI runs with AWS_ENDPOINT_URL pointing there
    proc = _run(
        "investigate",
        "--repo",
        repo,
        "--signal",
        signal_file,
        "--model",
        f"scripted:{script}",
        "--json",
        env=aws_env,
    )
    # Then it starts no runtime of its own: the investigation ran on the existing one
    assert proc.returncode == 0, proc.stderr
    assert f"local AWS at {runtime.endpoint_url}" in proc.stderr
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    assert summary["status"] == "finished"
    assert stores().investigations.get(summary["investigation_id"]).outcome == "nothing to fix"


def test_an_endpoint_without_fixloop_deployed_is_a_clear_error(
    repo: Path, signal_file: Path, tmp_path: Path
) -> None:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        script = write_script(tmp_path / "s.jsonl", [[tool_use("finish", summary="x")]])
        env = {
            "AWS_ENDPOINT_URL": f"http://{host}:{port}",
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "eu-west-3",
        }
        proc = _run(
            "investigate",
            "--repo",
            repo,
            "--signal",
            signal_file,
            "--model",
            f"scripted:{script}",
            env=env,
        )
    finally:
        server.stop()
    assert proc.returncode == 3
    assert "no state machine named fixloop-investigation" in proc.stderr


def test_investigate_delivers_to_github_with_a_lost_response_on_the_way(tmp_path: Path) -> None:
    # Given a repository on a (local) GitHub, the same repository checked out, and a GitHub
    # that loses its answer to the commit creation once
    from tests.fakes.github import GitHubServer

    repo = make_repo(tmp_path / "svc", {"svc/core.py": "def f(x):\n    return 1 / x\n"})
    signal = tmp_path / "sig.json"
    signal.write_text(json.dumps(logs_message(["ZeroDivisionError: division by zero"])))
    script = write_script(
        tmp_path / "s.jsonl",
        [
            [
                tool_use(
                    "edit_file",
                    path="svc/core.py",
                    old_text="return 1 / x",
                    new_text="return 1 / x if x else 0",
                )
            ],
            [tool_use("open_pull_request", title="Guard f against zero", body="Root cause: 1/0.")],
        ],
    )
    with GitHubServer(repo) as github:
        # GET repo, GET base commit, GET branch, POST blob, POST tree, GET ref, POST commit
        github.fail_after(7)
        env = {
            "GITHUB_TOKEN": next(iter(github.tokens)),
            "FIXLOOP_GITHUB_API_URL": github.base_url,
            "FIXLOOP_GITHUB_SECONDS_BETWEEN_WRITES": "0",
        }
        # When fixloop investigates and delivers to GitHub
        proc = _run(
            "investigate",
            "--repo",
            repo,
            "--signal",
            signal,
            "--model",
            f"scripted:{script}",
            "--github",
            github.full_name,
            "--json",
            env=env,
        )
        # Then one pull request with one commit holds the fix
        assert proc.returncode == 0, proc.stderr
        summary = json.loads(proc.stdout.strip().splitlines()[-1])
        assert summary["status"] == "delivered"
        pr = summary["pull_request"]
        assert pr["number"] == 1
        assert len(github.pulls) == 1
        assert github.commit_count(pr["branch"]) == 1
        assert b"return 1 / x if x else 0" in (github.read_file(pr["branch"], "svc/core.py") or b"")
        assert github.endpoints().count("POST pulls") == 1
        assert github.endpoints().count("POST git/commits") == 2  # the lost one, resent
        assert "### Evidence gathered by fixloop" in github.pulls[0].body


def test_trigger_splits_a_delivery_into_one_investigation_per_problem(tmp_path: Path) -> None:
    # Given a CloudWatch Logs delivery (the awslogs envelope) with two different errors,
    # one of them three times with different values
    from tests.support import awslogs_envelope

    repo = make_repo(tmp_path / "svc", {"svc.py": "x = 1\n"})
    lines = [
        f"[ERROR] KeyError: 'user-{n}'\nTraceback (most recent call last):\n"
        f'  File "/var/task/svc.py", line 3, in get\n    return users[uid]\n'
        f"KeyError: 'user-{n}'"
        for n in range(3)
    ]
    lines.append(
        "TypeError: Cannot read properties of undefined (reading 'id')\n"
        "    at handler (/var/task/index.js:5:3)"
    )
    signal = tmp_path / "logs.json"
    signal.write_text(json.dumps(awslogs_envelope(logs_message(lines))))
    script = write_script(tmp_path / "s.jsonl", [[tool_use("finish", summary="seen")]])
    # When it is triggered
    proc = _run("trigger", signal, "--repo", repo, "--model", f"scripted:{script}", "--json")
    # Then triage started two investigations, one per problem, with their counts
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    admissions = sorted(out["admissions"], key=lambda a: a["title"])
    assert [a["started"] for a in admissions] == [True, True]
    assert [a["occurrences"] for a in admissions] == [3, 1]
    assert admissions[0]["title"].startswith("KeyError")
    assert admissions[1]["title"].startswith("TypeError")
    assert [i["status"] for i in out["investigations"]] == ["finished", "finished"]
    assert proc.stderr.count("triage     started") == 2
