"""Whose code a frame is in (the one list of library and runtime code), and the application
frames read out of log text for git blame, in every format triage reads."""

from __future__ import annotations

import json

import pytest

from fixloop.triage import (
    AppFrame,
    Frame,
    Language,
    Origin,
    application_frames,
    error_fingerprint,
    origin,
    parse_error,
)

REQ = "3f1c2a9e-1b2c-4d5e-8f90-123456789abc"


def located(frames: list[AppFrame]) -> list[tuple[str, int, str]]:
    return [(f.source_path, f.line, f.function) for f in frames]


# ---------------------------------------------------------------------------- origin


@pytest.mark.parametrize(
    ("language", "file", "function", "expected"),
    [
        ("python", "/var/task/app/handler.py", "handle", Origin("app")),
        (
            "python",
            "/var/lang/lib/python3.12/site-packages/botocore/client.py",
            "_api_call",
            Origin("library", "botocore"),
        ),
        ("python", "/var/task/vendor/dist-packages/six.py", "x", Origin("library", "six")),
        ("python", "/opt/python/requests/api.py", "get", Origin("library", "requests")),
        (
            "python",
            "/var/lang/lib/python3.12/json/decoder.py",
            "decode",
            Origin("system", "<stdlib>/json/decoder.py"),
        ),
        ("python", "/var/runtime/bootstrap.py", "main", Origin("system", "<runtime>")),
        (
            "python",
            "<frozen importlib._bootstrap>",
            "_call",
            Origin("system", "<frozen importlib._bootstrap>"),
        ),
        ("python", "/var/lang/bin/python3", "main", Origin("system", "/var/lang/bin/python3")),
        ("python", "/usr/lib/pymodules/x.py", "f", Origin("system", "/usr/lib/pymodules/x.py")),
        ("node", "/var/task/src/orders.js", "processOrder", Origin("app")),
        ("node", "/opt/nodejs/lib/shared.js", "f", Origin("app")),
        (
            "node",
            "/var/task/node_modules/@aws-sdk/client-s3/dist/index.js",
            "send",
            Origin("library", "@aws-sdk/client-s3"),
        ),
        (
            "node",
            "node:internal/process/task_queues",
            "run",
            Origin("system", "node:internal/process/task_queues"),
        ),
        ("node", "/var/runtime/index.mjs", "run", Origin("system", "<runtime>")),
        ("node", "<anonymous>", "", Origin("system", "<anonymous>")),
        ("node", "/usr/local/lib/x.js", "f", Origin("system", "/usr/local/lib/x.js")),
        ("java", "Handler.java", "com.acme.orders.Handler.handle", Origin("app")),
        ("java", "Method.java", "jdk.internal.reflect.Method.invoke", Origin("system")),
        ("java", "Thread.java", "java.lang.Thread.run", Origin("system")),
        ("java", "X.java", "javax.servlet.X.f", Origin("system")),
        ("java", "Y.java", "sun.reflect.Y.f", Origin("system")),
        ("java", "Z.java", "com.sun.proxy.$Proxy12.f", Origin("system")),
        ("java", "Intrinsics.java", "kotlin.jvm.internal.Intrinsics.check", Origin("system")),
        ("java", "AWSLambda.java", "lambdainternal.AWSLambda.main", Origin("system")),
        (
            "java",
            "DispatcherServlet.java",
            "org.springframework.web.servlet.DispatcherServlet.doService",
            Origin("library", "org.springframework"),
        ),
    ],
)
def test_whose_code_a_frame_is_in(
    language: Language, file: str, function: str, expected: Origin
) -> None:
    assert origin(language, Frame(file=file, line=1, function=function)) == expected


def test_a_jdk_frame_with_its_module_is_system_code() -> None:
    # Given a Java trace through the JDK's reflection, printed with the module name
    text = (
        "java.lang.IllegalStateException: no order\n"
        "\tat com.acme.orders.Handler.handle(Handler.java:42)\n"
        "\tat java.base/jdk.internal.reflect.DirectMethodHandleAccessor.invoke("
        "DirectMethodHandleAccessor.java:103)\n"
        "\tat java.base/java.lang.reflect.Method.invoke(Method.java:580)\n"
        "\tat lambdainternal.EventHandlerLoader$PojoMethodRequestHandler.handleRequest("
        "EventHandlerLoader.java:285)"
    )
    occ = parse_error(text)
    # Then the JDK's and the runtime's frames are not the application's
    assert [origin("java", f).kind for f in occ.frames] == ["system", "system", "system", "app"]
    assert located(application_frames(text)) == [
        ("com/acme/orders/Handler.java", 42, "com.acme.orders.Handler.handle")
    ]


# ---------------------------------------------------------------------------- application frames


def test_frames_of_a_lambda_json_log_line() -> None:
    # Given the unhandled-error record of Lambda's JSON log format: one line, the frames inside
    # a JSON list, quotes escaped
    line = json.dumps(
        {
            "timestamp": "2026-03-01T12:00:00Z",
            "level": "ERROR",
            "errorMessage": "'user'",
            "errorType": "KeyError",
            "requestId": REQ,
            "stackTrace": [
                '  File "/var/runtime/bootstrap.py", line 60, in handle_event_request\n',
                '  File "/var/task/app/handler.py", line 3, in handle\n'
                '    return ident(event["user"]["id"])\n',
                '  File "/var/task/app/util.py", line 2, in ident\n    return x.strip()\n',
            ],
        }
    )
    # When its application frames are read
    frames = application_frames(line)
    # Then both application frames are found, in calling order
    assert located(frames) == [
        ("/var/task/app/handler.py", 3, "handle"),
        ("/var/task/app/util.py", 2, "ident"),
    ]
    assert {f.language for f in frames} == {"python"}
    assert str(frames[0]) == "/var/task/app/handler.py:3 in handle"


def test_frames_of_a_powertools_json_log_line_between_other_lines() -> None:
    # Given Powertools' logger.exception() record, as a JSON line between Lambda's own lines
    record = {
        "level": "ERROR",
        "location": "handle:3",
        "message": "checkout failed",
        "timestamp": "2026-03-01 12:00:05,250+0000",
        "service": "orders",
        "exception": "Traceback (most recent call last):\n"
        '  File "/var/task/app/handler.py", line 3, in handle\n'
        '    return ident(event["user"]["id"])\n'
        "KeyError: 'user'",
        "exception_name": "KeyError",
    }
    text = "\n".join([f"START RequestId: {REQ}", json.dumps(record), f"END RequestId: {REQ}"])
    # When / Then the frame inside the "exception" string is found
    assert located(application_frames(text)) == [("/var/task/app/handler.py", 3, "handle")]


def test_frames_of_node_and_java_lambda_json_reports() -> None:
    node = f"2026-03-01T12:00:00.000Z\t{REQ}\tERROR\tInvoke Error \t" + json.dumps(
        {
            "errorType": "TypeError",
            "errorMessage": "Cannot read properties of undefined (reading 'id')",
            "stack": [
                "TypeError: Cannot read properties of undefined (reading 'id')",
                "    at getUser (/var/task/users.js:12:20)",
                "    at Runtime.handler (/var/task/index.mjs:5:3)",
                "    at Runtime.handleOnceNonStreaming (file:///var/runtime/index.mjs:1173:29)",
            ],
        }
    )
    java = json.dumps(
        {
            "errorMessage": "no order",
            "errorType": "java.lang.IllegalStateException",
            "stackTrace": [
                "com.acme.orders.Handler.handleRequest(Handler.java:42)",
                "java.base/jdk.internal.reflect.Method.invoke(Method.java:580)",
            ],
        }
    )
    assert located(application_frames(node + "\n" + java)) == [
        ("/var/task/index.mjs", 5, "Runtime.handler"),
        ("/var/task/users.js", 12, "getUser"),
        ("com/acme/orders/Handler.java", 42, "com.acme.orders.Handler.handleRequest"),
    ]


def test_frames_of_chained_exceptions_and_split_lines_are_all_read() -> None:
    # Given a chained Python traceback, one line per log event, and a Java trace with a cause
    python = [
        "Traceback (most recent call last):",
        '  File "/app/shop/db.py", line 12, in fetch_one',
        "    return rows[0]",
        "IndexError: list index out of range",
        "",
        "The above exception was the direct cause of the following exception:",
        "",
        "Traceback (most recent call last):",
        '  File "/app/shop/repo.py", line 22, in get_user',
        "    raise UserNotFound(user_id) from exc",
        "shop.errors.UserNotFound: 981",
    ]
    java = [
        "com.acme.CheckoutException: checkout failed",
        "\tat com.acme.Checkout.run(Checkout.java:30)",
        "\tat com.acme.Main.main(Main.java:5)",
        "Caused by: java.sql.SQLException: timeout",
        "\tat com.acme.Db.query(Db.java:77)",
        "\tat com.acme.Checkout.run(Checkout.java:28)",
        "\t... 1 more",
    ]
    # When the application frames of the text are read
    frames = located(application_frames("\n".join([*python, *java])))
    # Then the error's own frames come first, then those of the exceptions chained to it
    assert frames == [
        ("/app/shop/repo.py", 22, "get_user"),
        ("/app/shop/db.py", 12, "fetch_one"),
        ("com/acme/Main.java", 5, "com.acme.Main.main"),
        ("com/acme/Checkout.java", 28, "com.acme.Checkout.run"),
        ("com/acme/Db.java", 77, "com.acme.Db.query"),
        ("com/acme/Checkout.java", 30, "com.acme.Checkout.run"),
    ]
    # And the fingerprint still reads only the error's own frames
    chained = parse_error("\n".join(python))
    assert [f.line for f in chained.frames] == [22]
    assert [f.line for f in chained.chained_frames] == [12]
    alone = parse_error("\n".join(python[7:]))
    assert error_fingerprint(chained) == error_fingerprint(alone)


def test_no_frames_no_line_and_a_frame_without_indentation() -> None:
    assert application_frames("ERROR boom\nSTART RequestId: x") == []
    # native frames have no line to blame
    assert application_frames("Error: x\n    at Array.map (<anonymous>)\n    at native") == []
    # a single frame line, as a person or the model might paste it
    assert located(application_frames('File "/var/task/app/handler.py", line 9, in handle')) == [
        ("/var/task/app/handler.py", 9, "handle")
    ]
