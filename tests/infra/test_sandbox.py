"""The sandbox (stacks/constructs/sandbox.py): cluster, task definition, image, its roles, and
the dispatch function that starts and calls it."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import aws_cdk as cdk
from aws_cdk.assertions import Template

from fixloop.config import Settings
from stacks import FixloopStack
from stacks.config import CONTEXT_SANDBOX_IMAGE_URI
from stacks.constructs.loop import INVESTIGATION_ASL
from stacks.constructs.sandbox import SANDBOX_COMMAND, SANDBOX_FAMILY
from stacks.nag import flatten, iam5_resource
from tests.infra.support import (
    acknowledgments,
    actions,
    blobs_bucket_id,
    function_ids,
    only,
    policy_of_role,
    replaced_on_update,
    resources,
    role_of_function,
    sandbox_task_role,
    security_group_id,
    state_machine,
    state_machine_arn_json,
    statement_resources,
    synth_template,
    table_ids,
    walk_json,
)

SANDBOX_CPU, SANDBOX_MEMORY_MIB, SANDBOX_STORAGE_GIB = "1024", "2048", 30


SANDBOX_PORT = 8080
REGISTRY = "123456789012.dkr.ecr.us-east-1.amazonaws.com/fixloop-sandbox"


def family_arn_json() -> dict[str, Any]:
    """Every revision of the sandbox task definition family, as the template builds it."""
    return {
        "Fn::Join": [
            "",
            [
                "arn:",
                {"Ref": "AWS::Partition"},
                ":ecs:",
                {"Ref": "AWS::Region"},
                ":",
                {"Ref": "AWS::AccountId"},
                f":task-definition/{SANDBOX_FAMILY}:*",
            ],
        ]
    }


def test_cluster_has_container_insights(template: Template) -> None:
    # Given / When the app is synthesized
    # Then the sandbox cluster records Container Insights
    template.resource_count_is("AWS::ECS::Cluster", 1)
    template.has_resource_properties(
        "AWS::ECS::Cluster",
        {"ClusterSettings": [{"Name": "containerInsights", "Value": "enabled"}]},
    )


def test_sandbox_task_definition(template_json: dict[str, Any]) -> None:
    # Given the Fargate task definition
    _, task_definition = only(template_json, "AWS::ECS::TaskDefinition")
    props = task_definition["Properties"]

    # When its single container is read
    (container,) = props["ContainerDefinitions"]

    # Then it is fixloop-sandbox on Fargate, ARM64/Linux, 1 vCPU, 2 GiB, 30 GiB of disk
    assert props["Family"] == "fixloop-sandbox"
    assert props["RequiresCompatibilities"] == ["FARGATE"]
    assert props["NetworkMode"] == "awsvpc"
    assert props["RuntimePlatform"] == {
        "CpuArchitecture": "ARM64",
        "OperatingSystemFamily": "LINUX",
    }
    assert (props["Cpu"], props["Memory"]) == (SANDBOX_CPU, SANDBOX_MEMORY_MIB)
    assert props["EphemeralStorage"] == {"SizeInGiB": SANDBOX_STORAGE_GIB}
    # And its container "sandbox" serves on 8080 with the sandbox command, logging to CloudWatch
    assert container["Name"] == "sandbox"
    assert container["Essential"] is True
    assert container["PortMappings"] == [{"ContainerPort": SANDBOX_PORT, "Protocol": "tcp"}]
    assert container["Command"] == ["python", "-m", "fixloop.sandbox", "serve", "--port", "8080"]
    assert container["LogConfiguration"]["LogDriver"] == "awslogs"
    log_group = container["LogConfiguration"]["Options"]["awslogs-group"]["Ref"]
    assert template_json["Resources"][log_group]["Properties"]["RetentionInDays"] == 30
    # And its environment is what the server needs to run: the region, the runtime's own
    # heartbeat and idle intervals (the functions use the same defaults), the Powertools
    # service; no table, bucket, function or secret
    env = {e["Name"]: e["Value"] for e in container["Environment"]}
    assert env == {
        "AWS_DEFAULT_REGION": {"Ref": "AWS::Region"},
        "FIXLOOP_SANDBOX_HEARTBEAT_SECONDS": str(Settings().sandbox_heartbeat_seconds),
        "FIXLOOP_SANDBOX_IDLE_SECONDS": str(Settings().sandbox_idle_seconds),
        "POWERTOOLS_SERVICE_NAME": "fixloop-sandbox",
    }
    assert "Secrets" not in container


def test_sandbox_server_holds_no_secret_table_or_bucket(template_json: dict[str, Any]) -> None:
    # Given the sandbox task definition, its task role's statements, and every resource of
    # the template that holds data or credentials
    _, task_definition = only(template_json, "AWS::ECS::TaskDefinition")
    (container,) = task_definition["Properties"]["ContainerDefinitions"]
    statements = policy_of_role(template_json, sandbox_task_role(template_json))
    valuable = {
        logical_id
        for logical_id, r in template_json["Resources"].items()
        if r["Type"]
        in (
            "AWS::DynamoDB::Table",
            "AWS::S3::Bucket",
            "AWS::SecretsManager::Secret",
            "AWS::KMS::Key",
            "AWS::Lambda::Function",
        )
    }
    named = {
        node.get("Ref") or node.get("Fn::GetAtt", [None])[0]
        for node in walk_json(container)
        if isinstance(node, dict)
    }
    reached = {
        node.get("Ref") or node.get("Fn::GetAtt", [None])[0]
        for node in walk_json(statements)
        if isinstance(node, dict)
    }

    # When / Then neither the container (environment, secrets) nor the task role names any
    # of them: a command that reads the server's environment or its role's credentials finds
    # nothing worth stealing
    assert not named & valuable, named & valuable
    assert not reached & valuable, reached & valuable
    assert "Secrets" not in container and "EnvironmentFiles" not in container
    text = json.dumps(statements)
    for service in ("dynamodb:", "s3:", "kms:", "lambda:", "secretsmanager:", "ecs:", "iam:"):
        assert service not in text, service


def test_sandbox_image_is_staged_from_the_dockerfile_with_a_minimal_context(
    app: cdk.App, template_json: dict[str, Any]
) -> None:
    # Given the synthesized assembly's Docker image assets
    manifest = json.loads((Path(app.outdir) / "Fixloop.assets.json").read_text())
    ((_, image),) = manifest["dockerImages"].items()
    source = image["source"]
    context = Path(app.outdir) / source["directory"]

    # When the staged build context is listed
    staged = {p.relative_to(context).as_posix() for p in context.rglob("*") if p.is_file()}

    # Then it is built from sandbox/Dockerfile for linux/arm64
    assert source["dockerFile"] == "sandbox/Dockerfile"
    assert source["platform"] == "linux/arm64"
    # And the context holds what the Dockerfile copies and nothing else
    assert {"sandbox/Dockerfile", "pyproject.toml", "README.md"} <= staged
    assert "fixloop/sandbox/__main__.py" in staged
    assert not {p.split("/")[0] for p in staged} - {
        "sandbox",
        "fixloop",
        "pyproject.toml",
        "README.md",
    }
    assert not [p for p in staged if "__pycache__" in p or p.endswith(".pyc")]


def test_dockerfile_runs_commands_as_an_unprivileged_user() -> None:
    # Given the sandbox Dockerfile
    dockerfile = (INVESTIGATION_ASL.parent.parent / "sandbox" / "Dockerfile").read_text()
    instructions = [
        line.split(maxsplit=1)
        for line in dockerfile.splitlines()
        if line.strip() and not line.startswith((" ", "#"))
    ]

    # When its instructions are read
    by_name: dict[str, list[str]] = {}
    for name, argument in instructions:
        by_name.setdefault(name, []).append(argument)

    # Then it starts from python:3.13-slim; the server stays root so that it can start every
    # command as the unprivileged `sandbox` user (docs/security.md), confined with bubblewrap
    # where the platform allows; it exposes 8080, and its CMD (no ENTRYPOINT, which the
    # task's command would not replace) is the task's command
    assert by_name["FROM"] == ["python:3.13-slim"]
    assert by_name["USER"] == ["root"]
    assert "FIXLOOP_SANDBOX_USER=sandbox" in dockerfile
    assert "useradd --system --gid sandbox" in dockerfile
    assert "bubblewrap" in dockerfile and "util-linux" in dockerfile
    # ... and holds the toolchains verification runs tests with besides Python's
    for package in ("nodejs", "npm", "golang-go", "default-jdk-headless", "maven", "make"):
        assert re.search(rf"\s{package}(\s|$)", dockerfile), package
    assert by_name["WORKDIR"][-1] == "/workspace"
    assert by_name["EXPOSE"] == ["8080"]
    assert "ENTRYPOINT" not in by_name
    assert json.loads(by_name["CMD"][0]) == SANDBOX_COMMAND
    assert "pip install --no-cache-dir ." in dockerfile


def test_dispatch_function_runs_in_the_private_subnets_with_the_sandbox_settings(
    template_json: dict[str, Any],
) -> None:
    # Given the dispatch function and the network
    fn = template_json["Resources"][function_ids(template_json)["dispatch_tool"]]["Properties"]
    private = [
        k
        for k, s in resources(template_json, "AWS::EC2::Subnet").items()
        if not s["Properties"]["MapPublicIpOnLaunch"]
    ]
    cluster_id, _ = only(template_json, "AWS::ECS::Cluster")
    task_definition_id, _ = only(template_json, "AWS::ECS::TaskDefinition")
    sandbox_sg = security_group_id(template_json, "fixloop sandbox tasks")
    dispatch_sg = security_group_id(template_json, "fixloop dispatch_tool")

    # When its VPC configuration and environment are read
    vpc = fn["VpcConfig"]
    env = fn["Environment"]["Variables"]

    # Then it is attached to the private subnets with its own security group
    assert sorted(s["Ref"] for s in vpc["SubnetIds"]) == sorted(private)
    assert vpc["SecurityGroupIds"] == [{"Fn::GetAtt": [dispatch_sg, "GroupId"]}]
    # And it knows the cluster, the task definition, where and how to reach a sandbox
    assert env["FIXLOOP_SANDBOX_CLUSTER"] == {"Fn::GetAtt": [cluster_id, "Arn"]}
    assert env["FIXLOOP_SANDBOX_TASK_DEFINITION"] == {"Ref": task_definition_id}
    assert env["FIXLOOP_SANDBOX_SUBNETS"] == {
        "Fn::Join": ["", [{"Ref": private[0]}, ",", {"Ref": private[1]}]]
    }
    assert env["FIXLOOP_SANDBOX_SECURITY_GROUPS"] == {"Fn::GetAtt": [sandbox_sg, "GroupId"]}
    assert (env["FIXLOOP_SANDBOX_CONTAINER"], env["FIXLOOP_SANDBOX_PORT"]) == ("sandbox", "8080")


def test_dispatch_function_runs_only_the_sandbox_task_and_passes_only_its_roles(
    template_json: dict[str, Any],
) -> None:
    # Given the dispatch function's statements and the sandbox resources
    statements = policy_of_role(template_json, role_of_function(template_json, "dispatch_tool"))
    cluster_id, _ = only(template_json, "AWS::ECS::Cluster")
    _, task_definition = only(template_json, "AWS::ECS::TaskDefinition")
    tables = table_ids(template_json)

    def granted(action: str) -> list[dict[str, Any]]:
        return [s for s in statements if action in actions(s)]

    # When / Then it runs revisions of the sandbox task definition's family (the one its
    # environment names, and those older versions of it name), on the sandbox cluster only
    (run,) = granted("ecs:RunTask")
    assert task_definition["Properties"]["Family"] == SANDBOX_FAMILY
    assert run["Resource"] == family_arn_json()
    assert run["Condition"] == {"ArnEquals": {"ecs:cluster": {"Fn::GetAtt": [cluster_id, "Arn"]}}}
    # And it describes, stops (and tags at launch) the cluster's tasks only
    for action in ("ecs:DescribeTasks", "ecs:StopTask", "ecs:TagResource"):
        (statement,) = granted(action)
        assert f'":task/", {{"Ref": "{cluster_id}"}}, "/*"' in json.dumps(statement["Resource"])
    assert granted("ecs:TagResource")[0]["Condition"] == {
        "StringEquals": {"ecs:CreateAction": "RunTask"}
    }
    # And it passes the task and execution roles, to ECS tasks only
    (pass_role,) = granted("iam:PassRole")
    assert pass_role["Resource"] == [
        task_definition["Properties"]["TaskRoleArn"],
        task_definition["Properties"]["ExecutionRoleArn"],
    ]
    assert pass_role["Condition"] == {
        "StringEquals": {"iam:PassedToService": "ecs-tasks.amazonaws.com"}
    }
    # And it answers task tokens of the investigation state machine (a recorded result) and
    # heartbeats them (a sandbox starting), never fails one
    (answer,) = granted("states:SendTaskSuccess")
    assert set(actions(answer)) == {"states:SendTaskSuccess", "states:SendTaskHeartbeat"}
    assert answer["Resource"] == state_machine_arn_json()
    assert not granted("states:SendTaskFailure")
    # And it writes the Sandboxes table, but only reads Events and Investigations
    written = {
        r["Fn::GetAtt"][0]
        for s in statements
        if "dynamodb:PutItem" in actions(s)
        for r in statement_resources(s)
    }
    read = {
        r["Fn::GetAtt"][0]
        for s in statements
        if "dynamodb:GetItem" in actions(s)
        for r in statement_resources(s)
    }
    assert written == {tables["Sandboxes"]}
    assert read == {tables[t] for t in ("Events", "Investigations", "Sandboxes")}


def test_dispatch_function_signs_only_sandbox_objects_and_invokes_only_repo_token(
    template_json: dict[str, Any],
) -> None:
    # Given the dispatch function's statements, the bucket and the Repo Token function
    statements = policy_of_role(template_json, role_of_function(template_json, "dispatch_tool"))
    blobs_id = blobs_bucket_id(template_json)
    repo_token = function_ids(template_json, "entry point")["repo_token"]
    fn = template_json["Resources"][function_ids(template_json)["dispatch_tool"]]["Properties"]

    def objects(key: str) -> dict[str, Any]:
        return {"Fn::Join": ["", [{"Fn::GetAtt": [blobs_id, "Arn"]}, f"/{key}"]]}

    # When its S3, KMS and Lambda statements are read
    def granted(prefix: str) -> list[dict[str, Any]]:
        return [s for s in statements if any(a.startswith(prefix) for a in actions(s))]

    s3 = {
        (a, json.dumps(r))
        for s in granted("s3:")
        for a in actions(s)
        for r in statement_resources(s)
    }

    # Then it gets a workspace snapshot and puts snapshots and results (for the URLs it signs
    # a sandbox), reads event bodies, and lists only the snapshots' keys (a missing one is
    # 404 to the sandbox's pre-signed GET): nothing else of the bucket
    snapshot, result = "sandboxes/*/workspace.json", "sandboxes/*/results/*.json"
    assert s3 == {
        ("s3:GetObject", json.dumps(objects(snapshot))),
        ("s3:PutObject", json.dumps(objects(snapshot))),
        ("s3:PutObject", json.dumps(objects(result))),
        ("s3:GetObject", json.dumps(objects("events/*"))),
        ("s3:ListBucket", json.dumps({"Fn::GetAtt": [blobs_id, "Arn"]})),
    }
    (listing,) = [s for s in granted("s3:") if "s3:ListBucket" in actions(s)]
    assert listing["Condition"] == {"StringLike": {"s3:prefix": [snapshot]}}
    # And it may use the data key for what it signs (a pre-signed PUT or GET of an SSE-KMS
    # object acts with the signer's permissions)
    assert any(
        {"kms:GenerateDataKey", "kms:Decrypt"} <= set(actions(s))
        and s["Resource"] == {"Fn::GetAtt": [only(template_json, "AWS::KMS::Key")[0], "Arn"]}
        for s in granted("kms:")
    )
    # And it invokes Repo Token, by its unqualified ARN, and knows its name
    (invoke,) = granted("lambda:")
    assert actions(invoke) == ["lambda:InvokeFunction"]
    assert invoke["Resource"] == {"Fn::GetAtt": [repo_token, "Arn"]}
    assert fn["Environment"]["Variables"]["FIXLOOP_REPO_TOKEN_FUNCTION"] == {"Ref": repo_token}


def test_sandbox_task_role_answers_task_tokens_and_nothing_else(
    template_json: dict[str, Any],
) -> None:
    # Given the sandbox task role and everything attached to it
    role_id = sandbox_task_role(template_json)
    role = template_json["Resources"][role_id]["Properties"]
    statements = policy_of_role(template_json, role_id)

    # When / Then its one statement answers task tokens of the investigation state machine:
    # no table, no bucket, no key, no function, no ECS, no IAM, no wildcard, no condition
    assert statements == [
        {
            "Action": [
                "states:SendTaskSuccess",
                "states:SendTaskFailure",
                "states:SendTaskHeartbeat",
            ],
            "Effect": "Allow",
            "Resource": state_machine_arn_json(),
        }
    ]
    # And nothing is attached to it any other way
    assert "ManagedPolicyArns" not in role and "Policies" not in role
    assert not [
        p
        for p in resources(template_json, "AWS::IAM::ManagedPolicy").values()
        if {"Ref": role_id} in p["Properties"].get("Roles", [])
    ]
    # And only ECS tasks can assume it
    (trust,) = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "ecs-tasks.amazonaws.com"}


def test_sandbox_execution_role_pulls_the_image_and_writes_logs_only(
    template_json: dict[str, Any],
) -> None:
    # Given the sandbox task definition's execution role
    _, task_definition = only(template_json, "AWS::ECS::TaskDefinition")
    role_id = task_definition["Properties"]["ExecutionRoleArn"]["Fn::GetAtt"][0]

    # When its actions are collected
    granted = {a for s in policy_of_role(template_json, role_id) for a in actions(s)}

    # Then they are ECR pulls and log writes
    assert granted == {
        "ecr:BatchCheckLayerAvailability",
        "ecr:GetDownloadUrlForLayer",
        "ecr:BatchGetImage",
        "ecr:GetAuthorizationToken",
        "logs:CreateLogStream",
        "logs:PutLogEvents",
    }


def test_sandbox_acknowledgments_are_scoped_and_have_reasons(stack: FixloopStack) -> None:
    # Given the acknowledgments on the sandbox's constructs and on the dispatcher's role
    by_rule = acknowledgments(stack.sandbox.node.find_all())
    dispatcher = acknowledgments([stack.functions.roles["dispatch_tool"]])

    def objects(key: str) -> str:
        return iam5_resource(flatten(stack.storage.blobs.arn_for_objects(key), stack))

    # When / Then the sandbox's are ECR's authorization wildcard (the execution role) and the
    # environment without secrets manager (ECS2, whose reason says what it holds); the task
    # role needs none: it has no wildcard
    assert set(by_rule) == {iam5_resource("*"), "AwsSolutions-ECS2"}
    ((path, reason),) = by_rule["AwsSolutions-ECS2"]
    assert path == stack.sandbox.task_definition.node.path
    assert "region" in reason and "no table, bucket or secret" in reason
    ((path, _),) = by_rule[iam5_resource("*")]
    assert path == stack.sandbox.execution_role.node.path
    # And the dispatcher's wildcards are X-Ray and the VPC's interfaces, the cluster's tasks,
    # event bodies and the two sandbox key patterns, each with a reason
    cluster = stack.resolve(stack.sandbox.cluster.cluster_name)["Ref"]
    tasks = iam5_resource(
        f"arn:<AWS::Partition>:ecs:<AWS::Region>:<AWS::AccountId>:task/<{cluster}>/*"
    )
    family = iam5_resource(
        "arn:<AWS::Partition>:ecs:<AWS::Region>:<AWS::AccountId>:task-definition/fixloop-sandbox:*"
    )
    assert set(dispatcher) == {
        iam5_resource("*"),
        tasks,
        family,
        objects("events/*"),
        objects("sandboxes/*/workspace.json"),
        objects("sandboxes/*/results/*.json"),
    }
    assert all(reason.strip() for places in dispatcher.values() for _, reason in places)


def test_a_new_sandbox_revision_reaches_the_dispatch_tool_version_the_state_machine_names(
    tmp_path: Path, prebuilt_layer: Path
) -> None:
    # Given the stack with one sandbox image and with the next (as a new image asset, or a
    # new SandboxImageUri of the standalone template: the container definition changes)
    before = synth_template(
        tmp_path / "before", prebuilt_layer, **{CONTEXT_SANDBOX_IMAGE_URI: f"{REGISTRY}:1.0.0"}
    )
    after = synth_template(
        tmp_path / "after", prebuilt_layer, **{CONTEXT_SANDBOX_IMAGE_URI: f"{REGISTRY}:1.0.1"}
    )
    task_definition_id, task_definition = only(after, "AWS::ECS::TaskDefinition")
    versions = {
        folder: version_id
        for version_id, version in resources(after, "AWS::Lambda::Version").items()
        for folder, fn_id in function_ids(after).items()
        if version["Properties"]["FunctionName"] == {"Ref": fn_id}
    }

    # When CloudFormation updates the one into the other
    replaced = replaced_on_update(before, after)

    # Then the task definition is replaced (a new revision), and the revision it replaces is
    # kept registered, not deregistered
    assert task_definition_id in replaced
    assert task_definition["UpdateReplacePolicy"] == "Retain"
    # And Dispatch Tool's published version is replaced too (its description names the
    # revision, and is create-only): a new version is published with the new revision in its
    # environment, and the old version is retained for the executions still running on it
    dispatch_version = after["Resources"][versions["dispatch_tool"]]
    assert versions["dispatch_tool"] in replaced
    (_, described) = dispatch_version["Properties"]["Description"]["Fn::Join"]
    assert {"Ref": task_definition_id} in described
    assert dispatch_version["UpdateReplacePolicy"] == "Retain"
    fn = after["Resources"][function_ids(after)["dispatch_tool"]]["Properties"]
    assert fn["Environment"]["Variables"]["FIXLOOP_SANDBOX_TASK_DEFINITION"] == {
        "Ref": task_definition_id
    }
    # And that is the version the state machine names, so its next version dispatches to
    # the new revision; the other loop steps keep their versions
    substitutions = state_machine(after)["Properties"]["DefinitionSubstitutions"]
    assert substitutions["DispatchToolFunctionArn"] == {"Ref": versions["dispatch_tool"]}
    assert replaced & set(versions.values()) == {versions["dispatch_tool"]}
    # And the dispatcher's role may run every revision of the family: the new one, and the
    # retained one the old version names
    statements = policy_of_role(after, role_of_function(after, "dispatch_tool"))
    (run,) = [s for s in statements if "ecs:RunTask" in actions(s)]
    assert run["Resource"] == family_arn_json()
    assert task_definition["Properties"]["Family"] == SANDBOX_FAMILY
