"""Pricing model tokens and AWS figures."""

from __future__ import annotations

import pytest

from fixloop.cost import (
    AwsFigures,
    investigation_cost,
    lambda_memory_mb,
    model_cost,
    model_id_of,
)
from fixloop.llm import Usage


def test_model_tokens_are_priced_per_kind_and_model() -> None:
    # Given a million tokens of each kind, a quarter of the cache writes at 1 hour
    usage = Usage(
        input_tokens=1_000_000,
        output_tokens=1_000_000,
        cache_creation_input_tokens=1_000_000,
        cache_creation_1h_input_tokens=250_000,
        cache_read_input_tokens=1_000_000,
    )
    # Then Sonnet 5 costs 2 + 10 + 0.75 * 2.50 + 0.25 * 4 + 0.20 dollars
    assert model_cost("claude-sonnet-5", usage) == pytest.approx(15.075)
    # And a Bedrock id of the same model costs the same
    assert model_cost("us.anthropic.claude-sonnet-5", usage) == pytest.approx(15.075)
    # And a replay costs nothing
    assert model_cost(model_id_of("scripted:/tmp/s.jsonl"), usage) == 0
    assert model_id_of("anthropic") == "claude-sonnet-5"
    assert model_id_of("bedrock:anthropic.claude-haiku-4-5-20251001-v1:0").endswith("v1:0")


def test_aws_parts_come_from_counted_figures() -> None:
    # Given 4,000 transitions, 100 s of Model Turn, 3,600 s of sandbox, 1M write units
    figures = AwsFigures(
        state_transitions=4_000,
        lambda_ms={"fixloop-model_turn": 100_000},
        lambda_requests={"fixloop-model_turn": 100},
        sandbox_seconds=3_600,
        dynamodb_write_units=1_000_000,
        websocket_messages=2_000_000,
    )
    cost = investigation_cost("claude-sonnet-5", Usage(), figures)
    # Then each part is its list price times its figure
    assert cost.step_functions == pytest.approx(0.1)
    assert cost.lambda_ == pytest.approx(100 * 0.2e-6 + 100 * 1.0 * 0.0000166667)
    assert cost.fargate == pytest.approx(0.04048 + 2 * 0.004445)
    assert cost.dynamodb == pytest.approx(0.625)
    assert cost.websocket == pytest.approx(2.0)
    assert cost.total == pytest.approx(cost.aws)
    assert set(cost.as_json()) == {
        "total",
        "aws",
        "model",
        "step_functions",
        "lambda",
        "fargate",
        "dynamodb",
        "websocket",
    }


def test_function_memory_is_read_from_the_deployed_name() -> None:
    # Given the deployed names of functions: local, CDK-generated, and one fixloop does not know
    # When / Then each is priced at its memory in the catalogue (fixloop/functions.py; the
    # infrastructure tests check the template has the same), an unknown one at 512 MB
    assert lambda_memory_mb("FixloopStack-ModelTurnFunction1A2B3C") == 1024
    assert lambda_memory_mb("fixloop-model_turn") == 1024
    assert lambda_memory_mb("fixloop-prepare") == 512
    assert lambda_memory_mb("Fixloop-LiveWebSocketAuthorizer1A2B") == 256
    assert lambda_memory_mb("something-else") == 512
