"""Settings read from the environment, validated once per process.

Lambda functions get these from the CDK stack; the embedded runtime sets the same variables
in its own process. Nothing reads ``os.environ`` anywhere else.
"""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="FIXLOOP_", extra="ignore")

    events_table: str = "fixloop-events"
    investigations_table: str = "fixloop-investigations"
    blobs_bucket: str = "fixloop-blobs"
    state_machine_arn: str = ""
    model: str = "anthropic"
    """Default model spec for new investigations: scripted:FILE, anthropic[:ID], bedrock[:ID]."""
    tool_concurrency: int = Field(default=8, ge=1, le=40)
    max_turns_per_generation: int = Field(default=60, ge=2)
    """Continue-as-new after this many turns in one execution."""
    max_history_events: int = Field(default=15_000, ge=100, le=24_000)
    """Continue-as-new before an execution's estimated history reaches this; Step Functions
    fails an execution at 25,000 events, and a turn with many tool calls costs hundreds."""
    max_turns: int = Field(default=1000, ge=1)
    max_tool_output_chars: int = Field(default=30_000, ge=1_000)
    thinking: str = Field(default="adaptive", pattern=r"^(adaptive|off|[0-9]+)$")
    """Extended thinking: "adaptive" (current models), "off", or a token budget (older ones)."""
    max_tokens: int = 8192
    fault_plan: str = ""
    """Test-only fault injection plan (see fixloop.faults); empty in production."""


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
