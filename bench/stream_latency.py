"""Stream latency on the embedded runtime: from a model delta to a WebSocket client.

A local Messages API server streams one assistant turn of numbered fragments, paced like a
model generating text; the real Anthropic SDK reads it in Model Turn (on the real state
machine), the chunk writer batches the fragments into the log, the stream pump feeds the
fan-out handler, which posts through the local Management API to a WebSocket follower.
Latency is the follower's receive time minus the time the server wrote the fragment.
Writes per second are the chunk events written while the turn streamed.

    .venv/bin/python bench/stream_latency.py [--fragments 400] [--interval-ms 10] [--runs 2]
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from fixloop.domain import parse_signal  # noqa: E402
from fixloop.domain.events import StreamChunk  # noqa: E402
from fixloop.intake import start_investigation  # noqa: E402
from fixloop.live.client import LiveFollower  # noqa: E402
from fixloop.local import patches  # noqa: E402
from fixloop.local.live import LiveServer  # noqa: E402
from fixloop.store import stores  # noqa: E402
from tests.fakes.messages import MessagesServer  # noqa: E402
from tests.runtime import LocalRuntime  # noqa: E402
from tests.support import alarm_event, head, make_repo, tool_use  # noqa: E402

MARKER = re.compile(r"m(\d{5}) ")
MARKER_WIDTH = 7  # "m00042 "


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def run_once(
    live: LiveServer, server: MessagesServer, repo: Path, fragments: int
) -> dict[str, Any]:
    text = "".join(f"m{i:05d} " for i in range(fragments))
    server.sent_deltas.clear()
    server.enqueue([{"type": "text", "text": text}, tool_use("finish", summary="bench")])
    inv = start_investigation(
        parse_signal(alarm_event()), repo=str(repo), commit=head(repo), model="anthropic"
    ).investigation_id
    follower = LiveFollower(live.ws_url, inv)
    follower.connect()
    follower.until(lambda f: any(m["kind"] == "subscribed" for m in f.other), 30)
    subscribed_at = time.time()
    follower.until(lambda f: any(e.event["type"] == "assistant_message" for e in f.events), 120)
    follower.close()

    sent: dict[int, float] = {}
    for at, delta in server.sent_deltas:
        for match in MARKER.finditer(str(delta.get("text", ""))):
            sent[int(match.group(1))] = at
    latencies: list[float] = []
    for received in follower.events:
        if received.event["type"] != "stream_chunk":
            continue
        for fragment in received.event["fragments"]:
            for match in MARKER.finditer(fragment["text"]):
                sent_at = sent.get(int(match.group(1)))
                if sent_at is not None and sent_at >= subscribed_at:
                    latencies.append((received.at - sent_at) * 1000)
    chunks = [e.event for e in stores().events.read(inv) if isinstance(e.event, StreamChunk)]
    times = [t for t, _ in server.sent_deltas]
    streamed_s = max(times) - min(times)
    return {
        "latencies_ms": latencies,
        "chunks": len(chunks),
        "streamed_s": streamed_s,
        "deltas": len(server.sent_deltas),
        "chunk_bytes": [sum(len(f.text.encode()) for f in c.fragments) for c in chunks],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--fragments", type=int, default=400)
    parser.add_argument("--interval-ms", type=float, default=10.0)
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--flush-ms", type=int, nargs="+", default=[200, 50])
    args = parser.parse_args()

    os.environ["ANTHROPIC_API_KEY"] = "bench-key"
    logging.disable(logging.INFO)  # botocore and httpx chatter
    work = Path(tempfile.mkdtemp(prefix="fixloop-bench-"))
    repo = make_repo(work / "svc", {"app.py": "def handler(event):\n    return event\n"})
    with (
        LocalRuntime() as rt,
        MessagesServer(chunk_size=MARKER_WIDTH, delta_interval_s=args.interval_ms / 1000) as srv,
    ):
        patches.set_retry_sleep(lambda _s: None)
        os.environ["ANTHROPIC_BASE_URL"] = srv.base_url
        with LiveServer(rt) as live:
            print(
                f"stream latency, model delta -> WebSocket client (embedded runtime): "
                f"{args.fragments} fragments of {MARKER_WIDTH} B every {args.interval_ms:g} ms "
                f"(~{1000 / args.interval_ms:.0f} deltas/s), {args.runs} runs each"
            )
            for flush_ms in args.flush_ms:
                rt.configure(stream_flush_ms=str(flush_ms))
                runs = [run_once(live, srv, repo, args.fragments) for _ in range(args.runs)]
                lat = [x for r in runs for x in r["latencies_ms"]]
                writes = [r["chunks"] / r["streamed_s"] for r in runs]
                deltas = [r["deltas"] / r["streamed_s"] for r in runs]
                sizes = [b for r in runs for b in r["chunk_bytes"]]
                print(
                    f"  flush every {flush_ms:>4} ms: latency median "
                    f"{statistics.median(lat):6.1f} ms"
                    f"  p99 {percentile(lat, 0.99):6.1f} ms  max {max(lat):6.1f} ms"
                    f"  (n={len(lat)})"
                )
                print(
                    f"  {'':21} writes/s {statistics.mean(writes):5.1f} "
                    f"(vs {statistics.mean(deltas):5.1f} deltas/s: one write per "
                    f"{statistics.mean(deltas) / statistics.mean(writes):4.1f} deltas), "
                    f"chunk size median {statistics.median(sizes):.0f} B, "
                    f"max {max(sizes)} B"
                )


if __name__ == "__main__":
    main()
