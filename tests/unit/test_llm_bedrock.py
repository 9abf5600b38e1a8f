"""The default Bedrock model follows the region it is called from (fixloop.llm.bedrock)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from fixloop.cost import model_id_of, price_of
from fixloop.llm import (
    DEFAULT_BEDROCK_MODEL,
    clear_model_cache,
    default_bedrock_model,
    model_from_spec,
)


@pytest.mark.parametrize(
    ("region", "model"),
    [
        ("us-east-1", "global.anthropic.claude-sonnet-5"),
        ("eu-west-1", "global.anthropic.claude-sonnet-5"),
        ("eu-central-2", "global.anthropic.claude-sonnet-5"),
        ("ap-northeast-1", "global.anthropic.claude-sonnet-5"),
        ("ap-southeast-2", "global.anthropic.claude-sonnet-5"),
        ("sa-east-1", "global.anthropic.claude-sonnet-5"),
        ("us-gov-west-1", "us-gov.anthropic.claude-sonnet-5"),
        ("us-gov-east-1", "us-gov.anthropic.claude-sonnet-5"),
        (None, "global.anthropic.claude-sonnet-5"),
    ],
)
def test_the_default_is_an_inference_profile_the_region_may_call(
    region: str | None, model: str
) -> None:
    # Given a region / When the default model is derived / Then it is the model's global
    # profile in the commercial regions and the GovCloud profile in GovCloud, never a
    # geography's profile another geography cannot call
    assert default_bedrock_model(region) == model
    assert not default_bedrock_model(region).startswith(("us.", "eu.", "apac."))


@pytest.fixture
def clean_models() -> Iterator[None]:
    clear_model_cache()
    yield
    clear_model_cache()


def test_the_factory_builds_the_default_of_the_clients_region(
    clean_models: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a deployment in GovCloud (Lambda sets AWS_REGION)
    monkeypatch.setenv("AWS_REGION", "us-gov-west-1")

    # When the default bedrock model is built / Then it is the GovCloud profile, and a model
    # named in the spec is used as named
    assert model_from_spec("bedrock").name == "bedrock:us-gov.anthropic.claude-sonnet-5"
    assert model_from_spec("bedrock:eu.anthropic.claude-sonnet-5").name == (
        "bedrock:eu.anthropic.claude-sonnet-5"
    )


def test_the_cost_model_prices_the_default_whatever_its_scope() -> None:
    # Given the default model of an investigation on Bedrock / When it is priced / Then
    # the global profile has the model's price, as a geography's would
    assert model_id_of("bedrock") == DEFAULT_BEDROCK_MODEL
    assert price_of(DEFAULT_BEDROCK_MODEL) is not None
    assert price_of(DEFAULT_BEDROCK_MODEL) == price_of("us.anthropic.claude-sonnet-5")
