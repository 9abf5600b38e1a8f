"""The built-in tools: the signal, the question to a person, and the two conclusions.

The code tools (read, search, edit, run a command) are the sandbox's
(:mod:`fixloop.sandbox.tools`), the telemetry tools Run Tool's (:mod:`fixloop.tools.telemetry`);
the loop's registry of all of them is :func:`fixloop.agent.toolset.default_registry`.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from fixloop.domain.signal_view import signal_page
from fixloop.tools.registry import Tool, ToolContext, cap_output


class OpenPullRequestInput(BaseModel):
    title: str = Field(min_length=1, max_length=256, description="Pull request title.")
    body: str = Field(
        min_length=1,
        description="Root cause, evidence, the change, and the test run before and after.",
    )
    test_command: str | None = Field(
        default=None,
        max_length=2_000,
        description='The repository\'s test command, e.g. "python -m pytest" or "npm test", '
        "if fixloop should not find it itself (from pytest's configuration, package.json, "
        "go.mod, pom.xml, build.gradle or a Makefile test target).",
    )


class AskHumanInput(BaseModel):
    question: str = Field(
        min_length=1, max_length=3000, description="The question, complete on its own."
    )
    options: list[str] = Field(
        default_factory=list,
        max_length=10,
        description="Answers to offer, if the question has a few obvious ones.",
    )


class FinishInput(BaseModel):
    summary: str = Field(min_length=1, description="What was found and why no change is needed.")


class GetSignalInput(BaseModel):
    offset: int = Field(default=0, ge=0, description="The first log line to show, numbered from 0.")
    limit: int | None = Field(
        default=None, ge=1, description="How many log lines at most (default: as many as fit)."
    )
    char_offset: int = Field(
        default=0,
        ge=0,
        description="Start this many characters into the first line: to read a log line "
        "longer than one page, as the previous page says.",
    )


def get_signal(ctx: ToolContext, args: GetSignalInput) -> str:
    page = signal_page(
        ctx.signal,
        offset=args.offset,
        limit=args.limit,
        char_offset=args.char_offset,
        max_chars=ctx.max_output_chars,
    )
    return cap_output(page, ctx.max_output_chars)


SIGNAL_TOOL = Tool(
    "get_signal",
    "Show the production signal that opened this investigation: alarm or log details and "
    "every log line received with it, in pages when it is long (each page says how to read "
    'on, e.g. {"offset": 200, "limit": 100}). The first message already shows it, '
    "shortened when long: call this for the lines it left out. For logs beyond the signal, "
    "use query_logs.",
    GetSignalInput,
    get_signal,
)
OPEN_PULL_REQUEST = Tool(
    "open_pull_request",
    "Conclude the investigation by opening a pull request with the fix: the workspace's "
    "change (git_diff shows it), a title, and a body giving the root cause, the evidence and "
    "the change. Call it alone, once the change is made and the tests pass; not when no code "
    "change is warranted (finish). fixloop first verifies the change itself: "
    "the tests it adds or modifies must fail on the base commit (reproducing the production "
    "failure, not failing to import what the fix adds) and pass with the fix, and no test "
    "that passed before may fail; if not, this call returns what the verification found "
    "and how it ran: correct the change (or the test) and call it again.",
    OpenPullRequestInput,
)
ASK_HUMAN = Tool(
    "ask_human",
    "Ask the engineers of this investigation a question (posted to its Slack thread, Linear "
    "issue and live view) and wait for the first reply, which comes back as this call's "
    "result. Use it when a decision or a fact only a person has blocks you (which of two "
    "behaviours is intended, access you lack); not for what the code, logs or tests can "
    "tell you, nor to ask permission for routine steps. Call it alone.",
    AskHumanInput,
    asks_human=True,
)
FINISH = Tool(
    "finish",
    "Conclude the investigation without a code change (not a code problem, already fixed, "
    "or not reproducible), with a summary of the findings: what happened, the evidence, and "
    "what a person should do, if anything. Not when you have a fix (open_pull_request).",
    FinishInput,
)
