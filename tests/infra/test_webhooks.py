"""The REST API (stacks/constructs/webhooks.py): the GitHub webhook, the Slack and Linear
webhooks, the investigations API, POST /signals, their secrets and acknowledgments."""

from __future__ import annotations

import json
import re
from typing import Any

from fixloop.config import AFTERCARE_STATE_MACHINE_NAME
from fixloop.functions import CATALOGUE, Surface
from stacks import FixloopStack
from stacks.constructs.webhooks import ACCESS_LOG_FIELDS
from tests.infra.support import (
    acknowledgments,
    actions,
    all_function_ids,
    function_ids,
    only,
    permissions_of,
    policy_of_role,
    resources,
    role_of_function,
    shared_layer_id,
    state_machine,
    state_machine_arn_json,
    statement_resources,
    table_ids,
    webhook_secret_id,
)

WEBHOOK_API_NAME = "fixloop-webhooks"


def test_webhook_secret_is_generated_40_letters_and_digits(
    template_json: dict[str, Any],
) -> None:
    # Given the webhook secret
    secret_id = webhook_secret_id(template_json)
    props = template_json["Resources"][secret_id]["Properties"]

    # When / Then its value is generated at deploy time (never in the template): 40
    # characters, no punctuation, no spaces
    assert "SecretString" not in props
    assert props["GenerateSecretString"] == {
        "PasswordLength": 40,
        "ExcludePunctuation": True,
        "IncludeSpace": False,
    }
    assert "GenerateStringKey" not in props["GenerateSecretString"]
    # And its ARN is an output, for `aws secretsmanager get-secret-value`
    assert template_json["Outputs"]["GitHubWebhookSecretArn"]["Value"] == {"Ref": secret_id}


def test_webhook_api_posts_github_deliveries_to_the_webhook_function(
    template_json: dict[str, Any],
) -> None:
    # Given the REST API, its resources, methods and the webhook function
    api_id, api = only(template_json, "AWS::ApiGateway::RestApi")
    fn_id = function_ids(template_json, "entry point")["github_webhook"]
    api_resources = resources(template_json, "AWS::ApiGateway::Resource")
    methods = resources(template_json, "AWS::ApiGateway::Method")

    # When the resource tree is walked from the root
    paths: dict[str, str] = {}
    for logical_id, resource in api_resources.items():
        props = resource["Properties"]
        assert props["RestApiId"] == {"Ref": api_id}
        paths[logical_id] = props["PathPart"]
    (github_id,) = (k for k, part in paths.items() if part == "github")
    parent = api_resources[github_id]["Properties"]["ParentId"]
    (webhooks_id,) = (k for k, part in paths.items() if part == "webhooks")
    root = api_resources[webhooks_id]["Properties"]["ParentId"]

    # Then the regional API fixloop-webhooks has /webhooks/{github,slack,linear}, /signals,
    # /investigations/{investigation_id}(/messages), /stats and nothing else
    assert api["Properties"]["Name"] == WEBHOOK_API_NAME
    assert api["Properties"]["EndpointConfiguration"] == {"Types": ["REGIONAL"]}
    assert sorted(paths.values()) == [
        "github",
        "investigations",
        "linear",
        "messages",
        "signals",
        "slack",
        "stats",
        "webhooks",
        "{investigation_id}",
    ]
    assert parent == {"Ref": webhooks_id}
    assert root == {"Fn::GetAtt": [api_id, "RootResourceId"]}
    # And the one method of /webhooks/github, POST, without authorizer, is a Lambda proxy to
    # github_webhook
    (method,) = (m for m in methods.values() if m["Properties"]["ResourceId"] == {"Ref": github_id})
    props = method["Properties"]
    assert (props["HttpMethod"], props["ResourceId"]) == ("POST", {"Ref": github_id})
    assert props["AuthorizationType"] == "NONE"
    assert "RequestValidatorId" not in props
    integration = props["Integration"]
    assert (integration["Type"], integration["IntegrationHttpMethod"]) == ("AWS_PROXY", "POST")
    assert {"Fn::GetAtt": [fn_id, "Arn"]} in integration["Uri"]["Fn::Join"][1]
    assert "RequestTemplates" not in integration
    # And only API Gateway's deployed POST /webhooks/github may invoke the function (no
    # test-invoke permission)
    permissions = [
        p["Properties"]
        for p in resources(template_json, "AWS::Lambda::Permission").values()
        if p["Properties"]["FunctionName"] == {"Fn::GetAtt": [fn_id, "Arn"]}
    ]
    (permission,) = permissions
    assert permission["Principal"] == "apigateway.amazonaws.com"
    source = permission["SourceArn"]["Fn::Join"][1]
    assert {"Ref": api_id} in source
    assert source[-1] == "/POST/webhooks/github"
    # And the URL to give GitHub is the stage's URL + webhooks/github
    (_, stage) = only(template_json, "AWS::ApiGateway::Stage")
    url = template_json["Outputs"]["GitHubWebhookUrl"]["Value"]["Fn::Join"][1]
    assert url[0] == "https://" and {"Ref": api_id} in url
    assert url[-1] == "/webhooks/github"
    assert stage["Properties"]["StageName"] == "v1"


def test_webhook_stage_throttles_traces_and_writes_json_access_logs(
    template_json: dict[str, Any],
) -> None:
    # Given the API's one stage
    stage_id, stage = only(template_json, "AWS::ApiGateway::Stage")
    props = stage["Properties"]

    # When its method settings and access log setting are read
    settings, *per_method = props["MethodSettings"]
    access = props["AccessLogSetting"]
    log_group_id = access["DestinationArn"]["Fn::GetAtt"][0]
    # (API Gateway substitutes each $context variable; error.messageString comes quoted)
    line = json.loads(re.sub(r'"?\$context\.[\w.]+"?', '"x"', access["Format"]))

    # Then stage v1 is traced, throttled at 50 requests/s with bursts of 100, with metrics
    # and ERROR execution logs, but no request/response bodies in the logs
    assert props["StageName"] == "v1"
    assert props["TracingEnabled"] is True
    assert settings == {
        "HttpMethod": "*",
        "ResourcePath": "/*",
        "ThrottlingRateLimit": 50,
        "ThrottlingBurstLimit": 100,
        "MetricsEnabled": True,
        "LoggingLevel": "ERROR",
        "DataTraceEnabled": False,
    }
    # And each method has its own limit: signals (each may start an investigation) lower
    limits = {
        m["ResourcePath"]: (m["HttpMethod"], m["ThrottlingRateLimit"], m["ThrottlingBurstLimit"])
        for m in per_method
    }
    assert limits == {"/~1webhooks~1github": ("POST", 50, 100), "/~1signals": ("POST", 10, 20)}
    # And access logs go, one JSON object a request, to a log group kept a month
    log_group = template_json["Resources"][log_group_id]
    assert log_group["Type"] == "AWS::Logs::LogGroup"
    assert log_group["Properties"]["RetentionInDays"] == 30
    assert set(line) == set(ACCESS_LOG_FIELDS)
    assert {"requestId", "ip", "status", "httpMethod", "resourcePath", "requestTime"} <= set(line)
    for name, variable in {
        "requestId": "$context.requestId",
        "ip": "$context.identity.sourceIp",
        "status": "$context.status",
    }.items():
        assert f'"{name}":"{variable}"' in access["Format"]
    # And execution logs have a log group kept a month, created before the stage
    (execution_logs,) = (
        k
        for k, g in resources(template_json, "AWS::Logs::LogGroup").items()
        if "API-Gateway-Execution-Logs_" in json.dumps(g["Properties"].get("LogGroupName"))
    )
    assert template_json["Resources"][execution_logs]["Properties"]["RetentionInDays"] == 30
    assert execution_logs in stage["DependsOn"]
    # And the account-level CloudWatch role API Gateway logs with is set before the stage
    account_id, account = only(template_json, "AWS::ApiGateway::Account")
    assert account_id in stage["DependsOn"]
    role = template_json["Resources"][account["Properties"]["CloudWatchRoleArn"]["Fn::GetAtt"][0]]
    (trust,) = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "apigateway.amazonaws.com"}
    assert "AmazonAPIGatewayPushToCloudWatchLogs" in json.dumps(role["Properties"])
    assert stage_id


def test_webhook_function_outside_the_vpc_with_its_secret_and_the_state_machine(
    template_json: dict[str, Any],
) -> None:
    # Given the webhook function, the other functions and the webhook secret
    entry = function_ids(template_json, "entry point")
    props = template_json["Resources"][entry["github_webhook"]]["Properties"]
    env = props["Environment"]["Variables"]
    tables = table_ids(template_json)
    layer_id = shared_layer_id(template_json)

    # When / Then it is an entry point (with the triggers), on python3.13/arm64 with the
    # layer, traced, 30 s, and not attached to the VPC
    assert set(entry) == {spec.folder for spec in CATALOGUE if spec.surface is Surface.ENTRY}
    assert (props["Runtime"], props["Architectures"]) == ("python3.13", ["arm64"])
    assert props["Handler"] == "handler.lambda_handler"
    assert props["Layers"] == [{"Ref": layer_id}]
    assert props["TracingConfig"] == {"Mode": "Active"}
    assert (props["Timeout"], props["MemorySize"]) == (30, 512)
    assert "VpcConfig" not in props
    # And it knows the tables, the webhook secret and the state machine it resumes
    assert env["FIXLOOP_EVENTS_TABLE"] == {"Ref": tables["Events"]}
    assert env["FIXLOOP_INVESTIGATIONS_TABLE"] == {"Ref": tables["Investigations"]}
    assert env["FIXLOOP_GITHUB_WEBHOOK_SECRET_ARN"] == {"Ref": webhook_secret_id(template_json)}
    assert env["FIXLOOP_STATE_MACHINE_ARN"] == state_machine_arn_json("live")
    assert env["POWERTOOLS_SERVICE_NAME"] == "fixloop"
    # And no other function knows the webhook secret
    assert [
        name
        for name, fn_id in all_function_ids(template_json).items()
        if "FIXLOOP_GITHUB_WEBHOOK_SECRET_ARN"
        in template_json["Resources"][fn_id]["Properties"]["Environment"]["Variables"]
    ] == ["github_webhook"]
    # And the state machine does not invoke it (not a loop step)
    substitutions = state_machine(template_json)["Properties"]["DefinitionSubstitutions"]
    assert entry["github_webhook"] not in json.dumps(substitutions)


def test_webhook_role_reads_its_secret_starts_the_state_machine_and_writes_records_only(
    template_json: dict[str, Any],
) -> None:
    # Given the webhook function's role and statements, and the resources it should reach
    role_id = role_of_function(template_json, "github_webhook")
    statements = policy_of_role(template_json, role_id)
    tables = table_ids(template_json)
    secret = {"Ref": webhook_secret_id(template_json)}

    def granted(prefix: str) -> list[dict[str, Any]]:
        return [s for s in statements if any(a.startswith(prefix) for a in actions(s))]

    # When / Then it may read the value of the webhook secret, and nothing else of Secrets
    # Manager (no DescribeSecret, no other secret)
    (secret_read,) = granted("secretsmanager:")
    assert actions(secret_read) == ["secretsmanager:GetSecretValue"]
    assert statement_resources(secret_read) == [secret]
    # And it may start executions of the investigation state machine and answer its task
    # tokens (a comment resumes a waiting investigation), start the aftercare of a merged fix,
    # and do nothing else with either
    by_machine: dict[str, set[str]] = {}
    for st in granted("states:"):
        for resource in statement_resources(st):
            by_machine.setdefault(json.dumps(resource), set()).update(actions(st))
    assert by_machine == {
        json.dumps(state_machine_arn_json()): {"states:SendTaskSuccess", "states:StartExecution"},
        json.dumps(state_machine_arn_json(name=AFTERCARE_STATE_MACHINE_NAME)): {
            "states:StartExecution"
        },
    }
    # And it reads and writes Events, Investigations, Inbox and Waits, not Sandboxes
    written = {
        r["Fn::GetAtt"][0]
        for s in granted("dynamodb:")
        if "dynamodb:PutItem" in actions(s)
        for r in statement_resources(s)
    }
    touched = {r["Fn::GetAtt"][0] for s in granted("dynamodb:") for r in statement_resources(s)}
    assert (
        written
        == touched
        == {
            tables["Events"],
            tables["Investigations"],
            tables["Inbox"],
            tables["Waits"],
        }
    )
    # (event bodies of the blobs bucket: one too large for an item goes there; nothing else
    # of the bucket, no listing)
    assert sorted(a for st in granted("s3:") for a in actions(st)) == [
        "s3:GetObject",
        "s3:PutObject",
    ]
    assert all(
        json.dumps(r).endswith('"/events/*"]]}')
        for st in granted("s3:")
        for r in statement_resources(st)
    )
    assert not granted("ec2:") and not granted("ecs:")
    assert not granted("iam:") and not granted("bedrock:")
    # And every statement is one of those, its log group's, or X-Ray's
    assert {a.split(":")[0] for s in statements for a in actions(s)} == {
        "secretsmanager",
        "kms",
        "states",
        "dynamodb",
        "s3",
        "logs",
        "xray",
    }
    # And no other role may read the webhook secret
    readers = {
        json.dumps(policy["Properties"]["Roles"])
        for policy in resources(template_json, "AWS::IAM::Policy").values()
        for s in policy["Properties"]["PolicyDocument"]["Statement"]
        if secret in statement_resources(s)
    }
    assert readers == {json.dumps([{"Ref": role_id}])}


def test_webhook_acknowledgments_are_scoped_and_have_reasons(stack: FixloopStack) -> None:
    # Given the cdk-nag acknowledgments recorded on the webhook constructs
    by_rule = acknowledgments([stack.github_webhook_secret, *stack.webhooks.node.find_all()])
    several = {"AwsSolutions-COG4", "AwsSolutions-APIG4"}
    assert all(len(places) == 1 for rule, places in by_rule.items() if rule not in several)
    acknowledged = {rule: places[0] for rule, places in by_rule.items()}

    # When / Then the open methods (no authorizer, no Cognito) are acknowledged on those
    # methods alone, because GitHub, Slack and Linear sign their deliveries
    method_path = stack.webhooks.github_method.node.path
    signed = [m.node.path for m in stack.webhooks.channel_methods]
    open_methods = dict(by_rule["AwsSolutions-APIG4"])
    assert set(open_methods) == {method_path, *signed}
    assert "X-Hub-Signature-256" in open_methods[method_path]
    assert all("X-Slack-Signature" in open_methods[p] for p in signed)
    # And Cognito's absence on those methods and on the IAM-authorized /signals and
    # /investigations, each for its own reason
    cognito = dict(by_rule["AwsSolutions-COG4"])
    iam_paths = [m.node.path for m in stack.webhooks.investigation_methods]
    assert set(cognito) == {
        method_path,
        stack.webhooks.signals_method.node.path,
        *signed,
        *iam_paths,
    }
    assert "X-Hub-Signature-256" in cognito[method_path]
    assert "AWS_IAM" in cognito[stack.webhooks.signals_method.node.path]
    assert all("AWS_IAM" in cognito[p] for p in iam_paths)
    # And the missing request validator, because the body must reach the function unchanged
    path, reason = acknowledged["AwsSolutions-APIG2"]
    assert path == stack.webhooks.api.node.path
    assert "byte for byte" in reason
    # And the WAF-less stage, the managed CloudWatch policy and the unrotated secret
    assert acknowledged["AwsSolutions-APIG3"][0] == stack.webhooks.api.deployment_stage.node.path
    assert acknowledged["AwsSolutions-SMG4"][0] == stack.github_webhook_secret.node.path
    (iam4,) = (rule for rule in acknowledged if rule.startswith("AwsSolutions-IAM4"))
    assert iam4.endswith("service-role/AmazonAPIGatewayPushToCloudWatchLogs]")
    assert all(reason.strip() for places in by_rule.values() for _, reason in places)


def test_signals_are_posted_with_iam_authorization_to_the_api_trigger(
    template_json: dict[str, Any],
) -> None:
    # Given the REST API, the /signals resource and the api trigger
    api_id, _ = only(template_json, "AWS::ApiGateway::RestApi")
    fn_id = function_ids(template_json, "entry point")["api_trigger"]
    ((signals_id, signals),) = (
        (k, r)
        for k, r in resources(template_json, "AWS::ApiGateway::Resource").items()
        if r["Properties"]["PathPart"] == "signals"
    )

    # When the methods of /signals are read
    methods = [
        m["Properties"]
        for m in resources(template_json, "AWS::ApiGateway::Method").values()
        if m["Properties"]["ResourceId"] == {"Ref": signals_id}
    ]

    # Then /signals hangs off the root and has one method, POST, with IAM authorization
    # (SigV4-signed requests; execute-api:Invoke checked before the function runs)
    assert signals["Properties"]["ParentId"] == {"Fn::GetAtt": [api_id, "RootResourceId"]}
    (props,) = methods
    assert props["HttpMethod"] == "POST"
    assert props["AuthorizationType"] == "AWS_IAM"
    assert "AuthorizerId" not in props
    # And it is a Lambda proxy integration of api_trigger
    integration = props["Integration"]
    assert (integration["Type"], integration["IntegrationHttpMethod"]) == ("AWS_PROXY", "POST")
    assert {"Fn::GetAtt": [fn_id, "Arn"]} in integration["Uri"]["Fn::Join"][1]
    # And only the deployed POST /signals may invoke the function
    (permission,) = permissions_of(template_json, fn_id)
    assert permission["Principal"] == "apigateway.amazonaws.com"
    source = permission["SourceArn"]["Fn::Join"][1]
    assert {"Ref": api_id} in source
    assert source[-1] == "/POST/signals"
    # And the URL is an output
    url = template_json["Outputs"]["SignalsUrl"]["Value"]["Fn::Join"][1]
    assert url[0] == "https://" and {"Ref": api_id} in url
    assert url[-1] == "/signals"


def _methods(template_json: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """'METHOD /path' -> method properties."""
    res = resources(template_json, "AWS::ApiGateway::Resource")

    def path(ref: Any) -> str:
        if not isinstance(ref, dict) or "Ref" not in ref:
            return ""
        r = res[ref["Ref"]]["Properties"]
        return path(r["ParentId"]) + "/" + str(r["PathPart"])

    return {
        f"{m['Properties']['HttpMethod']} {path(m['Properties']['ResourceId'])}": m["Properties"]
        for m in resources(template_json, "AWS::ApiGateway::Method").values()
    }


def test_channel_routes_signed_or_iam_authorized(template_json: dict[str, Any]) -> None:
    # Given the REST API's methods
    methods = _methods(template_json)
    ids = all_function_ids(template_json)
    # Then Slack and Linear POST without an authorizer (they sign), to their functions
    for route, fn in (
        ("POST /webhooks/slack", "slack_events"),
        ("POST /webhooks/linear", "linear_webhook"),
    ):
        assert methods[route]["AuthorizationType"] == "NONE", route
        assert {"Fn::GetAtt": [ids[fn], "Arn"]} in methods[route]["Integration"]["Uri"]["Fn::Join"][
            1
        ]
    # And reading an investigation, posting to it and reading the outcomes need IAM (SigV4)
    for route in (
        "GET /investigations/{investigation_id}",
        "POST /investigations/{investigation_id}/messages",
        "GET /stats",
    ):
        assert methods[route]["AuthorizationType"] == "AWS_IAM", route
        uri = methods[route]["Integration"]["Uri"]["Fn::Join"][1]
        assert {"Fn::GetAtt": [ids["investigations_api"], "Arn"]} in uri
    assert {"SlackEventsUrl", "LinearWebhookUrl", "InvestigationsUrl"} <= set(
        template_json["Outputs"]
    )


def test_channel_secrets_hold_placeholders_to_be_replaced(template_json: dict[str, Any]) -> None:
    secrets = resources(template_json, "AWS::SecretsManager::Secret")
    names = sorted(s["Properties"]["Name"] for s in secrets.values())
    assert names == [
        "fixloop/github-webhook",
        "fixloop/linear-api-key",
        "fixloop/linear-webhook-secret",
        "fixloop/slack-bot-token",
        "fixloop/slack-signing-secret",
    ]
    for secret in secrets.values():
        assert "SecretString" not in secret["Properties"]  # generated, never in the template
        assert "GenerateSecretString" in secret["Properties"]
    assert json.dumps(template_json).count("FIXLOOP_SLACK_SIGNING_SECRET_ARN") == 1
