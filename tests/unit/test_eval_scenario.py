"""scenario.json as ``fixloop eval`` reads it: what it accepts, and each refusal in one line
that names the file and the field."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from fixloop.cli.eval import find_scenarios, load_scenario
from fixloop.cli.eval.command import check_model, check_scripts
from fixloop.cli.eval.scenario import GitRepo, NpmRepo, PathRepo, PypiRepo
from fixloop.errors import BadInputError
from tests.support import ROOT, logs_message

VALID: dict[str, Any] = {
    "name": "ledger-thousands-separator",
    "repo": {"path": "repo"},
    "signal": "signal.json",
    "verify": "bash verify.sh",
}


def _folder(root: Path, spec: dict[str, Any] | str, name: str = "s") -> Path:
    folder = root / name
    (folder / "repo").mkdir(parents=True)
    (folder / "signal.json").write_text(json.dumps(logs_message(["[ERROR] boom"])))
    (folder / "bug.patch").write_text("")
    (folder / "script.jsonl").write_text('{"content": [{"type": "text", "text": "done"}]}\n')
    text = spec if isinstance(spec, str) else json.dumps(spec)
    (folder / "scenario.json").write_text(text)
    return folder


def test_each_kind_of_repository_is_read(tmp_path: Path) -> None:
    upstream = tmp_path / "upstream"
    upstream.mkdir()
    specs = {
        "a": VALID,
        "b": {**VALID, "name": "b", "repo": {"git": "https://example.com/r.git", "ref": "v1"}},
        "c": {**VALID, "name": "c", "repo": {"git": str(upstream), "ref": "main"}},
        "d": {**VALID, "name": "d", "repo": {"pypi": "six==1.16.0", "patch": "bug.patch"}},
        "e": {**VALID, "name": "e", "repo": {"npm": "ms@2.1.3", "patch": "bug.patch"}},
        "f": {
            **VALID,
            "name": "f",
            "repo": {"npm": "@types/node@20.1.0-rc.1", "patch": "bug.patch"},
        },
    }
    for name, spec in specs.items():
        _folder(tmp_path / "suite", spec, name)
    found = find_scenarios([tmp_path / "suite"])
    assert [s.name for s in found] == ["ledger-thousands-separator", "b", "c", "d", "e", "f"]
    a, b, c, d, e, f = (s.spec.repo for s in found)
    assert isinstance(a, PathRepo) and a.path == "repo"
    assert isinstance(b, GitRepo) and b.is_url
    assert isinstance(c, GitRepo) and not c.is_url
    assert found[2].git_source() == str(upstream)
    assert isinstance(d, PypiRepo) and (d.project, d.version) == ("six", "1.16.0")
    assert isinstance(e, NpmRepo) and (e.package, e.version) == ("ms", "2.1.3")
    assert isinstance(f, NpmRepo) and (f.package, f.version) == ("@types/node", "20.1.0-rc.1")
    assert found[0].spec.verify_timeout == 600
    assert found[0].script is None


def test_a_scenario_folder_is_not_searched_below_and_hidden_folders_are_skipped(
    tmp_path: Path,
) -> None:
    outer = _folder(tmp_path, VALID, "outer")
    _folder(outer / "repo", {**VALID, "name": "inner"}, "nested")
    _folder(tmp_path / ".hidden", {**VALID, "name": "hidden"}, "h")
    assert [s.name for s in find_scenarios([tmp_path])] == [VALID["name"]]


BAD: list[tuple[str, Any, str]] = [
    ("invalid-json", '{"name": "x",', "scenario.json is not valid JSON"),
    ("not-an-object", "[1, 2]", "Input should be a valid dictionary"),
    ("no-verify", {k: v for k, v in VALID.items() if k != "verify"}, "verify: Field required"),
    ("empty-verify", {**VALID, "verify": ""}, "verify: String should have at least 1 character"),
    ("unknown-repo-kind", {**VALID, "repo": {"svn": "u"}}, 'repo: expected {"path": ...}'),
    ("repo-not-an-object", {**VALID, "repo": "repo"}, "repo: expected"),
    ("git-without-ref", {**VALID, "repo": {"git": "https://e.com/r"}}, "repo.ref: Field required"),
    (
        "git-ref-an-option",
        {**VALID, "repo": {"git": "https://e.com/r", "ref": "--upload-pack=x"}},
        "repo.ref",
    ),
    (
        "git-missing-folder",
        {**VALID, "repo": {"git": "nowhere", "ref": "main"}},
        "neither a URL nor a folder",
    ),
    (
        "pypi-unpinned",
        {**VALID, "repo": {"pypi": "six", "patch": "bug.patch"}},
        "repo.pypi: Value error, expected NAME==VERSION",
    ),
    ("pypi-without-patch", {**VALID, "repo": {"pypi": "six==1.0"}}, "repo.patch: Field required"),
    (
        "pypi-patch-missing",
        {**VALID, "repo": {"pypi": "six==1.0", "patch": "x.patch"}},
        "repo.patch: 'x.patch' is not a file",
    ),
    *(
        (
            f"npm-{kind}",
            {**VALID, "repo": {"npm": spec, "patch": "bug.patch"}},
            f"repo.npm: Value error, expected NAME@VERSION with an exact version, got {spec!r}",
        )
        for kind, spec in [
            ("unversioned", "ms"),
            ("range", "ms@^2.1.3"),
            ("partial", "ms@2.1"),
            ("tag", "ms@latest"),
            ("upper-case-name", "MS@2.1.3"),
            ("scope-without-name", "@types@1.0.0"),
            ("url", "https://registry.npmjs.org/ms/-/ms-2.1.3.tgz"),
            ("option", "--registry=x@1.0.0"),
            ("pypi-style", "ms==2.1.3"),
        ]
    ),
    ("npm-without-patch", {**VALID, "repo": {"npm": "ms@2.1.3"}}, "repo.patch: Field required"),
    (
        "npm-patch-outside",
        {**VALID, "repo": {"npm": "ms@2.1.3", "patch": "../bug.patch"}},
        "repo.patch: '../bug.patch' is outside the scenario's folder",
    ),
    (
        "npm-and-pypi",
        {**VALID, "repo": {"npm": "ms@2.1.3", "pypi": "six==1.0", "patch": "bug.patch"}},
        "repo.npm: Extra inputs are not permitted",
    ),
    (
        "path-outside",
        {**VALID, "repo": {"path": "../.."}},
        "repo.path: '../..' is outside the scenario's folder",
    ),
    (
        "path-absolute",
        {**VALID, "repo": {"path": "/etc"}},
        "must be a path relative to the scenario",
    ),
    ("path-is-the-scenario", {**VALID, "repo": {"path": "."}}, "names the scenario's own folder"),
    ("path-a-file", {**VALID, "repo": {"path": "signal.json"}}, "is not a folder of the scenario"),
    ("unknown-field", {**VALID, "verfy": "x"}, "verfy: Extra inputs are not permitted"),
    (
        "unknown-repo-field",
        {**VALID, "repo": {"path": "repo", "ref": "x"}},
        "repo.ref: Extra inputs",
    ),
    ("bad-name", {**VALID, "name": "a b"}, "name: String should match pattern"),
    ("signal-missing", {**VALID, "signal": "nope.json"}, "signal: 'nope.json' is not a file"),
    ("signal-outside", {**VALID, "signal": "../signal.json"}, "outside the scenario's folder"),
    ("script-missing", {**VALID, "script": "nope.jsonl"}, "script: 'nope.jsonl' is not a file"),
    (
        "timeout-zero",
        {**VALID, "verify_timeout": 0},
        "verify_timeout: Input should be greater than 0",
    ),
]


@pytest.mark.parametrize(("content", "needle"), [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_a_bad_scenario_is_refused_in_one_line(tmp_path: Path, content: Any, needle: str) -> None:
    folder = _folder(tmp_path, content)
    with pytest.raises(BadInputError) as caught:
        load_scenario(folder)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"{folder}/scenario.json")
    assert needle in message


def test_the_signal_is_checked_as_fixloop_investigate_checks_it(tmp_path: Path) -> None:
    folder = _folder(tmp_path, VALID)
    (folder / "signal.json").write_text('{"hello": "world"}')
    with pytest.raises(BadInputError, match="unrecognised signal"):
        load_scenario(folder)


def test_what_is_searched_must_hold_scenarios_with_distinct_names(tmp_path: Path) -> None:
    with pytest.raises(BadInputError, match="no such directory"):
        find_scenarios([tmp_path / "nothing"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(BadInputError, match=r"no scenario\.json in it or in its folders"):
        find_scenarios([tmp_path / "empty"])
    _folder(tmp_path / "two", VALID, "a")
    _folder(tmp_path / "two", VALID, "b")
    with pytest.raises(BadInputError, match="two scenarios are named 'ledger-thousands-sep"):
        find_scenarios([tmp_path / "two"])


def test_scripted_runs_need_each_scenario_s_script_and_a_valid_one(tmp_path: Path) -> None:
    (without,) = find_scenarios([_folder(tmp_path, VALID, "a")])
    with pytest.raises(BadInputError, match='no "script"'):
        check_scripts([without])
    folder = _folder(tmp_path, {**VALID, "script": "script.jsonl"}, "b")
    (with_script,) = find_scenarios([folder])
    check_scripts([with_script])
    (folder / "script.jsonl").write_text('{"content": [{"type": "tool_use", "name": "rm_rf"}]}\n')
    with pytest.raises(BadInputError, match="rm_rf"):
        check_scripts([with_script])


def test_the_model_is_scripted_or_a_real_one_with_its_credentials(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert check_model(" scripted ") == "scripted"
    with pytest.raises(BadInputError, match="scripted:FILE is for fixloop investigate"):
        check_model("scripted:x.jsonl")
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    monkeypatch.delenv("FIXLOOP_ANTHROPIC_SECRET_ARN", raising=False)
    with pytest.raises(BadInputError, match="needs an Anthropic API key: set ANTHROPIC_API_KEY"):
        check_model("anthropic:claude-sonnet-5")
    with pytest.raises(BadInputError, match="unknown model spec 'gpt-4'"):
        check_model("gpt-4")


def test_a_scenario_s_logs_are_read_as_logs_deliveries(tmp_path: Path) -> None:
    delivery = {
        "logGroup": "/aws/lambda/reports",
        "logStream": "s",
        "logEvents": [{"timestamp": 1795435200000, "message": "WARN 50 rows missing"}],
    }
    folder = _folder(tmp_path, {**VALID, "logs": "logs.json"}, "one")
    (folder / "logs.json").write_text(json.dumps(delivery))
    assert [d.logGroup for d in load_scenario(folder).logs] == ["/aws/lambda/reports"]
    folder = _folder(tmp_path, {**VALID, "logs": "logs.json"}, "list")
    (folder / "logs.json").write_text(json.dumps([delivery, {**delivery, "logStream": "t"}]))
    assert [d.logStream for d in load_scenario(folder).logs] == ["s", "t"]
    assert load_scenario(_folder(tmp_path, VALID, "none")).logs == ()
    (folder / "logs.json").write_text(json.dumps({**delivery, "logEvents": [{"message": "x"}]}))
    with pytest.raises(BadInputError) as caught:
        load_scenario(folder)
    assert "not a Logs delivery" in str(caught.value) and "\n" not in str(caught.value)
    folder = _folder(tmp_path, {**VALID, "logs": "../logs.json"}, "outside")
    with pytest.raises(BadInputError, match=r"logs: '\.\./logs\.json' is outside"):
        load_scenario(folder)


def test_what_a_suite_shares_with_its_scenarios_verify_commands(tmp_path: Path) -> None:
    # Given a suite of two scenarios and a folder of helpers beside them
    suite = tmp_path / "suite"
    _folder(suite, VALID, "a")
    _folder(suite, {**VALID, "name": "b"}, "b")
    (suite / "lib").mkdir()
    (suite / "README.md").write_text("the suite")
    (suite / ".cache").mkdir()
    # Then each scenario shares the helpers, not the other scenario nor hidden folders,
    # whether the suite or one scenario of it is named
    for named in ([suite], [suite / "a"]):
        shared = find_scenarios(named)[0].shared
        assert sorted(p.name for p in shared) == ["README.md", "lib"], named
    # and a lone scenario's parent (a home folder, say) is not a suite: nothing is shared
    lone = _folder(tmp_path / "home", VALID, "mine")
    (tmp_path / "home" / "Documents").mkdir()
    assert find_scenarios([lone])[0].shared == ()


def test_the_suite_in_evals_loads_with_its_real_projects() -> None:
    # When the repository's own suite is read as fixloop eval reads it
    suite = find_scenarios([ROOT / "evals"])
    # Then it holds at least 13 scenarios of published packages, some of them from npm,
    real = [s for s in suite if isinstance(s.spec.repo, PypiRepo | NpmRepo)]
    assert len(real) >= 13
    assert sum(isinstance(s.spec.repo, NpmRepo) for s in real) >= 3
    # and the alarm scenarios bring the logs the telemetry tools will find
    alarms = [s for s in suite if s.signal.kind == "alarm"]
    assert alarms
    assert all(s.logs for s in alarms), [s.name for s in alarms if not s.logs]
