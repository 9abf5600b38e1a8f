"""Fingerprints: which errors are "the same problem", so one investigation covers them all.

:func:`error_fingerprint` hashes what identifies a problem and nothing that varies between its
occurrences:

* **The exception type**, as printed (Java keeps the qualified name); for Python only the class
  name, because Python prints ``ClientError`` in one place (Lambda's report, Powertools'
  ``exception_name``) and ``botocore.exceptions.ClientError`` in another (the traceback).
* **The frames, without line numbers.** A deploy that adds a line above the failing one shifts
  every line number below it; keeping them would split one problem into a group per deploy.
  The price: two different failures of the same type in the same function, reached through the
  same calls, share a group (a ``KeyError`` on ``event["a"]`` and on ``event["b"]`` in one
  handler). The function and the (normalised) file are kept, so the same exception raised
  from another function or another code path is another group.
* **Application frames preferred.** When there are application frames, the frames of the
  language's own code (Python's standard library, Node's ``node:``/``internal/`` modules,
  ``java.*``/``javax.*``/``jdk.*``/``sun.*``..., the Lambda runtime under ``/var/runtime/``)
  are dropped, and of each run of third-party frames (``site-packages``, ``node_modules``,
  ``/opt/python`` layers, well-known Java libraries) only the first, the library function the
  application called, is kept: a library's internals change with its version, its entry point
  does not. A framework's frames *above* the application's (the web framework that called the
  handler) are dropped the same way. Without application frames, all frames are used. Whose
  code a frame is in is one list, :mod:`fixloop.triage.frames`.
* **Normalised paths**: ``file://`` and drive letters go; a path inside a library becomes the
  library's name (``botocore``, ``@aws-sdk/client-s3``); a path in the standard library becomes
  ``<stdlib>/json/decoder.py``; deployment roots are stripped (``/var/task/``,
  ``/opt/nodejs/``, ``/usr/src/app/``, CI checkouts, ``.aws-sam/build/<Fn>/``) and so is
  everything up to a build-specific directory (a name with a long number, a hash, a UUID, a
  ``tmp`` directory). Generated Java class names lose their counters (``$$Lambda$14/0x...``,
  ``$Proxy12``, CGLIB suffixes). Consecutive identical frames (recursion) count once.
* **No frames**: the message instead (its first :data:`MESSAGE_CHARS` characters), through
  :func:`normalise_message`.

The hash is ``sha256`` over a versioned text of those parts, hex, first 32 characters.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping

from fixloop.triage.frames import FrameKind, clean_path, origin
from fixloop.triage.stacktrace import ErrorOccurrence, Frame, Language

_ERROR_VERSION = "fixloop-error-v1"
_ALARM_VERSION = "fixloop-alarm-v1"

MESSAGE_CHARS = 1000
"""How much of a frameless message the fingerprint reads (before normalising)."""

# ---------------------------------------------------------------------------- messages

_MESSAGE_RULES: list[tuple[re.Pattern[str], str]] = [
    # ISO 8601 timestamps and plain dates (before numbers eat them)
    (
        re.compile(
            r"\b\d{4}-\d\d-\d\d(?:[T ]\d\d:\d\d(?::\d\d(?:[.,]\d+)?)?(?:Z|[+-]\d\d:?\d\d)?)?\b"
        ),
        "<ts>",
    ),
    (
        re.compile(
            r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b"
        ),
        "<uuid>",
    ),
    (re.compile(r"(?<![\w.+-])[\w.+-]{1,64}@[\w-]{1,63}(?:\.[\w-]{1,63}){1,8}\b"), "<email>"),
    (re.compile(r"\b(?:\d{1,3}\.){3}\d{1,3}(?::\d{1,5})?\b"), "<ip>"),
    (re.compile(r"\b(?:[0-9a-fA-F]{1,4}:){7}[0-9a-fA-F]{1,4}\b"), "<ip>"),
    (re.compile(r"\b0x[0-9a-fA-F]+\b"), "<hex>"),
    (
        re.compile(r"(?<![\w-])(?=[0-9a-fA-F]*[a-fA-F])(?=[0-9a-fA-F]*\d)[0-9a-fA-F]{8,}(?![\w-])"),
        "<hex>",
    ),
    # quoted values: not an apostrophe inside a word ("can't")
    (re.compile(r"(?<![\w'])'[^'\n]*'(?![\w])"), "<str>"),
    (re.compile(r'(?<![\w"\\])"[^"\n]*"(?![\w])'), "<str>"),
    (re.compile(r"(?<![\w`])`[^`\n]*`(?![\w])"), "<str>"),
]
_NUMBER = re.compile(r"[-+]?\b\d+(?:[.,]\d+)*\b")
_WORD = re.compile(r"\w+(?:-\w+)*")
_HAS_LETTER = re.compile(r"[^\W\d_]")
_HAS_DIGIT = re.compile(r"\d")


def _ids(match: re.Match[str]) -> str:
    """A word (with its dashes) mixing letters and digits is an identifier: ord_8f2k1, i-0abc12."""
    word = match.group()
    if _HAS_LETTER.search(word) and _HAS_DIGIT.search(word):
        return "<id>"
    return word


def normalise_message(text: str) -> str:
    """The message with its varying values replaced by placeholders, whitespace collapsed.

    In this order: ISO timestamps and dates ``<ts>``, UUIDs ``<uuid>``, e-mail addresses
    ``<email>``, IPv4 (with port) and full IPv6 addresses ``<ip>``, ``0x`` numbers and hex runs
    of 8 or more with a digit ``<hex>``, single-, double- and back-quoted values ``<str>``,
    words mixing letters and digits ``<id>`` (with their dashes: ``ord-8f2k1``), numbers
    ``<num>`` (signs, decimals and thousands separators included).
    """
    out = text
    for rx, placeholder in _MESSAGE_RULES:
        out = rx.sub(placeholder, out)
    out = _WORD.sub(_ids, out)
    out = _NUMBER.sub("<num>", out)
    return " ".join(out.split())


# ---------------------------------------------------------------------------- paths

_ROOTS = [
    re.compile(p)
    for p in (
        r"^.*?/\.aws-sam/build/[^/]+/",
        r"^/var/task/",
        r"^/opt/nodejs/",
        r"^/opt/",
        r"^/asset-input/",
        r"^/home/runner/work/[^/]+/[^/]+/",
        r"^/github/workspace/",
        r"^/builds/[^/]+/[^/]+/",
        r"^/usr/src/app/",
        r"^/usr/app/",
        r"^/app/",
        r"^/workspace/",
        r"^/srv/",
        r"^/code/",
        r"^/tmp/[^/]+/",
    )
]
_VOLATILE_DIR = re.compile(
    r"\d{6,}"
    r"|[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
    r"|(?=[0-9a-fA-F]*\d)(?=[0-9a-fA-F]*[a-fA-F])[0-9a-fA-F]{8,}"
    r"|^tmp[\w-]{6,}$"
)

_JAVA_GENERATED = [
    (re.compile(r"\$\$Lambda(?:\$\d+)?(?:/(?:0x)?[0-9a-fA-F]+)?"), "$$Lambda"),
    (re.compile(r"\$Proxy\d+"), "$Proxy"),
    (
        re.compile(r"\$\$(?:EnhancerBySpringCGLIB|FastClassBySpringCGLIB|SpringCGLIB)\$\$\w+"),
        "$$CGLIB",
    ),
    (re.compile(r"GeneratedMethodAccessor\d+"), "GeneratedMethodAccessor"),
    (re.compile(r"GeneratedConstructorAccessor\d+"), "GeneratedConstructorAccessor"),
]


def _app_path(path: str) -> str:
    dirs = path.split("/")
    name = dirs.pop()
    volatile = [i for i, d in enumerate(dirs) if _VOLATILE_DIR.search(d)]
    if volatile:
        dirs = dirs[volatile[-1] + 1 :]
        path = "/".join([*dirs, name])
    for rx in _ROOTS:
        m = rx.match(path)
        if m:
            path = path[m.end() :]
            break
    return re.sub(r"^(?:\./)+", "", path).lstrip("/")


def _classify(language: Language, frame: Frame) -> tuple[FrameKind, str, str]:
    """(kind, normalised file, normalised function) of a frame."""
    fn = frame.function.strip()
    if language == "java":
        for rx, repl in _JAVA_GENERATED:
            fn = rx.sub(repl, fn)
    where = origin(language, frame)
    if where.kind != "app":
        return where.kind, where.name, fn
    if language == "java":
        return "app", frame.file, fn
    return "app", _app_path(clean_path(frame.file)), fn


def significant_frames(occ: ErrorOccurrence) -> list[str]:
    """The normalised frames (``file:function``, calling order) the fingerprint hashes."""
    classified = [_classify(occ.language, f) for f in occ.frames]
    if any(kind == "app" for kind, _, _ in classified):
        kept: list[tuple[str, str]] = []
        previous: FrameKind | None = None
        for kind, file, fn in classified:
            if kind == "app" or (kind == "library" and previous == "app"):
                kept.append((file, fn))
            previous = kind
    else:
        kept = [(file, fn) for _, file, fn in classified]
    out: list[str] = []
    for file, fn in kept:
        entry = f"{file}:{fn}"
        if not out or out[-1] != entry:
            out.append(entry)
    return out


# ---------------------------------------------------------------------------- fingerprints


def _type_key(occ: ErrorOccurrence) -> str:
    name = occ.exception_type.strip()
    if occ.language == "python":
        return name.rsplit(".", 1)[-1]
    return name


def _digest(parts: Iterable[str]) -> str:
    return hashlib.sha256("\n".join(parts).encode("utf-8")).hexdigest()[:32]


def error_fingerprint(occ: ErrorOccurrence) -> str:
    """A stable id of the problem behind an error: same problem, same fingerprint.

    See the module's documentation for what is hashed and why line numbers are not.
    """
    frames = significant_frames(occ)
    parts = [_ERROR_VERSION, occ.language, _type_key(occ)]
    if frames:
        parts.extend("frame:" + f for f in frames)
    else:
        parts.append("message:" + normalise_message((occ.message or occ.raw)[:MESSAGE_CHARS]))
    return _digest(parts)


def alarm_fingerprint(alarm_name: str, dimensions: Mapping[str, str]) -> str:
    """A stable id of an alarm on a metric's dimensions (their order does not matter)."""
    parts = [_ALARM_VERSION, alarm_name]
    parts.extend(f"{key}={value}" for key, value in sorted(dimensions.items()))
    return _digest(parts)


def group(occurrences: Iterable[ErrorOccurrence]) -> dict[str, list[ErrorOccurrence]]:
    """Occurrences by fingerprint; groups in order of first appearance, members in input order."""
    groups: dict[str, list[ErrorOccurrence]] = {}
    for occ in occurrences:
        groups.setdefault(error_fingerprint(occ), []).append(occ)
    return groups
