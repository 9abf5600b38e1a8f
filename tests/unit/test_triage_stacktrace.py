"""Triage parsing: error log text of Python, Node and Java (and Lambda's shapes of them) into
ErrorOccurrence, and the reassembly of traces CloudWatch Logs split into one event per line."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from fixloop.triage import (
    MAX_MESSAGE_CHARS,
    Frame,
    looks_like_error,
    parse_error,
    parse_events,
    reassemble,
    trim_message,
)

T0 = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)
REQ = "3f1c2a9e-1b2c-4d5e-8f90-123456789abc"
NBSP = "\u00a0"


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def calls(frames: list[Frame]) -> list[tuple[str, int | None, str]]:
    return [(f.file, f.line, f.function) for f in frames]


# ---------------------------------------------------------------------------- Python

# What the Lambda Python runtime (awslambdaric) logs for an unhandled exception in the text log
# format: one event, "[ERROR] Type: message", the traceback without a final exception line,
# leading spaces replaced by no-break spaces.
LAMBDA_PY_UNHANDLED = "\n".join(
    [
        "[ERROR] KeyError: 'user'",
        "Traceback (most recent call last):",
        f'{NBSP * 2}File "/var/task/app/handler.py", line 12, in lambda_handler',
        f"{NBSP * 4}return get_customer(event)",
        f'{NBSP * 2}File "/var/task/app/customers.py", line 30, in get_customer',
        f'{NBSP * 4}user_id = event["user"]["id"]',
        "",
    ]
)


def test_lambda_python_unhandled_error_report() -> None:
    # Given the event Lambda's Python runtime writes for an unhandled KeyError
    # When it is parsed
    occ = parse_error(LAMBDA_PY_UNHANDLED, T0)
    # Then the type and message come from the "[ERROR]" line and the frames in calling order
    assert occ.language == "python"
    assert occ.exception_type == "KeyError"
    assert occ.message == "'user'"
    assert calls(occ.frames) == [
        ("/var/task/app/handler.py", 12, "lambda_handler"),
        ("/var/task/app/customers.py", 30, "get_customer"),
    ]
    assert occ.timestamp == T0
    assert occ.raw == LAMBDA_PY_UNHANDLED
    assert occ.log_message == ""


def test_lambda_python_logger_exception_in_the_text_log_format() -> None:
    # Given logger.exception() in a Lambda function with the default text format
    text = (
        f"[ERROR]\t2026-03-01T12:00:00.123Z\t{REQ}\tFailed to process order 123\n"
        "Traceback (most recent call last):\n"
        '  File "/var/task/app/orders.py", line 40, in process\n'
        "    total = compute(order)\n"
        "            ^^^^^^^^^^^^^^\n"
        '  File "/var/task/app/pricing.py", line 7, in compute\n'
        '    return order["qty"] * PRICES[order["sku"]]\n'
        "                          ~~~~~~^^^^^^^^^^^^^^\n"
        "KeyError: 'SKU-42'\n"
    )
    # When it is parsed without an event timestamp
    occ = parse_error(text)
    # Then the exception comes from the traceback, the prefix gives time and request id
    assert occ.exception_type == "KeyError"
    assert occ.message == "'SKU-42'"
    assert calls(occ.frames) == [
        ("/var/task/app/orders.py", 40, "process"),
        ("/var/task/app/pricing.py", 7, "compute"),
    ]
    assert occ.log_message == "Failed to process order 123"
    assert occ.request_id == REQ
    assert occ.timestamp == datetime(2026, 3, 1, 12, 0, 0, 123000, tzinfo=UTC)


def test_lambda_python_json_log_format() -> None:
    # Given the unhandled-error record of Lambda's JSON log format (AWS_LAMBDA_LOG_FORMAT=JSON)
    record = {
        "timestamp": "2026-03-01T12:00:00Z",
        "level": "ERROR",
        "errorMessage": "division by zero",
        "errorType": "ZeroDivisionError",
        "requestId": REQ,
        "stackTrace": [
            '  File "/var/task/app/handler.py", line 9, in lambda_handler\n'
            "    return ratio(event)\n",
            '  File "/var/task/app/stats.py", line 3, in ratio\n    return a / b\n',
        ],
    }
    # When it is parsed
    occ = parse_error(json.dumps(record), T0)
    # Then type and message come from the record, frames from its stackTrace
    assert (occ.language, occ.exception_type, occ.message) == (
        "python",
        "ZeroDivisionError",
        "division by zero",
    )
    assert [f.function for f in occ.frames] == ["lambda_handler", "ratio"]
    assert occ.request_id == REQ


def test_powertools_json_log_with_exception() -> None:
    # Given a Powertools Logger record of logger.exception() (its default keys and time format)
    record = {
        "level": "ERROR",
        "location": "process:40",
        "message": "Failed to load invoice inv-2231",
        "timestamp": "2026-03-01 12:00:05,250+0000",
        "service": "billing",
        "cold_start": False,
        "function_name": "billing-prod-Invoices",
        "function_memory_size": "512",
        "function_arn": "arn:aws:lambda:eu-west-1:123456789012:function:billing-prod-Invoices",
        "function_request_id": REQ,
        "exception": (
            "Traceback (most recent call last):\n"
            '  File "/var/task/billing/invoices.py", line 40, in load_invoice\n'
            "    obj = s3.get_object(Bucket=BUCKET, Key=key)\n"
            '  File "/var/lang/lib/python3.12/site-packages/botocore/client.py", line 569, '
            "in _api_call\n"
            "    return self._make_api_call(operation_name, kwargs)\n"
            '  File "/var/lang/lib/python3.12/site-packages/botocore/client.py", line 1023, '
            "in _make_api_call\n"
            "    raise error_class(parsed_response, operation_name)\n"
            "botocore.exceptions.ClientError: An error occurred (AccessDenied) when calling the "
            "GetObject operation: Access Denied"
        ),
        "exception_name": "ClientError",
        "xray_trace_id": "1-65e1c2a0-5b1f0a4e3c2d1e0f9a8b7c6d",
    }
    # When it is parsed without an event timestamp
    occ = parse_error(json.dumps(record))
    # Then the exception is the traceback's, the logged message is kept apart
    assert occ.language == "python"
    assert occ.exception_type == "botocore.exceptions.ClientError"
    assert occ.message.startswith("An error occurred (AccessDenied)")
    assert [f.function for f in occ.frames] == ["load_invoice", "_api_call", "_make_api_call"]
    assert occ.log_message == "Failed to load invoice inv-2231"
    assert occ.request_id == REQ
    assert occ.timestamp == datetime(2026, 3, 1, 12, 0, 5, 250000, tzinfo=UTC)


def test_python_chained_exceptions_take_the_last_one() -> None:
    # Given a traceback chained twice ("during handling", then "direct cause")
    text = "\n".join(
        [
            "Traceback (most recent call last):",
            '  File "/app/shop/db.py", line 12, in fetch_one',
            "    return rows[0]",
            "IndexError: list index out of range",
            "",
            "During handling of the above exception, another exception occurred:",
            "",
            "Traceback (most recent call last):",
            '  File "/app/shop/repo.py", line 20, in get_user',
            "    row = db.fetch_one(sql, user_id)",
            '  File "/app/shop/db.py", line 14, in fetch_one',
            "    raise LookupError(sql)",
            "LookupError: SELECT * FROM users WHERE id = %s",
            "",
            "The above exception was the direct cause of the following exception:",
            "",
            "Traceback (most recent call last):",
            '  File "/app/shop/api.py", line 33, in get',
            "    user = repo.get_user(user_id)",
            '  File "/app/shop/repo.py", line 22, in get_user',
            '    raise UserNotFound(f"user {user_id} not found") from exc',
            "shop.errors.UserNotFound: user 981 not found",
        ]
    )
    # When it is parsed
    occ = parse_error(text, T0)
    # Then the error is the last exception, with all and only its own frames
    assert occ.exception_type == "shop.errors.UserNotFound"
    assert occ.message == "user 981 not found"
    assert calls(occ.frames) == [
        ("/app/shop/api.py", 33, "get"),
        ("/app/shop/repo.py", 22, "get_user"),
    ]


# ---------------------------------------------------------------------------- Node.js


def test_lambda_node_invoke_error() -> None:
    # Given the event Lambda's Node.js runtime writes when the handler throws
    report = {
        "errorType": "TypeError",
        "errorMessage": "Cannot read properties of undefined (reading 'id')",
        "stack": [
            "TypeError: Cannot read properties of undefined (reading 'id')",
            "    at getUser (/var/task/src/users.js:12:34)",
            "    at Runtime.handler (file:///var/task/index.mjs:8:20)",
            "    at Runtime.handleOnceNonStreaming (file:///var/runtime/index.mjs:1173:29)",
        ],
    }
    text = f"2026-03-01T12:00:00.456Z\t{REQ}\tERROR\tInvoke Error \t{json.dumps(report)}\n"
    # When it is parsed
    occ = parse_error(text)
    # Then the stack is reversed into calling order, file:// dropped
    assert occ.language == "node"
    assert occ.exception_type == "TypeError"
    assert occ.message == "Cannot read properties of undefined (reading 'id')"
    assert calls(occ.frames) == [
        ("/var/runtime/index.mjs", 1173, "Runtime.handleOnceNonStreaming"),
        ("/var/task/index.mjs", 8, "Runtime.handler"),
        ("/var/task/src/users.js", 12, "getUser"),
    ]
    assert occ.request_id == REQ
    assert occ.timestamp == datetime(2026, 3, 1, 12, 0, 0, 456000, tzinfo=UTC)
    assert occ.log_message == ""


def test_lambda_node_unhandled_rejection_reports_the_reason() -> None:
    # Given an unhandled promise rejection as Lambda's Node.js runtime logs it
    report = {
        "errorType": "Runtime.UnhandledPromiseRejection",
        "errorMessage": "Error: connect ECONNREFUSED 10.0.3.17:5432",
        "reason": {
            "errorType": "Error",
            "errorMessage": "connect ECONNREFUSED 10.0.3.17:5432",
            "code": "ECONNREFUSED",
            "stack": [
                "Error: connect ECONNREFUSED 10.0.3.17:5432",
                "    at TCPConnectWrap.afterConnect [as oncomplete] (node:net:1595:16)",
                "    at async connect (/var/task/db/pool.js:22:5)",
            ],
        },
        "promise": {},
        "stack": [
            "Runtime.UnhandledPromiseRejection: Error: connect ECONNREFUSED 10.0.3.17:5432",
            "    at process.<anonymous> (file:///var/runtime/index.mjs:1276:17)",
        ],
    }
    text = f"2026-03-01T12:00:01.000Z\t{REQ}\tERROR\tUnhandled Promise Rejection \t" + json.dumps(
        report
    )
    # When it is parsed
    occ = parse_error(text)
    # Then the error is the rejection's reason, with its frames ([as ...] aliases dropped)
    assert occ.exception_type == "Error"
    assert occ.message == "connect ECONNREFUSED 10.0.3.17:5432"
    assert calls(occ.frames) == [
        ("/var/task/db/pool.js", 22, "connect"),
        ("node:net", 1595, "TCPConnectWrap.afterConnect"),
    ]


def test_node_stack_in_text_with_anonymous_and_async_frames() -> None:
    # Given console.error(err) in Lambda: the prefix, then the stack as Node prints it
    text = (
        f"2026-03-01T12:00:02.000Z\t{REQ}\tERROR\tTypeError: items.map is not a function\n"
        "    at /var/task/src/render.js:3:17\n"
        "    at new Renderer (/var/task/src/render.js:10:5)\n"
        "    at async Promise.all (index 0)\n"
        "    at async handler (/var/task/index.js:5:3) {\n"
        "  code: 'E_RENDER'\n"
        "}"
    )
    # When it is parsed
    occ = parse_error(text)
    # Then functionless and native frames are kept as printed, the object dump is not a frame
    assert occ.language == "node"
    assert (occ.exception_type, occ.message) == ("TypeError", "items.map is not a function")
    assert calls(occ.frames) == [
        ("/var/task/index.js", 5, "handler"),
        ("index 0", None, "Promise.all"),
        ("/var/task/src/render.js", 10, "new Renderer"),
        ("/var/task/src/render.js", 3, ""),
    ]


def test_powertools_typescript_error() -> None:
    # Given a Powertools for TypeScript record with an error attribute
    record = {
        "level": "ERROR",
        "message": "Checkout failed",
        "timestamp": "2026-03-01T12:00:03.000Z",
        "service": "checkout",
        "error": {
            "name": "ValidationError",
            "location": "/var/task/index.js:30",
            "message": "amount must be positive",
            "stack": "ValidationError: amount must be positive\n"
            "    at validate (/var/task/index.js:30:11)\n"
            "    at Runtime.handler (/var/task/index.js:44:3)",
        },
    }
    # When it is parsed
    occ = parse_error(json.dumps(record))
    # Then it is a Node error with the logged message kept apart
    assert occ.language == "node"
    assert (occ.exception_type, occ.message) == ("ValidationError", "amount must be positive")
    assert [f.function for f in occ.frames] == ["Runtime.handler", "validate"]
    assert occ.log_message == "Checkout failed"
    assert occ.timestamp == datetime(2026, 3, 1, 12, 0, 3, tzinfo=UTC)


# ---------------------------------------------------------------------------- Java

JAVA_CAUSED_BY = "\n".join(
    [
        "2026-03-01 12:00:04.321 ERROR [http-nio-8080-exec-7] c.a.o.OrderController - "
        "Checkout failed",
        "java.lang.IllegalStateException: Checkout failed for order 77",
        "\tat com.acme.orders.OrderService.checkout(OrderService.java:88)",
        "\tat com.acme.orders.OrderController.post(OrderController.java:41)",
        "\tat java.base/jdk.internal.reflect.DirectMethodHandleAccessor.invoke("
        "DirectMethodHandleAccessor.java:103)",
        "\tat org.springframework.web.servlet.FrameworkServlet.service(FrameworkServlet.java:885)",
        "\tat java.base/java.lang.Thread.run(Thread.java:1583)",
        "Caused by: com.acme.orders.PricingException: no price for SKU-42",
        "\tat com.acme.orders.PriceService.lookup(PriceService.java:19)",
        "\tat com.acme.orders.OrderService.checkout(OrderService.java:85)",
        "\t... 4 more",
        'Caused by: java.lang.NullPointerException: Cannot invoke "java.math.BigDecimal.multiply('
        'java.math.BigDecimal)" because "price" is null',
        "\tat com.acme.orders.PriceService.total(PriceService.java:31)",
        "\tat com.acme.orders.PriceService.lookup(PriceService.java:17)",
        "\t... 5 more",
        "",
    ]
)


def test_java_caused_by_is_the_error_and_elided_frames_come_from_the_enclosing_trace() -> None:
    # Given a logback record with a trace caused twice, the causes' common frames elided
    # When it is parsed
    occ = parse_error(JAVA_CAUSED_BY, T0)
    # Then the root cause is the error, the module prefix is dropped from functions
    assert occ.language == "java"
    assert occ.exception_type == "java.lang.NullPointerException"
    assert occ.message.startswith('Cannot invoke "java.math.BigDecimal.multiply')
    # and its frames are its own plus the 5 it shares with the cause above it, calling order
    assert calls(occ.frames) == [
        ("Thread.java", 1583, "java.lang.Thread.run"),
        ("FrameworkServlet.java", 885, "org.springframework.web.servlet.FrameworkServlet.service"),
        (
            "DirectMethodHandleAccessor.java",
            103,
            "jdk.internal.reflect.DirectMethodHandleAccessor.invoke",
        ),
        ("OrderController.java", 41, "com.acme.orders.OrderController.post"),
        ("OrderService.java", 85, "com.acme.orders.OrderService.checkout"),
        ("PriceService.java", 17, "com.acme.orders.PriceService.lookup"),
        ("PriceService.java", 31, "com.acme.orders.PriceService.total"),
    ]
    assert occ.log_message.endswith("c.a.o.OrderController - Checkout failed")


def test_java_exception_in_thread_with_native_and_suppressed_frames() -> None:
    # Given an uncaught exception with a suppressed exception, a cause and a native frame
    text = (
        'Exception in thread "main" java.io.UncheckedIOException: write failed\n'
        "\tat com.acme.batch.Writer.flush(Writer.java:52)\n"
        "\tat com.acme.batch.Main.main(Main.java:14)\n"
        "\tSuppressed: java.io.IOException: close failed\n"
        "\t\tat com.acme.batch.Sink.close(Sink.java:9)\n"
        "\t\t... 1 more\n"
        "Caused by: java.io.IOException: No space left on device\n"
        "\tat java.base/sun.nio.ch.FileDispatcherImpl.write0(Native Method)\n"
        "\tat com.acme.batch.Writer.flush(Writer.java:50)\n"
        "\t... 1 more\n"
    )
    # When it is parsed
    occ = parse_error(text, T0)
    # Then the cause is the error; the suppressed exception lends no frames
    assert occ.exception_type == "java.io.IOException"
    assert occ.message == "No space left on device"
    assert calls(occ.frames) == [
        ("Main.java", 14, "com.acme.batch.Main.main"),
        ("Writer.java", 50, "com.acme.batch.Writer.flush"),
        ("Native Method", None, "sun.nio.ch.FileDispatcherImpl.write0"),
    ]


def test_java_hidden_class_frames_keep_their_name() -> None:
    # Given a frame of a lambda's hidden class and one with a class loader prefix
    text = (
        "java.lang.IllegalArgumentException: bad\n"
        "\tat app//com.acme.Rules.check(Rules.java:12)\n"
        "\tat com.acme.Rules$$Lambda$14/0x0000000800c0b5f8.apply(Unknown Source)\n"
    )
    # When it is parsed
    occ = parse_error(text, T0)
    # Then the loader prefix goes and the hidden class's "/0x..." stays part of its name
    assert [f.function for f in occ.frames] == [
        "com.acme.Rules$$Lambda$14/0x0000000800c0b5f8.apply",
        "com.acme.Rules.check",
    ]


def test_lambda_java_json_report_with_cause() -> None:
    # Given the shape Lambda's Java runtime reports an unhandled exception in
    report = {
        "errorMessage": "java.lang.ArithmeticException: / by zero",
        "errorType": "java.lang.RuntimeException",
        "stackTrace": [
            "com.acme.Handler.handleRequest(Handler.java:25)",
            "java.base/jdk.internal.reflect.DirectMethodHandleAccessor.invoke(Unknown Source)",
        ],
        "cause": {
            "errorMessage": "/ by zero",
            "errorType": "java.lang.ArithmeticException",
            "stackTrace": [
                "com.acme.Stats.ratio(Stats.java:8)",
                "com.acme.Handler.handleRequest(Handler.java:23)",
            ],
        },
    }
    # When it is parsed
    occ = parse_error(json.dumps(report), T0)
    # Then the cause is the error, with its frames
    assert (occ.language, occ.exception_type, occ.message) == (
        "java",
        "java.lang.ArithmeticException",
        "/ by zero",
    )
    assert calls(occ.frames) == [
        ("Handler.java", 23, "com.acme.Handler.handleRequest"),
        ("Stats.java", 8, "com.acme.Stats.ratio"),
    ]


# ---------------------------------------------------------------------------- plain lines


def test_plain_error_line() -> None:
    # Given an error line without a stack
    # When it is parsed
    occ = parse_error("ERROR something failed for user 123", T0)
    # Then it has no language, no frames, and the message is the line without its level
    assert (occ.language, occ.exception_type, occ.message, occ.frames) == (
        "unknown",
        "",
        "something failed for user 123",
        [],
    )


def test_plain_lambda_line_and_an_exception_named_without_stack() -> None:
    # Given a Lambda text-format error line, and an exception named on a line of its own
    line = f"[ERROR]\t2026-03-01T12:00:00.000Z\t{REQ}\tPayment declined for order 7"
    named = "2026-03-01 12:00:00,000 ERROR ValueError: amount must be positive, got -5"
    # When they are parsed
    occ = parse_error(line)
    occ_named = parse_error(named)
    # Then the prefix is read and stripped, and a leading exception name is the type
    assert (occ.language, occ.message, occ.request_id) == (
        "unknown",
        "Payment declined for order 7",
        REQ,
    )
    assert occ.timestamp == T0
    assert (occ_named.exception_type, occ_named.message) == (
        "ValueError",
        "amount must be positive, got -5",
    )


def test_looks_like_error() -> None:
    # Given error and non-error messages
    # Then only the errors are recognised
    assert looks_like_error("ERROR something failed")
    assert looks_like_error(LAMBDA_PY_UNHANDLED)
    assert looks_like_error(json.dumps({"level": "ERROR", "message": "x"}))
    assert looks_like_error("TypeError: user info is undefined")
    assert not looks_like_error(f"START RequestId: {REQ} Version: $LATEST")
    assert not looks_like_error("INFO retrying after ThrottlingException")
    assert not looks_like_error(json.dumps({"level": "INFO", "message": "ok"}))


# ---------------------------------------------------------------------------- reassembly


def test_reassembly_joins_split_traces_and_keeps_interleaved_lines_apart() -> None:
    # Given one stream where Python, Java and Node traces arrived one line per event, with
    # unrelated lines before, between and inside them, and a whole Lambda report
    lines = [
        f"START RequestId: {REQ} Version: $LATEST",
        "INFO handling order 1",
        # Python, printed by traceback.print_exc()
        "Traceback (most recent call last):",
        '  File "/app/app/orders.py", line 40, in process',
        "    total = compute(order)",
        "INFO GET /health 200",  # another thread, mid-trace
        '  File "/app/app/pricing.py", line 7, in compute',
        '    return order["qty"] * PRICES[order["sku"]]',
        "KeyError: 'SKU-42'",
        "INFO order 2 done",
        # Java, logback: message line, exception line, frames, causes
        "2026-03-01 12:00:04.321 ERROR [exec-7] c.a.o.OrderController - Checkout failed",
        "java.lang.IllegalStateException: Checkout failed for order 77",
        "\tat com.acme.orders.OrderService.checkout(OrderService.java:88)",
        "\tat com.acme.orders.OrderController.post(OrderController.java:41)",
        "2026-03-01 12:00:04.322 INFO [exec-2] c.a.o.Health - ok",  # interleaved
        "Caused by: java.lang.NullPointerException: price is null",
        "\tat com.acme.orders.PriceService.total(PriceService.java:31)",
        "\t... 2 more",
        # Node, printed by console.log(err.stack) in a container
        "TypeError: Cannot read properties of undefined (reading 'id')",
        "    at getUser (/usr/src/app/src/users.js:12:34)",
        "    at async handler (/usr/src/app/index.js:5:3)",
        LAMBDA_PY_UNHANDLED,  # whole already
        f"END RequestId: {REQ}",
    ]
    events = [(at(i * 0.01), line) for i, line in enumerate(lines)]
    # When the stream is reassembled
    out = reassemble(events)
    # Then each trace is one event with its first line's time, the other lines stay apart
    texts = [text for _, text in out]
    assert texts == [
        lines[0],
        lines[1],
        "\n".join(lines[2:5] + lines[6:9]),
        lines[5],
        lines[9],
        "\n".join(lines[10:14] + lines[15:18]),
        lines[14],
        "\n".join(lines[18:21]),
        LAMBDA_PY_UNHANDLED.rstrip("\n"),
        lines[22],
    ]
    assert [ts for ts, _ in out][2] == events[2][0]
    # and parsing the stream gives the three errors, with all their frames
    errors = parse_events(events)
    assert [(e.language, e.exception_type) for e in errors] == [
        ("python", "KeyError"),
        ("java", "java.lang.NullPointerException"),
        ("node", "TypeError"),
        ("python", "KeyError"),
    ]
    assert [f.function for f in errors[0].frames] == ["process", "compute"]
    assert [f.function for f in errors[1].frames] == [
        "com.acme.orders.OrderController.post",
        "com.acme.orders.OrderService.checkout",
        "com.acme.orders.PriceService.total",
    ]
    assert errors[1].log_message.endswith("Checkout failed")


def test_reassembly_of_a_split_chained_python_traceback() -> None:
    # Given a chained traceback split one line per event, blank lines included
    lines = [
        "Traceback (most recent call last):",
        '  File "/app/db.py", line 3, in get',
        "    return rows[0]",
        "IndexError: list index out of range",
        "",
        "The above exception was the direct cause of the following exception:",
        "",
        "Traceback (most recent call last):",
        '  File "/app/users.py", line 5, in get_user',
        "    raise NotFound(user_id) from exc",
        "users.NotFound: 42",
        "Traceback (most recent call last):",  # a new, unrelated error
        '  File "/app/jobs.py", line 8, in run',
        "    1 / 0",
        "ZeroDivisionError: division by zero",
    ]
    # When the events are reassembled and parsed
    out = reassemble([(at(i * 0.001), line) for i, line in enumerate(lines)])
    # Then the chain is one error, the following traceback another
    assert [text for _, text in out] == ["\n".join(lines[:11]), "\n".join(lines[11:])]
    occs = [parse_error(text, ts) for ts, text in out]
    assert [(o.exception_type, o.message) for o in occs] == [
        ("users.NotFound", "42"),
        ("ZeroDivisionError", "division by zero"),
    ]


def test_reassembly_adopts_a_header_and_respects_the_time_gap() -> None:
    # Given frames right after a line that names no error, and frames long after a trace
    events = [
        (at(0), "checkout blew up:"),
        (at(0.001), "    at checkout (/var/task/src/cart.js:9:3)"),
        (at(60), "    at stray (/var/task/src/other.js:1:1)"),
    ]
    # When they are reassembled
    out = reassemble(events)
    # Then the first frame joins the line before it, the late one stands alone
    assert [text for _, text in out] == [
        "checkout blew up:\n    at checkout (/var/task/src/cart.js:9:3)",
        "    at stray (/var/task/src/other.js:1:1)",
    ]


def test_a_one_megabyte_line_is_trimmed_not_dropped() -> None:
    # Given a 1 MB Python trace: an exception whose message dumps a whole payload
    payload = "x" * (1024 * 1024)
    text = (
        "Traceback (most recent call last):\n"
        '  File "/var/task/app/ingest.py", line 12, in handler\n'
        "    validate(body)\n"
        f"ValueError: payload rejected: {payload}END"
    )
    # When the stream is reassembled
    out = reassemble([(T0, "INFO start"), (at(1), text)])
    # Then the line is there, capped, with its head, its tail and what was cut said
    assert len(out) == 2
    ts, trimmed = out[1]
    assert ts == at(1)
    assert len(trimmed) <= MAX_MESSAGE_CHARS
    assert trimmed.startswith("Traceback (most recent call last):")
    assert trimmed.endswith("xxxxEND")
    assert f"of {len(text)} characters" in trimmed
    # and it still parses as the error it was
    occ = parse_error(trimmed, ts)
    assert (occ.exception_type, [f.function for f in occ.frames]) == ("ValueError", ["handler"])
    assert occ.message.startswith("payload rejected: xxx")


def test_a_trace_longer_than_the_cap_keeps_its_outer_and_inner_frames() -> None:
    # Given a Python trace of 2,000 frames (far over the cap)
    frames = "".join(
        f'  File "/var/task/app/steps.py", line {i}, in step_{i}\n    next_step()\n'
        for i in range(2000)
    )
    text = f"Traceback (most recent call last):\n{frames}RuntimeError: pipeline stalled"
    # When it is parsed
    occ = parse_error(text, T0)
    # Then the cut falls between frames: the error and both ends of the stack are there
    assert len(occ.raw) <= MAX_MESSAGE_CHARS
    assert (occ.exception_type, occ.message) == ("RuntimeError", "pipeline stalled")
    assert occ.frames[0].function == "step_0"
    assert occ.frames[-1].function == "step_1999"
    assert 100 < len(occ.frames) < 2000


def test_trim_message_cuts_at_line_breaks_when_it_can() -> None:
    # Given a long multi-line text and a short one
    text = "\n".join(f"line {i:05d}" for i in range(20000))
    # When they are trimmed
    trimmed = trim_message(text, 4000)
    # Then the short one is untouched, and the long one keeps whole head and tail lines
    assert trim_message("short") == "short"
    assert len(trimmed) <= 4000
    head, note, tail = trimmed.partition("[... fixloop cut ")
    assert head.startswith("line 00000\n") and head.endswith("\n")
    assert tail.split("\n", 1)[1].startswith("line ")
    assert trimmed.endswith("line 19999")
    assert note
