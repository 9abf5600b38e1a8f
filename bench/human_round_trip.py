"""A person's reply to a waiting investigation, on the embedded runtime over HTTP.

An investigation asks ``--questions`` questions in a row; each is answered with a POST to
``/investigations/{id}/messages`` on the local server. Printed: the POST's latency (store the
message, claim the wait, send the task success) and the round trip from the POST to the next
question in the log (Wait For Human completes, Prepare moves the reply into the log, the model
turn, Wait For Human registers the next token and posts the question).

    .venv/bin/python bench/human_round_trip.py [--questions 20]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from fixloop.domain import QuestionAsked, parse_signal  # noqa: E402
from fixloop.intake import start_investigation  # noqa: E402
from fixloop.local import patches  # noqa: E402
from fixloop.local.gateway import gateway_routes  # noqa: E402
from fixloop.local.server import LocalServer  # noqa: E402
from fixloop.store import stores  # noqa: E402
from tests.runtime import LocalRuntime  # noqa: E402
from tests.support import alarm_event, make_repo, tool_use, write_script  # noqa: E402


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def questions(investigation_id: str) -> int:
    return sum(isinstance(e.event, QuestionAsked) for e in stores().events.read(investigation_id))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--questions", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, LocalRuntime() as rt:
        patches.set_retry_sleep(lambda _s: None)
        repo = make_repo(Path(tmp) / "svc", {"app.py": "x = 1\n"})
        script = write_script(
            Path(tmp) / "s.jsonl",
            [[tool_use("ask_human", question=f"Question {n}?")] for n in range(args.questions)]
            + [[tool_use("finish", summary="Done.")]],
        )
        inv = start_investigation(
            parse_signal(alarm_event()), repo=str(repo), commit="HEAD", model=f"scripted:{script}"
        )
        post_ms: list[float] = []
        round_trip_ms: list[float] = []
        with LocalServer(gateway_routes()) as server:
            for n in range(args.questions):
                while questions(inv.investigation_id) < n + 1:
                    time.sleep(0.005)
                while stores().waits.get(inv.investigation_id) is None:
                    time.sleep(0.005)
                body = json.dumps({"text": f"answer {n}", "delivery_id": f"b{n}"}).encode()
                request = urllib.request.Request(
                    f"{server.url}/investigations/{inv.investigation_id}/messages",
                    data=body,
                    method="POST",
                )
                started = time.perf_counter()
                with urllib.request.urlopen(request, timeout=30) as resp:
                    answer = json.loads(resp.read())
                post_ms.append((time.perf_counter() - started) * 1000)
                assert answer["resumed"], answer
                if n + 1 < args.questions:
                    while questions(inv.investigation_id) < n + 2:
                        time.sleep(0.002)
                    round_trip_ms.append((time.perf_counter() - started) * 1000)
        rt.watcher.wait(inv.investigation_id, timeout_s=120)
    print(f"questions answered            {args.questions}")
    print(
        f"POST message (resumes)  ms    median {statistics.median(post_ms):.1f}  "
        f"p90 {percentile(post_ms, 0.9):.1f}"
    )
    print(
        f"reply -> next question  ms    median {statistics.median(round_trip_ms):.1f}  "
        f"p90 {percentile(round_trip_ms, 0.9):.1f}"
    )


if __name__ == "__main__":
    main()
