"""A local HTTP server speaking the Anthropic Messages API, for tests of the real SDK.

Tests queue the replies the server gives, in order, then point the SDK at ``base_url``::

    with MessagesServer() as server:
        server.enqueue([{"type": "text", "text": "Hello"}])
        client = anthropic.Anthropic(api_key="test", base_url=server.base_url)
        ...
        assert server.requests[0].body["model"] == "claude-test"

``POST /v1/messages`` answers with JSON, or with server-sent events when the body says
``"stream": true`` (message_start, content_block_start / _delta / _stop per block with
text_delta, thinking_delta, signature_delta and input_json_delta fragments, a ping,
message_delta, message_stop). ``POST /v1/messages/count_tokens`` answers ``{"input_tokens":
N}``. Error replies use the documented shape ``{"type": "error", "error": {"type", "message"}}``
with ``request-id`` (and ``retry-after`` when asked) headers. With nothing queued and no
``responder``, a message request gets a 400 marked not retryable, so a test that under-queues
fails at once; a ``responder`` (a function of the request body) answers what the queue does
not, which is how a long scripted session runs against the server.

A request is first checked as the API checks it (:mod:`.rules`): a request the API refuses
(a ``tool_use`` left unanswered, an empty text block, a prompt over the model's context window,
a thinking block with a signature this server did not give it, ...) gets the API's 400 and
message. Thinking blocks the server returns are signed (:mod:`.thinking`), so a changed or
dropped one is caught when it comes back; :func:`sign_thinking` signs one for a hand-built
history. Model limits are in :mod:`.models`.

Prompt caching is accounted as the API documents it (see :class:`PromptCache`): the prompt
is the sequence of blocks tools, system, messages; a block marked ``cache_control`` writes the
prefix ending there to the cache if it reaches the model's minimum cacheable length; a request
reads the longest cached prefix found at a breakpoint or up to 20 blocks before one; a hit
refreshes the entry's TTL.
Replies then carry ``cache_read_input_tokens``, ``cache_creation_input_tokens`` (with its
5-minute / 1-hour split in ``cache_creation``) and ``input_tokens`` (what follows the last
breakpoint), unless the test gave the usage itself. Tokens are counted by a fixed local rule
(a block's compact JSON, without its ``cache_control``, over four characters), the same for
counting and for usage, so a count taken before a request matches the usage it reports.
"""

from __future__ import annotations

from tests.fakes.messages.models import ModelLimits, limits_of
from tests.fakes.messages.prompt_cache import (
    PromptCache,
    block_tokens,
    count_prompt_tokens,
    prompt_blocks,
)
from tests.fakes.messages.replies import (
    ErrorReply,
    MessageReply,
    RecordedRequest,
    StreamErrorReply,
)
from tests.fakes.messages.rules import Refusal, check_request
from tests.fakes.messages.server import MessagesServer
from tests.fakes.messages.thinking import ThinkingLedger, sign_thinking

__all__ = [
    "ErrorReply",
    "MessageReply",
    "MessagesServer",
    "ModelLimits",
    "PromptCache",
    "RecordedRequest",
    "Refusal",
    "StreamErrorReply",
    "ThinkingLedger",
    "block_tokens",
    "check_request",
    "count_prompt_tokens",
    "limits_of",
    "prompt_blocks",
    "sign_thinking",
]
