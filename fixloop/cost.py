"""What an investigation cost, in US dollars, from counted figures.

Model tokens are priced per model from the usage the API reported (input, output, cache
writes at 5 minutes and 1 hour, cache reads). The AWS parts are priced from what was
counted: Step Functions state transitions (from the executions' histories), Lambda requests
and GB-seconds (each Lambda task's duration in the histories times the function's memory),
Fargate vCPU- and GB-seconds (sandbox lifetimes from the Sandboxes table), DynamoDB write
request units (the log's events by size, and the record updates each step makes), and
WebSocket messages (counted by the live view; 0 until it reports them).

Prices are list prices in us-east-1 on the dates given; free tiers are not subtracted.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Final

from fixloop.domain.investigation import Investigation
from fixloop.functions import CATALOGUE
from fixloop.llm.bedrock import DEFAULT_BEDROCK_MODEL
from fixloop.llm.protocol import Usage

__all__ = [
    "AwsFigures",
    "Cost",
    "ModelPrice",
    "investigation_cost",
    "investigation_usage",
    "lambda_memory_mb",
    "model_cost",
    "model_cost_parts",
    "model_id_of",
    "price_of",
]


@dataclass(frozen=True)
class ModelPrice:
    """US dollars per million tokens."""

    input: float
    output: float
    cache_write_5m: float
    cache_write_1h: float
    cache_read: float


# Source: https://platform.claude.com/docs/en/about-claude/pricing and the model overview
# pages, read 2026-11-26. Bedrock lists the same prices for these models (global endpoints;
# regional endpoints may differ), so a Bedrock id is priced as its Anthropic model.
# Checked in order: the first name contained in the model id wins.
MODEL_PRICES: Final[tuple[tuple[str, ModelPrice], ...]] = (
    ("fable-5", ModelPrice(10.0, 50.0, 12.5, 20.0, 1.0)),
    ("mythos-5", ModelPrice(10.0, 50.0, 12.5, 20.0, 1.0)),
    ("opus-5", ModelPrice(5.0, 25.0, 6.25, 10.0, 0.5)),
    ("sonnet-5", ModelPrice(2.0, 10.0, 2.5, 4.0, 0.2)),  # Sonnet 5 and 5.5
    ("opus-4-8", ModelPrice(5.0, 25.0, 6.25, 10.0, 0.5)),
    ("opus-4-7", ModelPrice(5.0, 25.0, 6.25, 10.0, 0.5)),
    ("opus-4-6", ModelPrice(5.0, 25.0, 6.25, 10.0, 0.5)),
    ("opus-4-5", ModelPrice(5.0, 25.0, 6.25, 10.0, 0.5)),
    ("opus-4", ModelPrice(15.0, 75.0, 18.75, 30.0, 1.5)),  # Opus 4 and 4.1
    ("sonnet-4", ModelPrice(3.0, 15.0, 3.75, 6.0, 0.3)),  # Sonnet 4, 4.5, 4.6
    ("sonnet-3-7", ModelPrice(3.0, 15.0, 3.75, 6.0, 0.3)),
    ("haiku-4-5", ModelPrice(1.0, 5.0, 1.25, 2.0, 0.1)),
    ("haiku-3-5", ModelPrice(0.8, 4.0, 1.0, 1.6, 0.08)),
    ("haiku-3", ModelPrice(0.25, 1.25, 0.3, 0.5, 0.03)),
)

# AWS list prices, us-east-1, read 2026-11-26:
# Step Functions Standard: https://aws.amazon.com/step-functions/pricing/
STATE_TRANSITION_USD: Final = 0.025 / 1000
# Lambda (x86): https://aws.amazon.com/lambda/pricing/
LAMBDA_REQUEST_USD: Final = 0.20 / 1_000_000
LAMBDA_GB_SECOND_USD: Final = 0.0000166667
# Fargate (Linux/x86): https://aws.amazon.com/fargate/pricing/
FARGATE_VCPU_HOUR_USD: Final = 0.04048
FARGATE_GB_HOUR_USD: Final = 0.004445
# DynamoDB on-demand: https://aws.amazon.com/dynamodb/pricing/on-demand/
DYNAMODB_WRITE_UNIT_USD: Final = 0.625 / 1_000_000
# API Gateway WebSocket: https://aws.amazon.com/api-gateway/pricing/ (per 32 KB message)
WEBSOCKET_MESSAGE_USD: Final = 1.00 / 1_000_000

_LONGEST_NAME_FIRST = sorted(CATALOGUE, key=lambda spec: -len(spec.folder))
"""So that ``websocket_authorizer`` is not taken for ``websocket``."""
SANDBOX_VCPU: Final = 1.0
SANDBOX_MEMORY_GB: Final = 2.0
"""The sandbox task size, as in the CDK task definition (1024 CPU units, 2048 MiB)."""


def investigation_usage(inv: Investigation) -> Usage:
    """The model tokens counted on the investigation record (turns and compactions)."""
    return Usage(
        input_tokens=inv.tokens_input,
        output_tokens=inv.tokens_output,
        cache_creation_input_tokens=inv.tokens_cache_write,
        cache_read_input_tokens=inv.tokens_cache_read,
        cache_creation_1h_input_tokens=inv.tokens_cache_write_1h,
    )


def lambda_memory_mb(function_name: str) -> int:
    """The configured memory of a function (fixloop/functions.py), from its deployed name
    (``fixloop-model_turn``, or a CDK-generated ``Fixloop-ModelTurnFunction1A2B...``). An
    unknown function is priced at 512 MB."""
    flat = "".join(c for c in function_name.lower() if c.isalnum())
    for spec in _LONGEST_NAME_FIRST:
        if spec.folder.replace("_", "") in flat:
            return spec.memory_mb
    return 512


def model_id_of(spec: str) -> str:
    """The model id in a model spec (``anthropic:claude-opus-5`` -> ``claude-opus-5``;
    ``anthropic`` alone -> the default model)."""
    provider, _, rest = spec.partition(":")
    if provider == "scripted":
        return ""
    if rest:
        return rest
    if provider == "bedrock":
        return DEFAULT_BEDROCK_MODEL  # priced by the model, whatever the profile's scope
    if provider == "anthropic":
        return "claude-sonnet-5"
    return spec


def price_of(model: str) -> ModelPrice | None:
    """The price of a model id (Anthropic or Bedrock form); None if unknown (or scripted)."""
    for name, price in MODEL_PRICES:
        if name in model:
            return price
    return None


def model_cost(model: str, usage: Usage) -> float:
    """Dollars for ``usage`` on ``model``; 0 for a model with no price (a scripted replay)."""
    return sum(model_cost_parts(model, usage).values())


def model_cost_parts(model: str, usage: Usage) -> dict[str, float]:
    """Dollars for ``usage`` on ``model`` by kind of token (``input``, ``output``,
    ``cache_write`` at either TTL, ``cache_read``); empty for a model with no price."""
    price = price_of(model)
    if price is None:
        return {}
    write_1h = usage.cache_creation_1h_input_tokens
    write_5m = usage.cache_creation_input_tokens - write_1h
    return {
        "input": usage.input_tokens * price.input / 1_000_000,
        "output": usage.output_tokens * price.output / 1_000_000,
        "cache_write": (write_5m * price.cache_write_5m + write_1h * price.cache_write_1h)
        / 1_000_000,
        "cache_read": usage.cache_read_input_tokens * price.cache_read / 1_000_000,
    }


@dataclass(frozen=True)
class AwsFigures:
    """What the AWS side of an investigation did, counted."""

    state_transitions: int = 0
    lambda_ms: dict[str, int] | None = None
    """Per function: total duration of its invocations, in milliseconds."""
    lambda_requests: dict[str, int] | None = None
    sandbox_seconds: float = 0.0
    dynamodb_write_units: int = 0
    websocket_messages: int = 0


@dataclass(frozen=True)
class Cost:
    model: float
    step_functions: float
    lambda_: float
    fargate: float
    dynamodb: float
    websocket: float

    @property
    def aws(self) -> float:
        return self.step_functions + self.lambda_ + self.fargate + self.dynamodb + self.websocket

    @property
    def total(self) -> float:
        return self.model + self.aws

    def as_json(self) -> dict[str, float]:
        parts = {k.rstrip("_"): round(v, 6) for k, v in asdict(self).items()}
        return {"total": round(self.total, 6), "aws": round(self.aws, 6), **parts}


def investigation_cost(model: str, usage: Usage, aws: AwsFigures) -> Cost:
    """The cost of one investigation, by part."""
    lambda_ms = aws.lambda_ms or {}
    requests = aws.lambda_requests or {}
    gb_seconds = sum(ms / 1000 * lambda_memory_mb(name) / 1024 for name, ms in lambda_ms.items())
    fargate_hours = aws.sandbox_seconds / 3600
    return Cost(
        model=model_cost(model, usage),
        step_functions=aws.state_transitions * STATE_TRANSITION_USD,
        lambda_=sum(requests.values()) * LAMBDA_REQUEST_USD + gb_seconds * LAMBDA_GB_SECOND_USD,
        fargate=fargate_hours
        * (SANDBOX_VCPU * FARGATE_VCPU_HOUR_USD + SANDBOX_MEMORY_GB * FARGATE_GB_HOUR_USD),
        dynamodb=aws.dynamodb_write_units * DYNAMODB_WRITE_UNIT_USD,
        websocket=aws.websocket_messages * WEBSOCKET_MESSAGE_USD,
    )
