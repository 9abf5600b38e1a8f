"""The Lambda functions (stacks/constructs/functions.py) and the catalogue they are built from
(fixloop/functions.py): runtime, layer, sizes, environment, log groups."""

from __future__ import annotations

import ast
import json
from typing import Any

from aws_cdk.assertions import Template

from fixloop.functions import AFTERCARE_STEPS, CATALOGUE, LOOP_STEPS, Surface, spec_of
from stacks.constructs.functions import FUNCTIONS_DIR
from tests.infra.support import (
    STATE_MACHINE_NAME,
    all_function_ids,
    function_ids,
    resources,
    shared_layer_id,
    table_ids,
)


def test_the_template_has_exactly_the_catalogued_functions_at_their_sizes(
    template_json: dict[str, Any],
) -> None:
    # Given every Lambda function of the template, by its description ("fixloop <surface>:
    # <folder>"), but the one CloudFormation runs to deploy the live view (CDK's provider of
    # the Custom::CDKBucketDeployment resource), and the catalogue the app is built from
    providers = {
        r["Properties"]["ServiceToken"]["Fn::GetAtt"][0]
        for r in resources(template_json, "Custom::CDKBucketDeployment").values()
    }
    functions = resources(template_json, "AWS::Lambda::Function")
    deployed = {
        fn["Properties"]["Description"]: fn["Properties"]
        for logical_id, fn in functions.items()
        if logical_id not in providers
    }

    # When / Then each catalogue entry is one function of the template, with the entry's
    # timeout, memory and handler, and the template has no other function than that provider
    assert len(providers) == 1
    assert len(functions) == len(CATALOGUE) + 1
    assert sorted(deployed) == sorted(spec.description for spec in CATALOGUE)
    for spec in CATALOGUE:
        props = deployed[spec.description]
        assert (props["Timeout"], props["MemorySize"]) == (
            spec.timeout_seconds,
            spec.memory_mb,
        ), spec.folder
        assert props["Handler"] == spec.handler, spec.folder


def test_every_handler_folder_is_catalogued_and_every_entry_has_its_handler() -> None:
    # Given the folders of functions/ that hold a handler module
    folders = {p.parent.name for p in FUNCTIONS_DIR.glob("*/handler.py")}

    # When / Then they are exactly the catalogue's folders
    assert folders == {spec.folder for spec in CATALOGUE}
    # And each entry's handler is a function defined at the top of its module
    for spec in CATALOGUE:
        module = ast.parse((FUNCTIONS_DIR / spec.folder / spec.handler_file).read_text())
        defined = {n.name for n in module.body if isinstance(n, ast.FunctionDef)}
        assert spec.handler_function in defined, spec.folder
    # And the folders and construct ids are unique, and only the steps of a state machine
    # (the loop's, the aftercare's) have a placeholder
    assert len({spec.folder for spec in CATALOGUE}) == len(CATALOGUE)
    assert len({spec.construct_id for spec in CATALOGUE}) == len(CATALOGUE)
    assert [s.folder for s in CATALOGUE if s.asl_placeholder] == [
        s.folder for s in CATALOGUE if s in (*LOOP_STEPS, *AFTERCARE_STEPS)
    ]
    assert all(s.surface is Surface.LOOP for s in LOOP_STEPS)
    assert [s.folder for s in AFTERCARE_STEPS] == ["aftercare"]
    assert all(s.surface is Surface.AFTERCARE for s in AFTERCARE_STEPS)
    # And a function invoked by another is catalogued as invoked by name (the embedded
    # runtime registers those), and is not a live function (built elsewhere)
    invoked = {folder for spec in CATALOGUE for folder in spec.invokes}
    assert invoked == {"repo_token"}
    assert all(
        spec_of(f).invoked_by_name and spec_of(f).surface is not Surface.LIVE for f in invoked
    )


def test_loop_functions_on_python313_arm64_with_the_layer(
    template_json: dict[str, Any],
) -> None:
    # Given the functions and the layer of the template
    ids = function_ids(template_json)
    layer_id = shared_layer_id(template_json)

    # When each loop function's properties are read
    # Then each runs handler.lambda_handler on python3.13/arm64 with the layer, traced,
    # with its own memory and timeout
    assert set(ids) == {spec.folder for spec in LOOP_STEPS}
    for spec in LOOP_STEPS:
        name, timeout, memory = spec.folder, spec.timeout_seconds, spec.memory_mb
        props = template_json["Resources"][ids[name]]["Properties"]
        assert props["Runtime"] == "python3.13", name
        assert props["Architectures"] == ["arm64"], name
        assert props["Handler"] == "handler.lambda_handler", name
        assert props["Layers"] == [{"Ref": layer_id}], name
        assert props["TracingConfig"] == {"Mode": "Active"}, name
        assert (props["Timeout"], props["MemorySize"]) == (timeout, memory), name
    layer = template_json["Resources"][layer_id]["Properties"]
    assert layer["CompatibleRuntimes"] == ["python3.13"]
    assert layer["CompatibleArchitectures"] == ["arm64"]


def test_functions_environment(template_json: dict[str, Any]) -> None:
    # Given the functions' environments
    ids = function_ids(template_json)
    envs = {
        name: template_json["Resources"][ids[name]]["Properties"]["Environment"]["Variables"]
        for name in (spec.folder for spec in LOOP_STEPS)
    }
    tables = table_ids(template_json)

    # When / Then every function gets the tables, bucket, model and Powertools settings
    for name, env in envs.items():
        assert env["FIXLOOP_EVENTS_TABLE"] == {"Ref": tables["Events"]}, name
        assert env["FIXLOOP_INVESTIGATIONS_TABLE"] == {"Ref": tables["Investigations"]}, name
        assert env["FIXLOOP_SANDBOXES_TABLE"] == {"Ref": tables["Sandboxes"]}, name
        assert env["FIXLOOP_FINGERPRINTS_TABLE"] == {"Ref": tables["Fingerprints"]}, name
        assert "FIXLOOP_BLOBS_BUCKET" in env, name
        assert env["FIXLOOP_MODEL"] == "bedrock", name
        assert env["POWERTOOLS_SERVICE_NAME"] == "fixloop", name
        assert env["POWERTOOLS_METRICS_NAMESPACE"] == "fixloop", name
        assert env["LOG_LEVEL"] == "INFO", name
    # And only prepare (continue-as-new) and the steps that wake a stopped investigation for
    # new messages know the state machine ARN, only model_turn the Anthropic secret
    assert [n for n, e in envs.items() if "FIXLOOP_STATE_MACHINE_ARN" in e] == [
        "prepare",
        "deliver",
        "wait_for_human",
    ]
    assert [n for n, e in envs.items() if "FIXLOOP_ANTHROPIC_SECRET_ARN" in e] == ["model_turn"]
    # And only dispatch_tool knows how to run a sandbox; it and the steps that close an
    # investigation (and stop its sandbox) know the cluster
    assert [n for n, e in envs.items() if "FIXLOOP_SANDBOX_TASK_DEFINITION" in e] == [
        "dispatch_tool"
    ]
    assert [n for n, e in envs.items() if "FIXLOOP_SANDBOX_CLUSTER" in e] == [
        "deliver",
        "mark_failed",
        "dispatch_tool",
    ]
    assert f":stateMachine:{STATE_MACHINE_NAME}" in json.dumps(
        envs["prepare"]["FIXLOOP_STATE_MACHINE_ARN"]
    )


def test_log_groups_keep_one_month(template: Template, template_json: dict[str, Any]) -> None:
    # Given / When the app is synthesized
    # Then one log group per function plus the two state machines' (the loop's, the
    # aftercare's), the sandbox tasks', the VPC flow logs', the webhook API's access and
    # execution logs and the live view deployment's, each kept 30 days
    log_groups = resources(template_json, "AWS::Logs::LogGroup")
    # (the catalogue: loop steps, the aftercare step, entry points and the live functions)
    assert len(log_groups) == len(CATALOGUE) + 7
    for group in log_groups.values():
        assert group["Properties"]["RetentionInDays"] == 30
    aftercare_steps = function_ids(template_json, "aftercare step")
    assert set(aftercare_steps) == {"aftercare"}
    for fn_id in [*all_function_ids(template_json).values(), *aftercare_steps.values()]:
        logging = template_json["Resources"][fn_id]["Properties"]["LoggingConfig"]
        assert logging["LogGroup"]["Ref"] in log_groups
