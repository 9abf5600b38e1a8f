"""Triage fingerprints: which errors are the same problem (one group, one investigation)."""

from __future__ import annotations

import json
import random
import re
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from fixloop.triage import (
    ErrorOccurrence,
    Frame,
    alarm_fingerprint,
    error_fingerprint,
    group,
    normalise_message,
    parse_error,
    parse_events,
    significant_frames,
)

T0 = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)
NBSP = "\u00a0"


def occurrence(
    exception_type: str,
    frames: list[tuple[str, int | None, str]],
    language: str = "python",
    message: str = "boom",
) -> ErrorOccurrence:
    return ErrorOccurrence.model_validate(
        {
            "exception_type": exception_type,
            "message": message,
            "frames": [Frame(file=f, line=n, function=fn) for f, n, fn in frames],
            "language": language,
            "timestamp": T0,
            "raw": message,
        }
    )


# ---------------------------------------------------------------------------- normalisation


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("something failed for user 123", "something failed for user <num>"),
        (
            "order 7f3c9a1e-52b4-4c1d-9e0f-0123456789ab not found",
            "order <uuid> not found",
        ),
        ("mail to alice.k+shop@example.co.uk bounced", "mail to <email> bounced"),
        ("connect ECONNREFUSED 10.0.3.17:5432", "connect ECONNREFUSED <ip>"),
        ("at 2026-03-01T12:03:11.512Z retrying", "at <ts> retrying"),
        ("at 2026-03-01 12:03:11,512+0000 retrying", "at <ts> retrying"),
        ("object at 0x7f3a2c1d90 freed", "object at <hex> freed"),
        ("trace 65e1c2a05b1f0a4e3c2d1e0f", "trace <hex>"),
        ("KeyError: 'SKU-42'", "KeyError: <str>"),
        ('unknown field "customer_email"', "unknown field <str>"),
        ("can't parse 'abc' as int", "can't parse <str> as int"),
        (
            "charge of 1,234.50 EUR failed (balance -5)",
            "charge of <num> EUR failed (balance <num>)",
        ),
        (
            "instance i-0abc123def4 and ord_8f2k1 in pool-3-thread-12",
            "instance <id> and <id> in <id>",
        ),
        ("  spaced \t out\n text  ", "spaced out text"),
    ],
)
def test_normalise_message(text: str, expected: str) -> None:
    # Given a message with varying values
    # When it is normalised
    # Then each kind of value is a placeholder and the words stay
    assert normalise_message(text) == expected


def test_normalised_messages_of_one_problem_are_equal() -> None:
    # Given two occurrences of one plain error with every value different
    a = "Payment declined for bob@example.com (customer 48213, amount 12.50) at 2026-03-01T12:00Z"
    b = "Payment declined for eve@example.org (customer 7, amount 1,099.00) at 2026-04-30T23:59Z"
    # Then they normalise to the same text
    assert normalise_message(a) == normalise_message(b)


# ---------------------------------------------------------------------------- fingerprints

HANDLER = ("/var/task/app/handler.py", 18, "lambda_handler")
PROCESS = ("/var/task/app/orders.py", 40, "process")
COMPUTE = ("/var/task/app/pricing.py", 7, "compute")


def test_fingerprint_is_a_32_character_hex_and_stable() -> None:
    # Given an occurrence
    occ = occurrence("KeyError", [HANDLER, PROCESS, COMPUTE])
    # When it is fingerprinted twice
    # Then it is the same 32 hex characters
    fp = error_fingerprint(occ)
    assert re.fullmatch(r"[0-9a-f]{32}", fp)
    assert fp == error_fingerprint(occ.model_copy(deep=True))


def test_line_numbers_do_not_split_a_group() -> None:
    # Given the same error before and after a deploy that moved every line
    before = occurrence("KeyError", [HANDLER, PROCESS, COMPUTE], message="'SKU-1'")
    after = occurrence(
        "KeyError",
        [(f, n + 12 if n else n, fn) for f, n, fn in (HANDLER, PROCESS, COMPUTE)],
        message="'SKU-2'",
    )
    # Then their fingerprints are equal
    assert error_fingerprint(before) == error_fingerprint(after)


def test_another_exception_type_at_the_same_place_is_another_group() -> None:
    # Given a KeyError and a TypeError raised at the very same frames
    key_error = occurrence("KeyError", [HANDLER, PROCESS, COMPUTE])
    type_error = occurrence("TypeError", [HANDLER, PROCESS, COMPUTE])
    # Then they are different groups
    assert error_fingerprint(key_error) != error_fingerprint(type_error)


def test_the_same_exception_from_another_code_path_is_another_group() -> None:
    # Given the same exception raised in the same file from another function, and reached
    # through another caller
    base = occurrence("KeyError", [HANDLER, PROCESS, COMPUTE])
    other_function = occurrence(
        "KeyError", [HANDLER, PROCESS, ("/var/task/app/pricing.py", 7, "discount")]
    )
    other_caller = occurrence(
        "KeyError", [HANDLER, ("/var/task/app/refunds.py", 40, "refund"), COMPUTE]
    )
    # Then all three are different groups
    fps = {error_fingerprint(o) for o in (base, other_function, other_caller)}
    assert len(fps) == 3


def test_python_type_with_or_without_its_module_is_one_group() -> None:
    # Given the same ClientError as Lambda names it and as the traceback names it
    short = occurrence("ClientError", [HANDLER])
    qualified = occurrence("botocore.exceptions.ClientError", [HANDLER])
    # Then they are one group
    assert error_fingerprint(short) == error_fingerprint(qualified)


def test_stdlib_frames_are_dropped_when_there_are_application_frames() -> None:
    # Given one JSONDecodeError on two Python versions, with different stdlib internals
    py311 = occurrence(
        "json.decoder.JSONDecodeError",
        [
            ("/var/runtime/bootstrap.py", 60, "handle_event_request"),
            HANDLER,
            ("/var/task/app/parse.py", 4, "read_body"),
            ("/var/lang/lib/python3.11/json/__init__.py", 346, "loads"),
            ("/var/lang/lib/python3.11/json/decoder.py", 337, "decode"),
            ("/var/lang/lib/python3.11/json/decoder.py", 355, "raw_decode"),
        ],
    )
    py312 = occurrence(
        "JSONDecodeError",
        [
            HANDLER,
            ("/var/task/app/parse.py", 4, "read_body"),
            ("/var/lang/lib/python3.12/json/__init__.py", 346, "loads"),
            ("/var/lang/lib/python3.12/json/decoder.py", 338, "decode"),
            ("/var/lang/lib/python3.12/json/decoder.py", 356, "_raw_decode"),
        ],
    )
    # Then only the application frames count, and the two are one group
    assert significant_frames(py311) == ["app/handler.py:lambda_handler", "app/parse.py:read_body"]
    assert error_fingerprint(py311) == error_fingerprint(py312)


def test_a_library_counts_by_the_function_the_application_called() -> None:
    # Given a ClientError through botocore, installed in the package or in a layer, with
    # different internals between versions
    def through(site: str, internal: str) -> ErrorOccurrence:
        return occurrence(
            "ClientError",
            [
                HANDLER,
                ("/var/task/app/invoices.py", 22, "load_invoice"),
                (f"{site}/botocore/client.py", 569, "_api_call"),
                (f"{site}/botocore/client.py", 1023, internal),
            ],
        )

    in_package = through("/var/lang/lib/python3.12/site-packages", "_make_api_call")
    in_layer = through("/opt/python/lib/python3.12/site-packages", "_make_request")
    # Then the library is its package name, its internals do not count, and both are one group
    assert significant_frames(in_package) == [
        "app/handler.py:lambda_handler",
        "app/invoices.py:load_invoice",
        "botocore:_api_call",
    ]
    assert error_fingerprint(in_package) == error_fingerprint(in_layer)


def test_without_application_frames_all_frames_count() -> None:
    # Given an error raised entirely inside a framework
    occ = occurrence(
        "RuntimeError",
        [
            ("/usr/lib/python3.12/threading.py", 1010, "run"),
            ("/usr/local/lib/python3.12/site-packages/uvicorn/server.py", 68, "serve"),
        ],
    )
    # Then its frames are what identifies it
    assert significant_frames(occ) == ["<stdlib>/threading.py:run", "uvicorn:serve"]


@pytest.mark.parametrize(
    ("language", "path", "expected"),
    [
        ("python", "/var/task/app/handler.py", "app/handler.py"),
        (
            "python",
            "/codebuild/output/src912345678/src/svc/app/handler.py",
            "src/svc/app/handler.py",
        ),
        ("python", "/home/runner/work/svc/svc/app/handler.py", "app/handler.py"),
        ("python", "/tmp/tmpa8x9_k2lq/app/handler.py", "app/handler.py"),
        ("python", "/build/3f9a0c1e7b2d/app/handler.py", "app/handler.py"),
        ("python", "/home/dev/svc/.aws-sam/build/OrdersFunction/app/handler.py", "app/handler.py"),
        ("python", "C:\\work\\svc\\app\\handler.py", "work/svc/app/handler.py"),
        ("node", "/var/task/index.mjs", "index.mjs"),
        ("node", "webpack://orders/./src/users.ts", "src/users.ts"),
        ("node", "/usr/src/app/dist/users.js", "dist/users.js"),
    ],
)
def test_application_paths_lose_their_volatile_prefixes(
    language: str, path: str, expected: str
) -> None:
    # Given a frame in application code under a deployment or build directory
    occ = occurrence("Error", [(path, 1, "f")], language=language)
    # Then only the path inside the project is kept
    assert significant_frames(occ) == [f"{expected}:f"]


def test_node_libraries_and_internals() -> None:
    # Given a Node error through a scoped package and Node's own modules
    occ = occurrence(
        "TypeError",
        [
            ("node:internal/process/task_queues", 95, "process.processTicksAndRejections"),
            ("/var/runtime/index.mjs", 1173, "Runtime.handleOnceNonStreaming"),
            ("/var/task/index.mjs", 8, "Runtime.handler"),
            ("/var/task/node_modules/@aws-sdk/client-s3/dist-cjs/index.js", 10, "S3Client.send"),
            ("/var/task/node_modules/@smithy/smithy-client/dist-cjs/index.js", 5, "x"),
        ],
        language="node",
    )
    # Then the internals go, and the library counts by the package and function called
    assert significant_frames(occ) == [
        "index.mjs:Runtime.handler",
        "@aws-sdk/client-s3:S3Client.send",
    ]


def test_java_generated_classes_and_platform_frames() -> None:
    # Given a Java error through a lambda, a proxy and the JDK, in two JVM runs
    def run(counter: int, address: str) -> ErrorOccurrence:
        return occurrence(
            "java.lang.NullPointerException",
            [
                ("Thread.java", 1583, "java.lang.Thread.run"),
                ("FrameworkServlet.java", 885, "org.springframework.web.FrameworkServlet.doPost"),
                ("<generated>", None, f"com.acme.Api$$SpringCGLIB$$0{counter}.post"),
                ("Api.java", 20, "com.acme.Api.post"),
                ("Unknown Source", None, f"com.acme.Api$$Lambda${counter}/0x{address}.apply"),
                ("Objects.java", 233, "java.util.Objects.requireNonNull"),
            ],
            language="java",
        )

    # Then JDK frames go, generated names lose their counters, and both runs are one group
    assert significant_frames(run(14, "0000000801234567")) == [
        "<generated>:com.acme.Api$$CGLIB.post",
        "Api.java:com.acme.Api.post",
        "Unknown Source:com.acme.Api$$Lambda.apply",
    ]
    assert error_fingerprint(run(14, "0000000801234567")) == error_fingerprint(
        run(97, "00000008019abcde")
    )


def test_recursion_depth_does_not_split_a_group() -> None:
    # Given a RecursionError at two depths
    def deep(n: int) -> ErrorOccurrence:
        return occurrence("RecursionError", [HANDLER, *[("/var/task/app/tree.py", 5, "walk")] * n])

    # Then repeated frames count once
    assert error_fingerprint(deep(900)) == error_fingerprint(deep(985))


def test_without_frames_the_normalised_message_is_used() -> None:
    # Given plain error lines of one problem and of another
    a = parse_error("ERROR Payment declined for user 123 (order 9)", T0)
    b = parse_error("ERROR Payment declined for user 456 (order 10)", T0)
    c = parse_error("ERROR Refund declined for user 123 (order 9)", T0)
    # Then the same text up to values is one group, another text another group
    assert error_fingerprint(a) == error_fingerprint(b)
    assert error_fingerprint(a) != error_fingerprint(c)


def test_alarm_fingerprint() -> None:
    # Given one alarm with its dimensions in two orders, and variations
    dims = {"FunctionName": "orders-prod", "Resource": "orders-prod:live"}
    fp = alarm_fingerprint("orders-errors", dims)
    # Then the order does not matter, the name and every dimension value do
    assert re.fullmatch(r"[0-9a-f]{32}", fp)
    assert fp == alarm_fingerprint("orders-errors", dict(reversed(list(dims.items()))))
    assert fp != alarm_fingerprint("orders-throttles", dims)
    assert fp != alarm_fingerprint("orders-errors", {**dims, "Resource": "orders-prod:canary"})
    assert fp != alarm_fingerprint("orders-errors", {})


# ---------------------------------------------------------------------------- THE grouping test

Event = tuple[datetime, str]
Maker = Callable[[random.Random, datetime], list[Event]]


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _shift(rng: random.Random) -> int:
    """0 before the deploy; after it, every line below the change moved."""
    return rng.choice([0, 0, 3, 11])


def _lambda_ts(ts: datetime) -> str:
    return ts.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ts.microsecond // 1000:03d}Z"


def _a_python_keyerror(rng: random.Random, ts: datetime) -> list[Event]:
    """logger.exception() in the pricing path: Lambda text format or Powertools JSON."""
    s = _shift(rng)
    order = rng.randint(1, 99999)
    sku = f"SKU-{rng.randint(1, 9999)}"
    trace = (
        "Traceback (most recent call last):\n"
        f'  File "/var/task/app/orders.py", line {40 + s}, in process\n'
        "    total = compute(order)\n"
        f'  File "/var/task/app/pricing.py", line {7 + s}, in compute\n'
        '    return order["qty"] * PRICES[order["sku"]]\n'
        f"KeyError: '{sku}'"
    )
    req = _uuid(rng)
    if rng.random() < 0.5:
        text = f"[ERROR]\t{_lambda_ts(ts)}\t{req}\tFailed to process order {order}\n{trace}\n"
    else:
        text = json.dumps(
            {
                "level": "ERROR",
                "location": f"process:{40 + s}",
                "message": f"Failed to process order {order}",
                "timestamp": ts.strftime("%Y-%m-%d %H:%M:%S,%f")[:-3] + "+0000",
                "service": "orders",
                "cold_start": rng.random() < 0.1,
                "function_request_id": req,
                "exception": trace,
                "exception_name": "KeyError",
                "xray_trace_id": f"1-{rng.getrandbits(32):08x}-{rng.getrandbits(96):024x}",
            }
        )
    return [(ts, f"START RequestId: {req} Version: $LATEST"), (ts, text)]


def _b_python_clienterror(rng: random.Random, ts: datetime) -> list[Event]:
    """An unhandled ClientError as Lambda reports it; botocore moves to a layer in v2."""
    s = _shift(rng)
    site = rng.choice(
        ["/var/lang/lib/python3.12/site-packages", "/opt/python/lib/python3.12/site-packages"]
    )
    invoice = f"inv-{rng.randint(1000, 9999)}"
    role = f"billing-fn-{rng.randint(1, 50)}"
    message = (
        "An error occurred (AccessDenied) when calling the GetObject operation: User: "
        f"arn:aws:sts::123456789012:assumed-role/billing-role/{role} is not authorized to "
        f"perform: s3:GetObject on resource: arn:aws:s3:::invoices/{invoice}.pdf"
    )
    lines = [
        f"[ERROR] ClientError: {message}",
        "Traceback (most recent call last):",
        f'  File "/var/task/app/handler.py", line {18 + s}, in lambda_handler',
        "    return load_invoice(event['invoice'])",
        f'  File "/var/task/app/invoices.py", line {22 + s}, in load_invoice',
        "    obj = s3.get_object(Bucket=BUCKET, Key=key)",
        f'  File "{site}/botocore/client.py", line {569 + rng.choice([0, 2])}, in _api_call',
        "    return self._make_api_call(operation_name, kwargs)",
        f'  File "{site}/botocore/client.py", line 1023, in _make_api_call',
        "    raise error_class(parsed_response, operation_name)",
    ]
    text = "\n".join(re.sub(r"^ +", lambda m: NBSP * len(m.group()), ln) for ln in lines)
    return [(ts, text)]


def _node_invoke_error(
    rng: random.Random, ts: datetime, error_type: str, message: str, stack: list[str]
) -> list[Event]:
    report = {"errorType": error_type, "errorMessage": message, "stack": stack}
    req = _uuid(rng)
    return [
        (ts, f"{_lambda_ts(ts)}\t{req}\tERROR\tInvoke Error \t{json.dumps(report)}"),
        (ts + timedelta(milliseconds=3), f"END RequestId: {req}"),
    ]


def _c_node_get_user(rng: random.Random, ts: datetime) -> list[Event]:
    """TypeError in getUser, Lambda's Invoke Error report."""
    s = _shift(rng)
    message = "Cannot read properties of undefined (reading 'id')"
    stack = [
        f"TypeError: {message}",
        f"    at getUser (/var/task/src/users.js:{12 + s}:{rng.choice([34, 41])})",
        f"    at Runtime.handler (file:///var/task/index.mjs:{8 + s}:20)",
        f"    at Runtime.handleOnceNonStreaming (file:///var/runtime/index.mjs:"
        f"{rng.choice([1173, 1205])}:29)",
    ]
    return _node_invoke_error(rng, ts, "TypeError", message, stack)


def _d_node_format_order(rng: random.Random, ts: datetime) -> list[Event]:
    """The same TypeError from another code path: formatOrder, logged by console.error."""
    s = _shift(rng)
    field = rng.choice(["total", "currency"])
    text = (
        f"{_lambda_ts(ts)}\t{_uuid(rng)}\tERROR\tTypeError: Cannot read properties of "
        f"undefined (reading '{field}')\n"
        f"    at formatOrder (/var/task/src/orders.js:{55 + s}:27)\n"
        "    at Array.map (<anonymous>)\n"
        f"    at Runtime.handler (file:///var/task/index.mjs:{14 + s}:30)"
    )
    return [(ts, text)]


def _e_java_npe(rng: random.Random, ts: datetime) -> list[Event]:
    """A Java root cause from a container, one event per line, other threads interleaved."""
    s = _shift(rng)
    order = rng.randint(1, 99999)
    thread = f"http-nio-8080-exec-{rng.randint(1, 200)}"
    lambda_class = f"OrderController$$Lambda${rng.randint(10, 999)}/0x{rng.getrandbits(40):016x}"
    lines = [
        f"{ts.strftime('%Y-%m-%d %H:%M:%S.%f')[:-3]} ERROR [{thread}] "
        f"c.a.o.OrderController - Checkout failed for order {order}",
        f"java.lang.IllegalStateException: Checkout failed for order {order}",
        f"\tat com.acme.orders.OrderService.checkout(OrderService.java:{88 + s})",
        f"\tat com.acme.orders.{lambda_class}.apply(Unknown Source)",
        f"\tat com.acme.orders.OrderController.post(OrderController.java:{41 + s})",
        "\tat org.springframework.web.servlet.FrameworkServlet.service(FrameworkServlet.java:885)",
        "\tat java.base/java.lang.Thread.run(Thread.java:1583)",
        f'Caused by: java.lang.NullPointerException: Cannot invoke "java.math.BigDecimal'
        f'.multiply(java.math.BigDecimal)" because "price" is null (sku {order % 97})',
        f"\tat com.acme.orders.PriceService.total(PriceService.java:{31 + s})",
        f"\tat com.acme.orders.OrderService.checkout(OrderService.java:{85 + s})",
        "\t... 4 more",
    ]
    events = [(ts + timedelta(microseconds=i), ln) for i, ln in enumerate(lines)]
    noise = (ts, f"{ts:%Y-%m-%d %H:%M:%S}.001 INFO [exec-{rng.randint(1, 9)}] c.a.Health - ok")
    events.insert(rng.randint(2, len(events) - 1), noise)
    return events


def _f_plain_payment_declined(rng: random.Random, ts: datetime) -> list[Event]:
    """A plain error line, no stack: the message identifies it once normalised."""
    who = rng.choice(["alice", "bob", "chen.wei", "dana+shop"])
    domain = rng.choice(["example.com", "mail.example.org"])
    amount = f"{rng.randint(1, 2000)}.{rng.randint(0, 99):02d}"
    ip = ".".join(str(rng.randint(1, 254)) for _ in range(4))
    line = (
        f"[ERROR]\t{_lambda_ts(ts)}\t{_uuid(rng)}\tPayment declined for {who}@{domain} "
        f"(customer {rng.randint(1, 10**6)}, order {_uuid(rng)}, amount {amount} EUR) "
        f"at {ts.isoformat()} from {ip}"
    )
    return [(ts, line)]


MAKERS: dict[str, Maker] = {
    "A": _a_python_keyerror,
    "B": _b_python_clienterror,
    "C": _c_node_get_user,
    "D": _d_node_format_order,
    "E": _e_java_npe,
    "F": _f_plain_payment_declined,
}


def test_four_hundred_mixed_errors_make_exactly_six_groups() -> None:
    # Given 400 occurrences of 6 underlying errors in Python, Node and Java, every one with
    # its own ids, times, users, amounts and request ids, some after a deploy that shifted
    # line numbers, in every format Lambda and Powertools write, split into one event per
    # line where a container would split them; shuffled with a fixed seed
    rng = random.Random(20260301)
    labels = [label for label in MAKERS for _ in range(400 // len(MAKERS) + 1)][:400]
    rng.shuffle(labels)
    batches = [
        MAKERS[label](rng, T0 + timedelta(seconds=7 * i, milliseconds=rng.randint(0, 999)))
        for i, label in enumerate(labels)
    ]

    # When each batch of events is reassembled and parsed, and the occurrences are grouped
    occurrences: list[ErrorOccurrence] = []
    label_of: dict[int, str] = {}
    for label, events in zip(labels, batches, strict=True):
        found = parse_events(events)
        assert len(found) == 1, (label, [e.raw for e in found])
        occurrences.append(found[0])
        label_of[id(found[0])] = label
    groups = group(occurrences)

    # Then there are exactly 6 groups, each holding all and only one error's occurrences
    assert len(groups) == 6
    memberships = sorted(
        (sorted({label_of[id(o)] for o in members}), len(members)) for members in groups.values()
    )
    expected = sorted(([label], labels.count(label)) for label in MAKERS)
    assert memberships == expected
    # and the groups read as what they are
    by_label = {label_of[id(members[0])]: members[0] for members in groups.values()}
    assert {k: (o.language, o.exception_type.rsplit(".", 1)[-1]) for k, o in by_label.items()} == {
        "A": ("python", "KeyError"),
        "B": ("python", "ClientError"),
        "C": ("node", "TypeError"),
        "D": ("node", "TypeError"),
        "E": ("java", "NullPointerException"),
        "F": ("unknown", ""),
    }
    # and the groups come in order of first appearance, members in input order
    assert list(groups) == list(dict.fromkeys(error_fingerprint(o) for o in occurrences))
    for members in groups.values():
        indices = [occurrences.index(o) for o in members]
        assert indices == sorted(indices)
