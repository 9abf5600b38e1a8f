"""The durable loop: the investigation state machine, its ASL inlined from statemachines/."""

from __future__ import annotations

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
from stacks.nag import acknowledge, flatten, iam5_resource

__all__ = [
    "INVESTIGATION_ASL",
    "InvestigationLoop",
    "MissingSubstitutionError",
    "placeholders",
    "state_machine_arn",
]

INVESTIGATION_ASL = PROJECT_ROOT / "statemachines" / "investigation.asl.json"
_PLACEHOLDER = re.compile(r"\$\{([^}]*)\}")


class MissingSubstitutionError(ValueError):
    """The ASL file uses a ``${Name}`` that the stack does not provide."""


def placeholders(definition: str) -> set[str]:
    """The names of the ``${Name}`` definition substitutions used in an ASL text."""
    return set(_PLACEHOLDER.findall(definition))


def state_machine_arn(scope: Construct, name: str) -> str:
    """The ARN of the state machine called ``name`` in ``scope``'s stack, built from the name
    so that its own role and its functions can refer to it without a dependency cycle."""
    return cdk.Stack.of(scope).format_arn(
        service="states",
        resource="stateMachine",
        resource_name=name,
        arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME,
    )


class InvestigationLoop(Construct):
    """The Standard state machine that runs one investigation generation.

    ``functions`` maps ASL placeholders (``PrepareFunctionArn``...) to the functions they
    name. Every ``${...}`` in the file must be provided, or synthesis fails.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        functions: Mapping[str, lambda_.IFunction],
        state_machine_name: str,
        definition_file: Path = INVESTIGATION_ASL,
    ) -> None:
        super().__init__(scope, construct_id)
        definition = definition_file.read_text()
        missing = placeholders(definition) - functions.keys()
        if missing:
            raise MissingSubstitutionError(
                f"{definition_file} uses ${{{', '.join(sorted(missing))}}} but the stack "
                f"provides only {', '.join(sorted(functions)) or 'nothing'}"
            )
        unused = functions.keys() - placeholders(definition)
        if unused:
            cdk.Annotations.of(self).add_warning_v2(
                "fixloop:unused-substitution",
                f"{definition_file.name} does not use {', '.join(sorted(unused))}",
            )

        self.arn = state_machine_arn(self, state_machine_name)
        """This state machine's ARN, built from its name (usable before it exists)."""

        self.log_group = logs.LogGroup(self, "Logs", retention=logs.RetentionDays.ONE_MONTH)
        self.state_machine = sfn.StateMachine(
            self,
            "StateMachine",
            state_machine_name=state_machine_name,
            state_machine_type=sfn.StateMachineType.STANDARD,
            definition_body=sfn.DefinitionBody.from_string(definition),
            definition_substitutions={name: fn.function_arn for name, fn in functions.items()},
            logs=sfn.LogOptions(
                destination=self.log_group,
                level=sfn.LogLevel.ERROR,
                include_execution_data=False,
            ),
            tracing_enabled=True,
        )
        role = self.state_machine.role
        for fn in functions.values():
            # The function and its versions/aliases (``<arn>:*``).
            fn.grant_invoke(role)
        # Continue-as-new: a fire-and-forget states:startExecution of this same machine.
        role.add_to_principal_policy(
            iam.PolicyStatement(actions=["states:StartExecution"], resources=[self.arn])
        )
        self._acknowledge(functions)

    def _acknowledge(self, functions: Mapping[str, lambda_.IFunction]) -> None:
        role = self.state_machine.role
        stack = cdk.Stack.of(self)
        for fn in functions.values():
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
