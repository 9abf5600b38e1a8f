"""The Messages API's rules on a request, as the local server enforces them: each refusal is a
400 ``invalid_request_error`` with the API's own message.

Sources (read 2026-11; messages as the API words them, where its documentation does not quote
them, from the 400s it returns):

* Messages API reference (``messages``): consecutive turns of one role are combined into one
  turn, so they are merged here before any rule looks at turns; only the conversation's last
  message may be an empty assistant message.
* Tool use, "Handle tool calls": every ``tool_use`` is answered by a ``tool_result`` in the
  very next message, the results come first in it, and each result answers a call of the
  message just before; tool names match ``^[a-zA-Z0-9_-]{1,128}$`` (the pattern the API's
  400 quotes) and are unique; ``tool_use`` ids are unique.
* Errors page, common validation errors: empty or blank text blocks; a final assistant message
  (prefill) ending in whitespace; "Prefill not supported" on Claude 4.6 and later; an
  assistant message ending with a thinking block.
* Extended thinking: thinking is incompatible with forced tool use (``tool_choice`` ``any`` or
  ``tool``), with ``temperature`` other than 1 and with ``top_k``; thinking blocks carry a
  ``signature`` that must match; the latest assistant message's thinking blocks come back
  unchanged; with ``thinking.type: "enabled"`` the assistant message of a tool-use loop in
  progress starts with a thinking block. (With ``adaptive`` thinking the model may skip
  thinking, so only blocks it did return are required back.)
* Preserved thinking, "Prefix checks on thinking blocks": see :mod:`.thinking` and
  :func:`~tests.fakes.messages.models.prefix_check_of`.
* Prompt caching: at most 4 ``cache_control`` blocks, 1-hour ones before 5-minute ones.
* Models overview and context windows: the prompt fits the model's context window and
  ``max_tokens`` its output limit (:mod:`.models`); tokens are the server's own count.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field
from typing import Any

from fixloop.llm.caching import MAX_BREAKPOINTS
from tests.fakes.messages.models import ModelLimits, limits_of, prefix_check_of
from tests.fakes.messages.prompt_cache import TTL_SECONDS, count_prompt_tokens, prompt_blocks
from tests.fakes.messages.thinking import THINKING_TYPES, ThinkingLedger, thinking_blocks

__all__ = ["Refusal", "check_request"]

JsonDict = dict[str, Any]

TOOL_NAME = "^[a-zA-Z0-9_-]{1,128}$"
THINKING_DOCS = (
    "Please consult our documentation at https://docs.claude.com/en/docs/build-with-claude/"
    "extended-thinking#important-considerations-when-using-extended-thinking"
)
MUST_START_WITH_THINKING = (
    "When `thinking` is enabled, a final `assistant` message must start with a thinking block "
    "(preceeding the lastmost set of `tool_use` and `tool_result` blocks). We recommend you "
    "include thinking blocks from previous turns. To avoid this requirement, disable "
    "`thinking`. Please consult our documentation at "
    "https://docs.claude.com/en/docs/build-with-claude/extended-thinking"
)


class Refusal(Exception):
    """A request the API refuses with a 400 ``invalid_request_error``; the text is its
    message."""


@dataclass
class Turn:
    """Consecutive messages of one role, merged as the API merges them; each block keeps
    where it was sent (message index, block index)."""

    role: str
    first: int
    blocks: list[tuple[int, int, JsonDict]] = field(default_factory=list)

    def of_type(self, kind: str) -> list[tuple[int, int, JsonDict]]:
        return [(i, j, b) for i, j, b in self.blocks if b.get("type") == kind]

    def tool_use_ids(self) -> list[str]:
        return [str(b.get("id")) for _, _, b in self.of_type("tool_use")]


BINDING_BETA = "thinking-binding-controls-2026-08-01"
"""The beta a request must name (``anthropic-beta``) to set ``thinking.block_binding`` (the
preserved-thinking docs, "Fix a thinking block bound to a different conversation")."""


def check_request(
    body: JsonDict,
    ledger: ThinkingLedger,
    *,
    counting: bool = False,
    betas: frozenset[str] = frozenset(),
) -> None:
    """Raise :class:`Refusal` if the API would refuse ``body`` (sent with the ``betas`` of
    its ``anthropic-beta`` header). ``counting``: a
    ``count_tokens`` request, held to the shape rules only (it has no ``max_tokens``, counts a
    prompt of any size or ending, and the token counting page says nothing of checking
    signatures)."""
    limits = limits_of(str(body.get("model", "")))
    _tools(body)
    if not counting:
        _max_tokens(body, limits)
    _thinking_options(body)
    _binding_beta(body, betas)
    _cache_control(body)
    messages = [m if isinstance(m, dict) else {} for m in body.get("messages") or []]
    _contents(messages)
    turns = _turns(messages)
    _tool_results(turns)
    if not counting:
        _final_assistant(turns, limits)
    _thinking_blocks(body, messages, turns, None if counting else ledger)
    if not counting:
        _context(body, limits)


def _binding_beta(body: JsonDict, betas: frozenset[str]) -> None:
    thinking = body.get("thinking")
    if isinstance(thinking, dict) and "block_binding" in thinking and BINDING_BETA not in betas:
        raise Refusal(
            "thinking.block_binding: Extra inputs are not permitted. This field requires the "
            f"anthropic-beta header {BINDING_BETA}."
        )


def _thinking_on(body: JsonDict) -> bool:
    thinking = body.get("thinking")
    return isinstance(thinking, dict) and thinking.get("type") in ("enabled", "adaptive")


def _blocks(content: Any) -> list[JsonDict]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    if isinstance(content, list):
        return [b if isinstance(b, dict) else {} for b in content]
    return []


def _turns(messages: list[JsonDict]) -> list[Turn]:
    turns: list[Turn] = []
    for i, message in enumerate(messages):
        role = str(message.get("role"))
        if not turns or turns[-1].role != role:
            turns.append(Turn(role, i))
        turns[-1].blocks += [(i, j, b) for j, b in enumerate(_blocks(message.get("content")))]
    return turns


def _tools(body: JsonDict) -> None:
    tools = [t if isinstance(t, dict) else {} for t in body.get("tools") or []]
    for i, tool in enumerate(tools):
        if tool.get("type") not in (None, "custom"):
            continue  # a server tool: its name is fixed by its type
        if not re.fullmatch(TOOL_NAME, str(tool.get("name", ""))):
            raise Refusal(f"tools.{i}.custom.name: String should match pattern '{TOOL_NAME}'")
    names = [t.get("name") for t in tools]
    if len(set(names)) != len(names):
        raise Refusal("tools: Tool names must be unique.")


def _max_tokens(body: JsonDict, limits: ModelLimits) -> None:
    wanted = body.get("max_tokens")
    if isinstance(wanted, int) and wanted > limits.max_output:
        raise Refusal(
            f"max_tokens: {wanted} > {limits.max_output}, which is the maximum allowed number "
            f"of output tokens for {body.get('model')}"
        )


def _thinking_options(body: JsonDict) -> None:
    if not _thinking_on(body):
        return
    choice = body.get("tool_choice")
    if isinstance(choice, dict) and choice.get("type") in ("any", "tool"):
        raise Refusal("Thinking may not be enabled when tool_choice forces tool use.")
    if body.get("temperature", 1) != 1:
        raise Refusal(
            f"`temperature` may only be set to 1 when thinking is enabled. {THINKING_DOCS}"
        )
    if body.get("top_k") is not None:
        raise Refusal(f"`top_k` must be unset when thinking is enabled. {THINKING_DOCS}")


def _cache_control(body: JsonDict) -> None:
    ttls = [
        str(block["cache_control"].get("ttl", "5m"))
        for _, block in prompt_blocks(body)
        if isinstance(block, dict) and isinstance(block.get("cache_control"), dict)
    ]
    for ttl in ttls:
        if ttl not in TTL_SECONDS:
            raise Refusal(f"cache_control.ttl must be '5m' or '1h', got {ttl!r}")
    if len(ttls) > MAX_BREAKPOINTS:
        raise Refusal(
            f"A maximum of {MAX_BREAKPOINTS} blocks with cache_control may be provided. "
            f"Found {len(ttls)}."
        )
    if any(a == "5m" and b == "1h" for a, b in itertools.pairwise(ttls)):
        raise Refusal("a cache_control block with ttl '1h' must come before any with ttl '5m'")


def _contents(messages: list[JsonDict]) -> None:
    seen: set[str] = set()
    for i, message in enumerate(messages):
        content = message.get("content")
        final_assistant = i == len(messages) - 1 and message.get("role") == "assistant"
        if content in ("", [], None) and not final_assistant:
            raise Refusal(
                f"messages.{i}: all messages must have non-empty content except for the "
                "optional final assistant message"
            )
        blocks = _blocks(content) if content != "" else []
        if (
            message.get("role") == "assistant"
            and blocks
            and blocks[-1].get("type") in THINKING_TYPES
        ):
            raise Refusal(
                f"messages.{i}: The final block in an assistant message cannot be `thinking`."
            )
        for j, block in enumerate(blocks):
            kind = block.get("type")
            if kind == "text" and block.get("text") == "":
                raise Refusal("messages: text content blocks must be non-empty")
            if kind == "text" and not str(block.get("text", "")).strip():
                raise Refusal("messages: text content blocks must contain non-whitespace text")
            if kind == "tool_use":
                if block.get("id") in seen:
                    raise Refusal(f"messages.{i}.content.{j}: `tool_use` ids must be unique")
                seen.add(str(block.get("id")))


def _tool_results(turns: list[Turn]) -> None:
    for t, turn in enumerate(turns):
        if turn.role == "assistant":
            calls = turn.tool_use_ids()
            after = turns[t + 1] if t + 1 < len(turns) else None
            if not calls:
                continue
            results = after.of_type("tool_result") if after and after.role == "user" else []
            answered = {str(b.get("tool_use_id")) for _, _, b in results}
            missing = [c for c in calls if c not in answered]
            if missing:
                raise Refusal(
                    f"messages.{turn.first}: `tool_use` ids were found without `tool_result` "
                    f"blocks immediately after: {', '.join(missing)}. Each `tool_use` block "
                    "must have a corresponding `tool_result` block in the next message."
                )
            assert after is not None
            leading = itertools.takewhile(lambda e: e[2].get("type") == "tool_result", after.blocks)
            if len(list(leading)) < len(calls):
                raise Refusal(
                    f"messages.{after.first}: Did not find {len(calls)} tool_result block(s) at "
                    "the beginning of this message. Messages following tool_use blocks must "
                    "begin with a matching number of tool_result blocks."
                )
            continue
        before = turns[t - 1] if t > 0 and turns[t - 1].role == "assistant" else None
        asked = set(before.tool_use_ids()) if before else set()
        seen: set[str] = set()
        for i, j, block in turn.of_type("tool_result"):
            answer = str(block.get("tool_use_id"))
            if answer in seen:
                raise Refusal(
                    f"messages.{i}.content.{j}: each tool_use must have a single result. "
                    f"Found multiple `tool_result` blocks with id: {answer}"
                )
            if answer not in asked:
                raise Refusal(
                    f"messages.{i}.content.{j}: unexpected `tool_use_id` found in "
                    f"`tool_result` blocks: {answer}. Each `tool_result` block must have a "
                    "corresponding `tool_use` block in the previous message."
                )
            seen.add(answer)


def _final_assistant(turns: list[Turn], limits: ModelLimits) -> None:
    if not turns or turns[-1].role != "assistant":
        return
    if not limits.prefill:
        raise Refusal(
            "This model does not support assistant message prefill. The conversation must end "
            "with a user message."
        )
    last = turns[-1].blocks[-1][2] if turns[-1].blocks else {}
    text = str(last.get("text", "")) if last.get("type") == "text" else ""
    if text != text.rstrip():
        raise Refusal("messages: final assistant content cannot end with trailing whitespace")


def _thinking_blocks(
    body: JsonDict, messages: list[JsonDict], turns: list[Turn], ledger: ThinkingLedger | None
) -> None:
    for i, message in enumerate(messages):
        for j, block in enumerate(_blocks(message.get("content"))):
            if block.get("type") == "thinking" and block.get("signature") is None:
                raise Refusal(f"messages.{i}.content.{j}.thinking.signature: Field required")
    if ledger is None:
        return
    _prefix_check(body, ledger)
    if not _thinking_on(body):
        return
    for located in thinking_blocks(body):
        if located.block.get("type") == "thinking" and not ledger.valid(located.block):
            raise Refusal(
                f"messages.{located.message}.content.{located.index}: Invalid `signature` in "
                "`thinking` block"
            )
    assistant = [t for t, turn in enumerate(turns) if turn.role == "assistant"]
    if not assistant:
        return
    latest = turns[assistant[-1]]
    calls = latest.tool_use_ids()
    in_loop = bool(calls) and assistant[-1] == len(turns) - 2
    first = latest.blocks[0] if latest.blocks else None
    if in_loop and first and body["thinking"]["type"] == "enabled":
        kind = first[2].get("type")
        if kind not in THINKING_TYPES:
            raise Refusal(
                f"messages.{first[0]}.content.{first[1]}.type: Expected `thinking` or "
                f"`redacted_thinking`, but found `{kind}`. {MUST_START_WITH_THINKING}"
            )
    issued = ledger.issued_with(calls)
    if issued is None:
        return
    sent = [(i, j, b) for i, j, b in latest.blocks if b.get("type") in THINKING_TYPES]
    for k in range(max(len(sent), len(issued))):
        got = sent[k][2] if k < len(sent) else None
        if got is None or k >= len(issued) or _bare(got) != _bare(issued[k]):
            i, j = (sent[k][0], sent[k][1]) if got is not None else latest.blocks[0][:2]
            raise Refusal(
                f"messages.{i}.content.{j}: `thinking` or `redacted_thinking` blocks in the "
                "latest assistant message cannot be modified. These blocks must remain as they "
                "were in the original response."
            )


def _bare(block: JsonDict) -> JsonDict:
    return {k: v for k, v in block.items() if k != "cache_control"}


def _prefix_check(body: JsonDict, ledger: ThinkingLedger) -> None:
    """Preserved thinking: a thinking block whose prefix changed since it was produced is
    refused or dropped (the local server does not recount a dropped block's tokens)."""
    default = prefix_check_of(str(body.get("model", "")))
    if default is None:
        return
    thinking = body.get("thinking") if isinstance(body.get("thinking"), dict) else {}
    binding = thinking.get("block_binding") if isinstance(thinking, dict) else None
    chosen = binding.get("prefix_mismatch_behavior") if isinstance(binding, dict) else None
    if (chosen or default) != "error":
        return
    for located in thinking_blocks(body):
        if not ledger.bound(located):
            raise Refusal(
                f"messages.{located.message}.content.{located.index}: Invalid `signature` in "
                "`thinking` block. The block is bound to a different conversation. Remove the "
                'block, or set `thinking.block_binding.prefix_mismatch_behavior` to "drop_block".'
            )


def _context(body: JsonDict, limits: ModelLimits) -> None:
    tokens = count_prompt_tokens(body)
    if tokens > limits.context_window:
        raise Refusal(f"prompt is too long: {tokens} tokens > {limits.context_window} maximum")
