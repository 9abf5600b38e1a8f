"""The durable loop: the investigation state machine, its ASL inlined from statemachines/.

Upgrades without disturbing running investigations: every deployment that changes the
definition publishes a new state machine version (the old one is retained), and the alias
``live`` points at the newest. Executions started through the alias stay on the version they
started with until they end. The definition names each loop function by its published
*version* ARN, so a state machine version also pins the code its steps run. Continue As New
starts the next generation through the alias (``${ContinueAsNewStateMachineArn}``), so a
long investigation moves to the new version at a generation boundary, where its state is
only ids and counters.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from layers.bundler import PROJECT_ROOT
from stacks.asl import problems
from stacks.nag import acknowledge, flatten, iam5_resource

__all__ = [
    "AFTERCARE_ASL",
    "CONTINUE_AS_NEW_PLACEHOLDER",
    "INVESTIGATION_ASL",
    "STATE_MACHINE_ALIAS",
    "InvalidDefinitionError",
    "InvestigationLoop",
    "MissingSubstitutionError",
    "placeholders",
    "state_machine_arn",
]

INVESTIGATION_ASL = PROJECT_ROOT / "statemachines" / "investigation.asl.json"
AFTERCARE_ASL = PROJECT_ROOT / "statemachines" / "aftercare.asl.json"
"""The aftercare state machine (fixloop.aftercare): the same construct builds it, without
continue-as-new."""
STATE_MACHINE_ALIAS = "live"
"""The alias every execution is started through (triggers, webhooks, continue-as-new)."""
CONTINUE_AS_NEW_PLACEHOLDER = "ContinueAsNewStateMachineArn"
_PLACEHOLDER = re.compile(r"\$\{([^}]*)\}")


class MissingSubstitutionError(ValueError):
    """The ASL file uses a ``${Name}`` that the stack does not provide."""


class InvalidDefinitionError(ValueError):
    """The ASL file has a broken transition, an unreachable state or a Task without Retry."""


def placeholders(definition: str) -> set[str]:
    """The names of the ``${Name}`` definition substitutions used in an ASL text."""
    return set(_PLACEHOLDER.findall(definition))


def state_machine_arn(scope: Construct, name: str, qualifier: str | None = None) -> str:
    """The ARN of the state machine called ``name`` in ``scope``'s stack (with ``qualifier``:
    of its alias or version), built from the name so that its own role and its functions can
    refer to it without a dependency cycle."""
    return cdk.Stack.of(scope).format_arn(
        service="states",
        resource="stateMachine",
        resource_name=f"{name}:{qualifier}" if qualifier else name,
        arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME,
    )


class InvestigationLoop(Construct):
    """The Standard state machine that runs one investigation generation.

    ``functions`` maps ASL placeholders (``PrepareFunctionArn``...) to the published
    function versions they name. Every ``${...}`` in the file must be provided, or synthesis
    fails. ``continues_as_new``: the machine starts its own next generation (the
    investigation loop; not the aftercare machine).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        functions: Mapping[str, lambda_.IVersion],
        state_machine_name: str,
        definition_file: Path = INVESTIGATION_ASL,
        continues_as_new: bool = True,
        description: str = "fixloop investigation loop, published by the CDK deployment",
    ) -> None:
        super().__init__(scope, construct_id)
        definition = definition_file.read_text()
        found = problems(json.loads(definition))
        if found:
            raise InvalidDefinitionError(f"{definition_file}: " + "; ".join(found))
        self.arn = state_machine_arn(self, state_machine_name)
        """This state machine's ARN, built from its name (usable before it exists)."""
        self.alias_arn = state_machine_arn(self, state_machine_name, STATE_MACHINE_ALIAS)
        """The ARN of its ``live`` alias, which executions are started through."""
        substitutions = {name: fn.function_arn for name, fn in functions.items()}
        if continues_as_new:
            substitutions[CONTINUE_AS_NEW_PLACEHOLDER] = self.alias_arn
        missing = placeholders(definition) - substitutions.keys()
        if missing:
            raise MissingSubstitutionError(
                f"{definition_file} uses ${{{', '.join(sorted(missing))}}} but the stack "
                f"provides only {', '.join(sorted(substitutions))}"
            )
        unused = substitutions.keys() - placeholders(definition)
        if unused:
            cdk.Annotations.of(self).add_warning_v2(
                "fixloop:unused-substitution",
                f"{definition_file.name} does not use {', '.join(sorted(unused))}",
            )

        self.log_group = logs.LogGroup(self, "Logs", retention=logs.RetentionDays.ONE_MONTH)
        self.state_machine = sfn.StateMachine(
            self,
            "StateMachine",
            state_machine_name=state_machine_name,
            state_machine_type=sfn.StateMachineType.STANDARD,
            definition_body=sfn.DefinitionBody.from_string(definition),
            definition_substitutions=substitutions,
            logs=sfn.LogOptions(
                destination=self.log_group,
                level=sfn.LogLevel.ERROR,
                include_execution_data=False,
            ),
            tracing_enabled=True,
        )
        # A new version whenever the definition changes (its revision id does), the old one
        # retained on replacement: executions started on it run to their end there.
        self.version = sfn.CfnStateMachineVersion(
            self,
            "Version",
            state_machine_arn=self.state_machine.state_machine_arn,
            state_machine_revision_id=self.state_machine.state_machine_revision_id,
            description=description,
        )
        # (Deleting the stack deletes the state machine, and with it every version.)
        self.version.apply_removal_policy(cdk.RemovalPolicy.RETAIN)
        self.alias = sfn.CfnStateMachineAlias(
            self,
            "Alias",
            name=STATE_MACHINE_ALIAS,
            description="Where new investigations start: the newest published version",
            routing_configuration=[
                sfn.CfnStateMachineAlias.RoutingConfigurationVersionProperty(
                    state_machine_version_arn=self.version.attr_arn, weight=100
                )
            ],
        )
        role = self.state_machine.role
        for fn in functions.values():
            # The function and its versions/aliases (``<arn>:*``).
            fn.lambda_.grant_invoke(role)
        if continues_as_new:
            # Continue-as-new: a fire-and-forget states:startExecution of this same machine,
            # through its alias (Step Functions authorizes a qualified ARN against the
            # machine's).
            role.add_to_principal_policy(
                iam.PolicyStatement(actions=["states:StartExecution"], resources=[self.arn])
            )
        self._acknowledge([fn.lambda_ for fn in functions.values()])

    def _acknowledge(self, functions: list[lambda_.IFunction]) -> None:
        role = self.state_machine.role
        stack = cdk.Stack.of(self)
        for fn in functions:
            acknowledge(
                role,
                iam5_resource(flatten(f"{fn.function_arn}:*", stack)),
                "lambda:InvokeFunction on the function's qualified ARNs (versions and "
                "aliases) so a task may pin one; the function itself is fixed.",
            )
        acknowledge(
            role,
            iam5_resource("*"),
            "X-Ray (PutTraceSegments, PutTelemetryRecords, GetSampling*) and CloudWatch Logs "
            "vended delivery (Create/Get/Update/Delete/ListLogDelivery, PutResourcePolicy, "
            "DescribeResourcePolicies, DescribeLogGroups) support no resource-level "
            "permissions; CDK adds them for tracing and logging.",
        )
        acknowledge(
            self.state_machine,
            "AwsSolutions-SF1",
            "Logs ERROR, without execution data: payloads are ids and counters and the "
            "transcript lives in the Events table; ALL would log every state transition of "
            "long investigations for no extra insight.",
        )
