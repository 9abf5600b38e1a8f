"""`fixloop onboard`: the instrumentation pull request, planned from a sample service and
delivered to the local repository and to a local GitHub API (tests.fakes.github)."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from fixloop.onboarding import BRANCH, plan_onboarding
from fixloop.onboarding.plan import CDK_PATH, LOGGING_MODULE, PACKAGE_INIT, TEMPLATE_PATH
from tests.fakes.github import GitHubServer
from tests.support import head, make_repo, run_cli

CFN_LINT = Path(sys.executable).parent / "cfn-lint"
REQUIREMENTS = "requests==2.32.3\n"
SERVICE = {
    "orders/__init__.py": "",
    "orders/checkout.py": (
        "import json\n\n\n"
        "def lambda_handler(event, context):\n"
        "    return {'statusCode': 200, 'body': json.dumps({'total': event['total']})}\n"
    ),
    "orders/refunds.py": "def handler(event, context):\n    return {'refunded': event['id']}\n",
    "tests/test_checkout.py": (
        "def handler(event, context):  # a fake, not a function\n    return None\n"
    ),
    "requirements.txt": REQUIREMENTS,
    "README.md": "# orders\n",
}


@pytest.fixture
def service(tmp_path: Path) -> Path:
    """A service with two Python Lambda handlers and no Powertools."""
    return make_repo(tmp_path / "orders", SERVICE)


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), *args], capture_output=True, text=True, check=True
    ).stdout.strip()


def _onboard(
    *args: str | Path, home: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """The CLI as a user runs it: without this process's AWS, fixloop and GitHub settings."""
    return run_cli("onboard", *args, home=home, timeout=120, env=env, drop=("GITHUB_",))


def _summary(proc: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout.strip().splitlines()[-1])
    assert isinstance(data, dict)
    return data


def test_the_plan_instruments_both_handlers(service: Path, tmp_path: Path) -> None:
    # Given a service with two Lambda handlers and a requirements.txt without Powertools

    # When the onboarding is planned
    plan = plan_onboarding(service)

    # Then it finds both handlers (not the fake in the tests) and watches their log groups
    assert [(h.path, h.function) for h in plan.handlers] == [
        ("orders/checkout.py", "lambda_handler"),
        ("orders/refunds.py", "handler"),
    ]
    assert [f.log_group for f in plan.functions] == ["/aws/lambda/checkout", "/aws/lambda/refunds"]
    files = {f.path: f for f in plan.files}
    assert set(files) == {
        PACKAGE_INIT,
        LOGGING_MODULE,
        "requirements.txt",
        TEMPLATE_PATH,
        CDK_PATH,
        "fixloop/README.md",
        "README.md",
    }
    # And Powertools is added to the requirements, which keep what they had
    assert files["requirements.txt"].content == REQUIREMENTS + "aws-lambda-powertools>=3,<4\n"
    assert files["requirements.txt"].action == "change"
    # And the logging module logs unhandled exceptions with their stack trace, and re-raises
    logging_module = files[LOGGING_MODULE].content
    ast.parse(logging_module)
    assert "logger.exception(" in logging_module and "raise\n" in logging_module
    assert "Logger(" in logging_module
    # And the CDK snippet is valid Python
    ast.parse(files[CDK_PATH].content)
    # And the template names both log groups and passes cfn-lint
    template = files[TEMPLATE_PATH].content
    for group in ("/aws/lambda/checkout", "/aws/lambda/refunds"):
        assert f'LogGroupName: "{group}"' in template
    assert template.count("Type: AWS::Logs::SubscriptionFilter") == 2
    assert template.count("TreatMissingData: notBreaching") == 2
    path = tmp_path / "error-alarms.yaml"
    path.write_text(template)
    lint = subprocess.run(
        [str(CFN_LINT), str(path)], capture_output=True, text=True, timeout=120, check=False
    )
    assert lint.returncode == 0, lint.stdout + lint.stderr
    # And the body says what to wrap and how to deploy
    assert plan.title == "Instrument orders for fixloop"
    assert "`orders/checkout.py` line 4: `lambda_handler`" in plan.body
    assert "`orders/refunds.py` line 1: `handler`" in plan.body
    assert "aws cloudformation deploy" in plan.body
    assert "FixloopLogsDestinationArn=" in plan.body


def test_function_names_from_the_option(tmp_path: Path) -> None:
    # Given a service whose pyproject already depends on Powertools
    repo = make_repo(
        tmp_path / "billing",
        {
            "src/billing/api.py": "def lambda_handler(event, context):\n    return event\n",
            "pyproject.toml": (
                '[project]\nname = "billing"\ndependencies = [\n'
                '    "aws-lambda-powertools[tracer]==3.37.0",\n]\n'
            ),
        },
    )

    # When it is planned with the deployed function names
    plan = plan_onboarding(repo, functions=["billing-api-prod", "billing-worker", "billing-worker"])

    # Then those log groups are watched, once each, and the dependencies stay as they are
    assert [f.log_group for f in plan.functions] == [
        "/aws/lambda/billing-api-prod",
        "/aws/lambda/billing-worker",
    ]
    assert plan.powertools_in == ["pyproject.toml"]
    assert "pyproject.toml" not in {f.path for f in plan.files}
    template = next(f.content for f in plan.files if f.path == TEMPLATE_PATH)
    assert '"${AWS::StackName}-billing-worker-errors"' in template


def test_onboard_opens_one_pull_request_in_the_local_repository(
    service: Path, tmp_path: Path
) -> None:
    # Given a service checked out on main
    base = head(service)

    # When `fixloop onboard` runs on it
    first = _summary(_onboard("--repo", service, "--json", home=tmp_path))

    # Then branch fixloop/onboarding has one commit on main with the files, and a pull request
    # is recorded
    pr = first["pull_request"]
    assert pr["branch"] == BRANCH and pr["base"] == "main" and pr["created"] is True
    assert _git(service, "rev-parse", f"refs/heads/{BRANCH}") == pr["head_sha"]
    assert _git(service, "rev-list", "--count", f"main..{BRANCH}") == "1"
    assert _git(service, "rev-parse", f"{BRANCH}^") == base
    assert "aws-lambda-powertools" in _git(service, "show", f"{BRANCH}:requirements.txt")
    assert "/aws/lambda/refunds" in _git(service, "show", f"{BRANCH}:{TEMPLATE_PATH}")
    assert set(first["files"]) >= {LOGGING_MODULE, TEMPLATE_PATH, CDK_PATH}
    records = list((service / ".git" / "fixloop" / "pull-requests").glob("*.json"))
    assert [json.loads(r.read_text())["title"] for r in records] == [
        "Instrument orders for fixloop"
    ]

    # When it runs again
    second = _summary(_onboard("--repo", service, "--json", home=tmp_path))

    # Then nothing changes: same head, same pull request, still one commit and one record
    again = second["pull_request"]
    assert (again["head_sha"], again["number"], again["created"]) == (
        pr["head_sha"],
        pr["number"],
        False,
    )
    assert _git(service, "rev-list", "--count", f"main..{BRANCH}") == "1"
    assert len(list(records[0].parent.glob("*.json"))) == 1
    # And the user's checkout is untouched: same branch, same commit, clean working tree
    assert _git(service, "symbolic-ref", "--short", "HEAD") == "main"
    assert head(service) == base
    assert _git(service, "status", "--porcelain") == ""
    assert (service / "requirements.txt").read_text() == REQUIREMENTS
    assert not (service / "fixloop_instrumentation").exists()


def test_onboard_opens_the_pull_request_on_github(service: Path, tmp_path: Path) -> None:
    # Given the service on a GitHub API
    with GitHubServer(service, owner="acme", name="orders") as server:
        env = {
            "GITHUB_TOKEN": next(iter(server.tokens)),
            "FIXLOOP_GITHUB_API_URL": server.base_url,
            "FIXLOOP_GITHUB_SECONDS_BETWEEN_WRITES": "0",
        }

        # When `fixloop onboard --github` runs, twice
        first = _summary(
            _onboard(
                "--repo", service, "--github", server.full_name, "--json", home=tmp_path, env=env
            )
        )
        second = _summary(
            _onboard(
                "--repo", service, "--github", server.full_name, "--json", home=tmp_path, env=env
            )
        )

        # Then one pull request is open there, with one commit holding the files
        pulls = server.pulls
        assert [(p.number, p.title, p.head, p.state) for p in pulls] == [
            (1, "Instrument orders for fixloop", BRANCH, "open")
        ]
        assert "orders/checkout.py" in pulls[0].body
        assert server.commit_count(BRANCH) == 1
        template = server.read_file(BRANCH, TEMPLATE_PATH)
        assert template is not None and b"/aws/lambda/checkout" in template
        assert server.read_file(BRANCH, LOGGING_MODULE) is not None
        pr, again = first["pull_request"], second["pull_request"]
        assert pr["number"] == again["number"] == 1
        assert pr["head_sha"] == again["head_sha"] == server.branch_head(BRANCH)
    # And the local repository has no branch of it
    assert _git(service, "branch", "--list", BRANCH) == ""


def test_a_path_that_is_not_a_git_repository(tmp_path: Path) -> None:
    # Given a directory that is not a git repository
    plain = tmp_path / "plain"
    plain.mkdir()

    # When `fixloop onboard` runs on it
    proc = _onboard("--repo", plain, home=tmp_path)

    # Then it exits 2 with one line saying so
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("fixloop: error: ")
    assert "not a git repository" in lines[0]
    assert proc.stdout == ""
