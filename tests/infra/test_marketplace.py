"""The AWS Marketplace package: a standalone template (no CDK bootstrap) and its asset zips.

One build per module (with the stand-in layer of conftest.py), then assertions on what a
Marketplace publisher uploads. (Not the shared app: the standalone template is a stack of
its own, with parameters.)
"""

from __future__ import annotations

import json
import re
import zipfile
from pathlib import Path
from typing import Any

import pytest

from fixloop.intake.triggers import TargetConfig
from stacks.config import MODEL_PATTERN
from stacks.constructs.egress import DEFAULT_EGRESS_DOMAINS
from stacks.constructs.live_view import WEB_DIR
from stacks.marketplace import build_marketplace
from stacks.parameters import DOMAINS_PATTERN, IMAGE_URI_PATTERN, TARGETS_PATTERN

BOOTSTRAP_MARKERS = (
    "cdk-hnb659fds",  # the default bootstrap qualifier: bucket, repository, roles
    "BootstrapVersion",
    "CheckBootstrapVersion",
    ":role/cdk-",
    "/cdk-bootstrap/",
)


@pytest.fixture(scope="module")
def package(tmp_path_factory: pytest.TempPathFactory, prebuilt_layer: Path) -> Path:
    out = tmp_path_factory.mktemp("dist") / "marketplace"
    build_marketplace(out, layer_asset_dir=str(prebuilt_layer))
    return out


@pytest.fixture(scope="module")
def template(package: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((package / "fixloop.template.json").read_text())
    return loaded


def of_type(template: dict[str, Any], type_: str) -> dict[str, dict[str, Any]]:
    return {k: r for k, r in template["Resources"].items() if r["Type"] == type_}


def test_template_has_no_reference_to_cdk_bootstrap(package: Path) -> None:
    # Given the packaged template's text
    text = (package / "fixloop.template.json").read_text()
    template = json.loads(text)

    # When / Then no bootstrap bucket, repository, role, version parameter or rule appears,
    # nor CDK's metadata resource
    for marker in BOOTSTRAP_MARKERS:
        assert marker not in text, marker
    assert "Rules" not in template
    assert not of_type(template, "AWS::CDK::Metadata")


def test_parameters_are_constrained_and_grouped_for_the_console(template: dict[str, Any]) -> None:
    # Given the parameters and the console interface metadata
    parameters = template["Parameters"]
    interface = template["Metadata"]["AWS::CloudFormation::Interface"]

    # When / Then every parameter is a constrained string with a description
    assert set(parameters) == {
        "ModelSpec",
        "AnthropicSecretName",
        "GitHubSecretName",
        "DefaultGitHubRepo",
        "Targets",
        "SandboxImageUri",
        "SandboxEgressDomains",
        "GitHubTrustedAssociations",
        "SlackTeamIds",
        "SlackAppId",
        "SlackAllowedUsers",
        "LinearOrganizationId",
        "LinearAllowedUsers",
        "LinearAllowedTeams",
        "AssetsBucket",
        "AssetsPrefix",
    }
    for name, parameter in parameters.items():
        assert parameter["Type"] == "String", name
        assert parameter["AllowedPattern"], name
        assert parameter["ConstraintDescription"], name
        assert parameter["Description"], name
    # And the image and the asset bucket must be given, the rest has working defaults
    assert {n for n, p in parameters.items() if "Default" not in p} == {
        "SandboxImageUri",
        "AssetsBucket",
    }
    assert parameters["ModelSpec"]["Default"] == "bedrock"
    # And every parameter is in exactly one group, with a label
    grouped = [p for g in interface["ParameterGroups"] for p in g["Parameters"]]
    assert sorted(grouped) == sorted(parameters)
    assert set(interface["ParameterLabels"]) == set(parameters)


def test_parameters_reach_the_functions_and_the_sandbox(template: dict[str, Any]) -> None:
    # Given the functions and the sandbox task definition
    functions = of_type(template, "AWS::Lambda::Function").values()
    (task,) = of_type(template, "AWS::ECS::TaskDefinition").values()

    # When / Then the model spec is every loop function's default model, the GitHub secret is
    # deliver's and repo_token's, the targets the triggers' (the signal and api triggers), and
    # the sandbox runs the given image
    envs = [f["Properties"]["Environment"]["Variables"] for f in functions]
    models = [env["FIXLOOP_MODEL"] for env in envs if "FIXLOOP_MODEL" in env]
    assert len(models) >= 10 and all(m == {"Ref": "ModelSpec"} for m in models)
    assert sum("FIXLOOP_GITHUB_SECRET_ARN" in env for env in envs) == 2
    assert [env["FIXLOOP_TARGETS"] for env in envs if "FIXLOOP_TARGETS" in env] == [
        {"Ref": "Targets"}
    ] * 2
    (container,) = task["Properties"]["ContainerDefinitions"]
    assert container["Image"] == {"Ref": "SandboxImageUri"}
    # And who may reach the agent is told to the function of each inbound channel
    told = [
        (name, value["Ref"])
        for env in envs
        for name, value in env.items()
        if name in PEOPLE_PARAMETERS
    ]
    assert sorted(told) == sorted(PEOPLE_PARAMETERS.items())
    assert parameters_default(template, "GitHubTrustedAssociations") == "OWNER,MEMBER,COLLABORATOR"


PEOPLE_PARAMETERS = {
    "FIXLOOP_GITHUB_TRUSTED_ASSOCIATIONS": "GitHubTrustedAssociations",
    "FIXLOOP_SLACK_TEAM_ID": "SlackTeamIds",
    "FIXLOOP_SLACK_APP_ID": "SlackAppId",
    "FIXLOOP_SLACK_ALLOWED_USERS": "SlackAllowedUsers",
    "FIXLOOP_LINEAR_ORGANIZATION_ID": "LinearOrganizationId",
    "FIXLOOP_LINEAR_ALLOWED_USERS": "LinearAllowedUsers",
    "FIXLOOP_LINEAR_ALLOWED_TEAMS": "LinearAllowedTeams",
}


def parameters_default(template: dict[str, Any], name: str) -> str:
    return str(template["Parameters"][name]["Default"])


def test_sandbox_egress_follows_the_image_registry_and_the_domains_parameter(
    template: dict[str, Any],
) -> None:
    # Given the sandbox VPC's allowed domains and the condition they are chosen with
    ((_, allowed),) = [
        (k, r)
        for k, r in of_type(template, "AWS::Route53Resolver::FirewallDomainList").items()
        if r["Properties"]["Domains"] != ["*"]
    ]
    domains = allowed["Properties"]["Domains"]
    (condition,) = template["Conditions"].values()

    # When the two branches of the choice are read (the first splits a join on ",", whose
    # literal parts CDK merges: split those the same way)
    given, fixed = domains["Fn::If"][1:]
    separator, joined = given["Fn::Split"][1]["Fn::Join"]
    assert given["Fn::Split"][0] == separator == ","
    parts = [p for item in joined for p in (item.split(",") if isinstance(item, str) else [item])]

    # Then without SandboxEgressDomains the list is the defaults and the AWS endpoints, the
    # image's registry, ECR API and layer bucket taken from SandboxImageUri (its host, and
    # its region: the Marketplace's registry is in us-east-1 whatever the stack's region)
    assert condition == {"Fn::Not": [{"Fn::Equals": [{"Ref": "SandboxEgressDomains"}, ""]}]}
    assert fixed[: len(DEFAULT_EGRESS_DOMAINS)] == list(DEFAULT_EGRESS_DOMAINS)
    host = {"Fn::Select": [0, {"Fn::Split": ["/", {"Ref": "SandboxImageUri"}]}]}
    region = {"Fn::Select": [3, {"Fn::Split": [".", host]}]}
    assert host in fixed
    text = json.dumps(fixed)
    assert json.dumps(["api.ecr.", region, "."])[1:-1] in text
    assert json.dumps(["prod-", region, "-starport-layer-bucket.s3.", region, "."])[1:-1] in text
    # And with it, the same list with the parameter's domains after it
    assert parts == [*fixed, {"Ref": "SandboxEgressDomains"}]


def test_every_code_location_is_a_packaged_zip_under_the_prefix(
    package: Path, template: dict[str, Any]
) -> None:
    # Given the code locations of functions and layers, and the zips the live view's
    # deployment copies into its bucket (web/, and the config.js written at deployment)
    functions = of_type(template, "AWS::Lambda::Function").values()
    locations = [
        (f["Properties"]["Code"]["S3Bucket"], f["Properties"]["Code"]["S3Key"]) for f in functions
    ]
    locations += [
        (layer["Properties"]["Content"]["S3Bucket"], layer["Properties"]["Content"]["S3Key"])
        for layer in of_type(template, "AWS::Lambda::LayerVersion").values()
    ]
    (deployment,) = of_type(template, "Custom::CDKBucketDeployment").values()
    sources = list(
        zip(
            deployment["Properties"]["SourceBucketNames"],
            deployment["Properties"]["SourceObjectKeys"],
            strict=True,
        )
    )
    manifest = json.loads((package / "manifest.json").read_text())

    # When / Then each is read from the AssetsBucket parameter under AssetsPrefix, and the
    # zip it names is in the package, listed in the manifest
    keys = set()
    for bucket, location in locations + sources:
        assert bucket == {"Fn::Sub": "${AssetsBucket}"}
        key = location["Fn::Sub"]
        assert key.startswith("${AssetsPrefix}")
        keys.add(key.removeprefix("${AssetsPrefix}"))
    assert keys == {p.name for p in (package / "assets").iterdir()}
    assert keys == {a["key"] for a in manifest["assets"]}
    # And the zips hold a handler each (fixloop's, and the deployment's provider's index.py),
    # a layer's tree (fixloop's python/, the AWS CLI's), or the live view's files
    contents = {}
    for path in (package / "assets").iterdir():
        with zipfile.ZipFile(path) as zf:
            contents[path.name] = set(zf.namelist())
            assert zf.testzip() is None
    kinds = {
        "handler": "handler.py",
        "provider": "index.py",
        "layer": "python/fixloop/__init__.py",
        "cli": "awscli/aws",
        "site": "index.html",
    }
    found = {
        kind: [k for k, names in contents.items() if name in names] for kind, name in kinds.items()
    }
    config = [k for k, names in contents.items() if names == {"config.js"}]
    assert len(found["handler"]) == len(functions) - 1  # all but the deployment's provider
    assert [len(found[kind]) for kind in ("provider", "layer", "cli", "site")] == [1, 1, 1, 1]
    assert len(config) == 1
    assert sum(len(v) for v in found.values()) + len(config) == len(contents)
    # And web/ is deployed as it is but its local config.js: the one written at deployment
    (site,) = found["site"]
    web = {p.relative_to(WEB_DIR).as_posix() for p in WEB_DIR.rglob("*") if p.is_file()}
    assert contents[site] == web - {"config.js"}
    source_keys = [k["Fn::Sub"].removeprefix("${AssetsPrefix}") for _, k in sources]
    assert sorted(source_keys) == sorted([site, *config])


def test_the_live_view_is_in_the_package(template: dict[str, Any]) -> None:
    # Given / When the packaged template is read
    # Then it hosts the live view as the CDK stack does: the bucket behind CloudFront with
    # origin access control and the headers policy, the deployment of web/, the user pool's
    # hosted UI domain, and the page's URL as an output
    for type_ in (
        "AWS::CloudFront::Distribution",
        "AWS::CloudFront::OriginAccessControl",
        "AWS::CloudFront::ResponseHeadersPolicy",
        "Custom::CDKBucketDeployment",
        "AWS::Cognito::UserPoolDomain",
    ):
        assert len(of_type(template, type_)) == 1, type_
    assert "LiveViewUrl" in template["Outputs"]
    (client,) = of_type(template, "AWS::Cognito::UserPoolClient").values()
    assert client["Properties"]["CallbackURLs"] == [template["Outputs"]["LiveViewUrl"]["Value"]]


def test_template_passes_cfn_lint(template: dict[str, Any]) -> None:
    # Given cfn-lint, ignoring what CDK always emits (see test_stack.py)
    from cfnlint.api import ManualArgs, lint

    config = ManualArgs(ignore_checks=["W3005"], regions=["us-east-1", "eu-west-1"])

    # When the packaged template is linted / Then there is nothing to report
    matches = lint(json.dumps(template), config=config)
    assert not matches, "\n".join(str(m) for m in matches)


@pytest.mark.parametrize(
    ("uri", "valid"),
    [
        ("709825985650.dkr.ecr.us-east-1.amazonaws.com/acme/fixloop-sandbox:1.0.0", True),
        ("123456789012.dkr.ecr.eu-west-1.amazonaws.com/fixloop-sandbox@sha256:" + "a" * 64, True),
        ("123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn/sandbox:latest", True),
        ("docker.io/library/python:3.13", False),
        ("123456789012.dkr.ecr.us-east-1.amazonaws.com/sandbox", False),
    ],
)
def test_image_uri_constraint(uri: str, valid: bool) -> None:
    # Given / When an image URI is checked as CloudFormation would / Then ECR only, tagged
    assert bool(re.match(IMAGE_URI_PATTERN, uri)) is valid


@pytest.mark.parametrize(
    ("domains", "valid"),
    [
        ("", True),
        ("pypi.acme.example", True),
        ("pypi.acme.example,*.artifacts.acme.example", True),
        ("pypi.acme.example, npm.acme.example", False),
        ("https://pypi.acme.example", False),
        ("*", False),
        ("Pypi.Acme.Example", False),
    ],
)
def test_egress_domains_constraint(domains: str, valid: bool) -> None:
    assert bool(re.match(DOMAINS_PATTERN, domains)) is valid


@pytest.mark.parametrize(
    ("spec", "valid"),
    [
        ("bedrock", True),
        ("bedrock:us.anthropic.claude-sonnet-4-5-20250929-v1:0", True),
        ("anthropic:claude-opus-4-1", True),
        ("openai:gpt-5", False),
        ("bedrock:", False),
    ],
)
def test_model_spec_constraint(spec: str, valid: bool) -> None:
    assert bool(re.match(MODEL_PATTERN, spec)) is valid


@pytest.mark.parametrize(
    ("parameter", "value", "valid"),
    [
        ("SlackTeamIds", "", True),
        ("SlackTeamIds", "T0ACME,T0OPS", True),
        ("SlackTeamIds", "T0ACME, T0OPS", False),
        ("SlackAppId", "A0FIXLOOP", True),
        ("SlackAppId", "A1,A2", False),
        ("SlackAllowedUsers", "U0ANA,W0BO", True),
        ("SlackAllowedUsers", "@ana", False),
        ("LinearOrganizationId", "9f1c2d3e-4b5a-4c6d-8e7f-0a1b2c3d4e5f", True),
        ("LinearOrganizationId", "acme", False),
        ("LinearAllowedTeams", "ENG", False),
        ("GitHubTrustedAssociations", "OWNER,MEMBER", True),
        ("GitHubTrustedAssociations", "", False),
        ("GitHubTrustedAssociations", "OWNER,EVERYONE", False),
    ],
)
def test_people_constraints(
    template: dict[str, Any], parameter: str, value: str, valid: bool
) -> None:
    # Given / When a value is checked as CloudFormation would / Then ids of the right kind only
    assert bool(re.match(template["Parameters"][parameter]["AllowedPattern"], value)) is valid


@pytest.mark.parametrize(
    ("targets", "valid"),
    [
        ("{}", True),
        ('{"orders-*": {"github_repo": "acme/orders", "branch": "main"}}', True),
        (
            '{\n  "orders-*": {"github_repo": "acme/orders"},\n'
            '  "/aws/lambda/pay*": {"branch": "release", "repo": "https://git.example/pay.git"}\n}',
            True,
        ),
        ('{"caf\\u00e9 \\"x\\"": {"github_repo": "a/b", "note": "{not: json}"}}', True),
        ("", False),
        ("[]", False),
        ('{"orders-*": "acme/orders"}', False),
        ('{"orders-*": {}}', False),
        ('{"orders-*": {"branch": "main"}}', False),
        ('{"orders-*": {"github-repo": "acme/orders"}}', False),
        ('{"orders-*": {"github_repo": 1}}', False),
        ('{"orders-*": {"github_repo": "acme/orders"}', False),
        ('{"orders-*": {"github_repo": "acme/orders"},}', False),
        ("{'orders-*': {'github_repo': 'acme/orders'}}", False),
        ('{"orders-*": {"github_repo": "acme/orders", "extra": {"a": "b"}}}', False),
        ('{"orders-*": {"github_repo": "acme\norders"}}', False),
    ],
)
def test_targets_constraint(targets: str, valid: bool) -> None:
    # Given a Targets value / When CloudFormation checks it against the parameter's
    # AllowedPattern (a whole-value match) / Then only an object of targets, each an object
    # of strings naming a repository, is accepted
    assert bool(re.fullmatch(TARGETS_PATTERN, targets)) is valid
    # And what it accepts is what the triggers read at run time
    if valid:
        parsed = json.loads(targets)
        assert all(TargetConfig.model_validate(t) for t in parsed.values())


def test_targets_parameter_is_checked_by_its_pattern(template: dict[str, Any]) -> None:
    # Given the packaged template's Targets parameter / When / Then its pattern is the one
    # above, and its default passes it
    targets = template["Parameters"]["Targets"]
    assert targets["AllowedPattern"] == TARGETS_PATTERN
    assert re.fullmatch(TARGETS_PATTERN, targets["Default"])
