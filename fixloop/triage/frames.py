"""Whose code a stack frame is in: the application's, a library's, or the language's own.

One list, read by the fingerprint (which keeps the application's frames and the library
functions they called) and by suspect commits (which blames the application's lines):

* **system**, the language and its runtime: Python's standard library (``lib/python3.12/``),
  ``<frozen ...>``, ``<string>``; Node's ``node:`` and ``internal/`` modules, native frames
  and ``<anonymous>``; the JDK and the JVM languages' runtimes (``java.``, ``javax.``,
  ``jdk.``, ``sun.``, ``com.sun.``, ``kotlin.``, ``scala.``; ``java.base/...`` frames are
  read without their module); the Lambda runtime (``/var/runtime/``, ``/var/lang/``,
  ``lambdainternal.``) and the system's (``/usr/lib/``, ``/usr/local/lib/``).
* **library**, third-party code: ``site-packages``, ``dist-packages``, ``/opt/python/``
  (Lambda layers), ``node_modules``, and well-known Java libraries (Spring, Apache, Jackson,
  the AWS SDKs...).
* **app**: everything else.

:func:`application_frames` reads the application's frames out of log text for git blame.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from fixloop.triage.reassemble import reassemble
from fixloop.triage.stacktrace import Frame, Language, parse_error

__all__ = ["AppFrame", "FrameKind", "Origin", "application_frames", "clean_path", "origin"]

FrameKind = Literal["app", "library", "system"]

_PY_LIBRARY = re.compile(r"/(?:site|dist)-packages/(?P<rest>.+)$")
_PY_STDLIB = re.compile(r"(?:^|/)(?:lib|Lib)/python\d+(?:\.\d+)?/(?P<rest>.+)$")
_PY_LAYER = re.compile(r"^/opt/python/(?P<rest>.+)$")
_NODE_MODULES = re.compile(r"(?:^|/)node_modules/(?P<rest>.+)$")
_NODE_SYSTEM = ("node:", "internal/")
_RUNTIME = re.compile(r"^/var/runtime/")
_SYSTEM_DIRS = ("/var/lang/", "/usr/lib/", "/usr/local/lib/")
"""The Lambda runtime's language install and the system's; checked after the patterns above,
so a package or the standard library under them is still named as such."""
_SCRIPT = re.compile(r"\.[cm]?[jt]sx?$")

JAVA_SYSTEM = (
    "java.",
    "javax.",
    "jdk.",
    "sun.",
    "com.sun.",
    "kotlin.",
    "scala.",
    "lambdainternal.",
    "com.amazonaws.services.lambda.runtime.",
)
"""Prefixes of the JDK's, the JVM languages' and the Lambda Java runtime's classes."""
JAVA_LIBRARIES = (
    "org.springframework.",
    "org.apache.",
    "com.fasterxml.",
    "software.amazon.",
    "com.amazonaws.",
    "io.netty.",
    "org.hibernate.",
    "com.google.",
    "io.micronaut.",
    "io.quarkus.",
    "org.eclipse.",
    "reactor.",
    "okhttp3.",
    "okio.",
    "org.slf4j.",
    "ch.qos.",
    "io.micrometer.",
    "kotlinx.",
    "com.zaxxer.",
    "org.postgresql.",
    "com.mysql.",
    "io.grpc.",
    "io.vertx.",
    "org.jboss.",
    "jakarta.",
    "feign.",
    "retrofit2.",
    "io.opentelemetry.",
)
"""Prefixes of well-known Java libraries' classes."""


@dataclass(frozen=True)
class Origin:
    kind: FrameKind
    name: str = ""
    """For a library its name (``botocore``, ``@aws-sdk/client-s3``, ``org.springframework``);
    for system code where it is (``<stdlib>/json/decoder.py``, ``<runtime>``,
    ``node:internal/...``), empty for the JDK; empty for the application."""


def clean_path(path: str) -> str:
    """A frame's file with forward slashes, without ``file://``, ``webpack://x/`` or a drive."""
    p = path.replace("\\", "/")
    p = re.sub(r"^file://", "", p)
    p = re.sub(r"^webpack://[^/]*/", "", p)
    return re.sub(r"^[A-Za-z]:/", "/", p)


def _package(rest: str, scoped: bool) -> str:
    parts = rest.split("/")
    if scoped and parts[0].startswith("@") and len(parts) > 1:
        return parts[0] + "/" + parts[1]
    name = parts[0]
    return name[:-3] if name.endswith(".py") else name


def origin(language: Language, frame: Frame) -> Origin:
    """Whose code ``frame`` (of a trace in ``language``) is in."""
    if language == "java":
        fn = frame.function.strip()
        if fn.startswith(JAVA_SYSTEM):
            return Origin("system")
        lib = next((p for p in JAVA_LIBRARIES if fn.startswith(p)), None)
        return Origin("library", lib.rstrip(".")) if lib is not None else Origin("app")
    path = clean_path(frame.file)
    if language == "node":
        if path.startswith(_NODE_SYSTEM) or _RUNTIME.match(path):
            return Origin("system", "<runtime>" if _RUNTIME.match(path) else path)
        if "/" not in path and not _SCRIPT.search(path):
            return Origin("system", path)  # native, <anonymous>, "index 0" (Promise.all)
        m = _NODE_MODULES.search(path)
        if m:
            return Origin("library", _package(m.group("rest"), scoped=True))
    elif language == "python":
        if path.startswith("<") or _RUNTIME.match(path):
            return Origin("system", "<runtime>" if _RUNTIME.match(path) else path)
        m = _PY_LIBRARY.search(path) or _PY_LAYER.match(path)
        if m:
            return Origin("library", _package(m.group("rest"), scoped=False))
        m = _PY_STDLIB.search(path)
        if m:
            return Origin("system", "<stdlib>/" + m.group("rest"))
    else:
        m = _NODE_MODULES.search(path)
        if m:
            return Origin("library", _package(m.group("rest"), scoped=True))
    if path.startswith(_SYSTEM_DIRS):
        return Origin("system", path)
    return Origin("app")


@dataclass(frozen=True)
class AppFrame:
    """An application frame with a line, located for a search of the repository."""

    file: str
    """As the trace names it (``/var/task/app/handler.py``, ``Handler.java``)."""
    line: int
    function: str
    language: Language

    @property
    def source_path(self) -> str:
        """The path to look for in a repository: the file, cleaned; for Java the class's
        package as directories and the file (``com/acme/orders/Handler.java``)."""
        if self.language != "java":
            return clean_path(self.file)
        qualified = self.function.rsplit(".", 1)[0]  # com.acme.Handler$Inner
        package = qualified.rsplit(".", 1)[0] if "." in qualified else ""
        return "/".join([*package.split("."), self.file]) if package else self.file

    def __str__(self) -> str:
        return f"{self.source_path}:{self.line}" + (f" in {self.function}" if self.function else "")


_ANY_TIME = datetime(2000, 1, 1, tzinfo=UTC)


def application_frames(text: str) -> list[AppFrame]:
    """The application's frames in ``text``, each once.

    ``text`` is log text: one or more events joined by newlines (traces split one line per
    event are rejoined, as :func:`~fixloop.triage.reassemble` does), in any format
    :func:`~fixloop.triage.parse_error` reads (Lambda's and Powertools' JSON logs included).
    Errors in the order they appear; of each, its own frames, then those of the exceptions
    chained to it (:attr:`~fixloop.triage.ErrorOccurrence.chained_frames`), in calling order
    like :attr:`~fixloop.triage.ErrorOccurrence.frames`. Frames with no line number are left
    out.
    """
    found: list[AppFrame] = []
    for _, message in reassemble([(_ANY_TIME, line) for line in text.split("\n")]):
        occ = parse_error(message)
        for frame in [*occ.frames, *occ.chained_frames]:
            if frame.line is None or frame.line < 1:
                continue
            if origin(occ.language, frame).kind != "app":
                continue
            app = AppFrame(frame.file, frame.line, frame.function, occ.language)
            if app not in found:
                found.append(app)
    return found
