"""The chaos: faults the embedded runtime produces where moto is kinder than AWS.

moto catches errors Step Functions cannot catch, never throttles, runs a Lambda handler for
as long as it likes and starts a sandbox at once. AWS does none of that, and fixloop must
hold up when it does not. ``FIXLOOP_CHAOS`` (off by default) names the faults to produce, as
comma-separated tokens; each fault is a patch module of this package that reads
:func:`current` on every request, so a test can turn a fault on and off with the runtime's
``configure(chaos=...)``:

- ``dynamodb_throttle=RATE``, ``dynamodb_throttle_burst=RATE``, ``transaction_conflict=RATE``:
  :mod:`.chaos_dynamodb`;
- ``lambda_timeouts``: :mod:`.chaos_lambda_timeout`;
- ``sandbox_start=SECONDS``: :mod:`.chaos_sandbox_start`;
- ``heartbeat_clock``: :mod:`.chaos_heartbeat`;
- ``missing_path_runtime``: :mod:`.chaos_states_runtime`.

Draws are seeded (``FIXLOOP_CHAOS_SEED``), one random stream per fault, so a run on one
thread replays the same faults; concurrent callers draw in the order they arrive. Waits the
chaos makes are multiplied by ``FIXLOOP_CHAOS_TIME_SCALE``, so tests keep them short.
"""

from __future__ import annotations

import random
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, fields

from fixloop.config import get_settings
from fixloop.errors import ConfigError

__all__ = [
    "Chaos",
    "chance",
    "current",
    "fired",
    "observed",
    "parse",
    "pick",
    "record",
    "scaled",
    "spared",
    "sparing",
]


@dataclass(frozen=True)
class Chaos:
    """What the chaos is asked to do (all off by default)."""

    dynamodb_throttle: float = 0.0
    """Share of DynamoDB request attempts throttled, each attempt drawn on its own."""
    dynamodb_throttle_burst: float = 0.0
    """Share of DynamoDB calls throttled on every attempt the SDK makes."""
    transaction_conflict: float = 0.0
    """Share of ``TransactWriteItems`` cancelled by a conflicting transaction."""
    lambda_timeouts: bool = False
    """A function that runs longer than its timeout fails as Lambda fails it."""
    sandbox_start: float = 0.0
    """Seconds a sandbox task spends in PROVISIONING/PENDING before its process starts."""
    heartbeat_clock: bool = False
    """A waiting task's heartbeat clock runs from the task's start."""
    missing_path_runtime: bool = False
    """A missing path fails the execution with ``States.Runtime``, uncaught."""
    seed: int = 0
    time_scale: float = 1.0

    @property
    def on(self) -> bool:
        return self != Chaos(seed=self.seed, time_scale=self.time_scale)

    def spec(self) -> str:
        """The faults asked for, as ``FIXLOOP_CHAOS`` names them, with the seed and scale."""
        asked = [
            f.name if value is True else f"{f.name}={value:g}"
            for f in fields(self)
            if f.name not in ("seed", "time_scale") and (value := getattr(self, f.name))
        ]
        return f"{','.join(asked)} (seed {self.seed}, time scale {self.time_scale:g})"


_RATES = frozenset({"dynamodb_throttle", "dynamodb_throttle_burst", "transaction_conflict"})
_FLAGS = frozenset({"lambda_timeouts", "heartbeat_clock", "missing_path_runtime"})
_SECONDS = frozenset({"sandbox_start"})


def parse(spec: str, *, seed: int = 0, time_scale: float = 1.0) -> Chaos:
    """The faults ``spec`` names; ``ConfigError`` for an unknown token or a bad value."""
    values: dict[str, float | bool] = {}
    for token in (t.strip() for t in spec.split(",")):
        if not token:
            continue
        name, has_value, raw = token.partition("=")
        name = name.strip()
        if name in _FLAGS:
            if has_value:
                raise ConfigError(f"FIXLOOP_CHAOS: {name} takes no value (got {token!r})")
            values[name] = True
            continue
        if name not in _RATES | _SECONDS:
            known = ", ".join(f.name for f in fields(Chaos) if f.name not in ("seed", "time_scale"))
            raise ConfigError(f"FIXLOOP_CHAOS: unknown fault {name!r}; known: {known}")
        try:
            number = float(raw)
        except ValueError:
            raise ConfigError(f"FIXLOOP_CHAOS: {name} needs a number (got {token!r})") from None
        if name in _RATES and not 0.0 <= number <= 1.0:
            raise ConfigError(f"FIXLOOP_CHAOS: {name} is a rate from 0 to 1 (got {raw})")
        if number < 0:
            raise ConfigError(f"FIXLOOP_CHAOS: {name} cannot be negative (got {raw})")
        values[name] = number
    return Chaos(seed=seed, time_scale=time_scale, **values)  # type: ignore[arg-type]


class _State:
    key: tuple[str, int, float] | None = None
    chaos = Chaos()
    streams: dict[str, random.Random] = {}  # noqa: RUF012 - replaced whole, under the lock


_state = _State()
_lock = threading.Lock()


def current() -> Chaos:
    """The chaos the settings ask for now (parsed once per change of the settings)."""
    settings = get_settings()
    key = (settings.chaos, settings.chaos_seed, settings.chaos_time_scale)
    if key == _state.key:
        return _state.chaos
    chaos = parse(settings.chaos, seed=settings.chaos_seed, time_scale=settings.chaos_time_scale)
    with _lock:
        _state.key, _state.chaos, _state.streams = key, chaos, {}
    return chaos


_fired: Counter[str] = Counter()


def chance(fault: str, rate: float) -> bool:
    """One seeded draw of ``fault``'s stream: True with probability ``rate`` (counted in
    :func:`fired`)."""
    if rate <= 0.0:
        return False
    seed = current().seed
    with _lock:
        stream = _state.streams.get(fault)
        if stream is None:
            stream = _state.streams[fault] = random.Random(f"{seed}:{fault}")
        hit = rate >= 1.0 or stream.random() < rate
        if hit:
            _fired[fault] += 1
        return hit


def record(fault: str) -> None:
    """Count one firing of ``fault`` (the faults that do not draw: a timeout, a delay)."""
    with _lock:
        _fired[fault] += 1


def fired() -> Counter[str]:
    """How many times each fault has fired in this process so far (a copy)."""
    with _lock:
        return Counter(_fired)


def pick(fault: str, count: int) -> int:
    """One seeded draw of ``fault``'s stream: an index below ``count``."""
    seed = current().seed
    with _lock:
        stream = _state.streams.get(fault)
        if stream is None:
            stream = _state.streams[fault] = random.Random(f"{seed}:{fault}")
        return stream.randrange(count) if count > 1 else 0


def scaled(seconds: float) -> float:
    """``seconds`` of a wait the chaos makes, times ``FIXLOOP_CHAOS_TIME_SCALE``."""
    return seconds * current().time_scale


_spared = threading.local()


@contextmanager
def sparing() -> Iterator[None]:
    """Requests this thread makes in the block are left alone by the chaos: an observer (a
    test following a run) is not the system under test. Only requests answered in the
    calling thread (this process's own, :mod:`.in_process`) can be told apart."""
    before = getattr(_spared, "on", False)
    _spared.on = True
    try:
        yield
    finally:
        _spared.on = before


def spared() -> bool:
    """Whether the current thread's requests are left alone (:func:`sparing`)."""
    return bool(getattr(_spared, "on", False))


@contextmanager
def observed(say: Callable[[str], None]) -> Iterator[None]:
    """A command following a run on the embedded runtime: its requests in the block are
    spared (:func:`sparing`), and when the chaos is on, ``say`` is told the faults asked for
    at the start and those that fired at the end."""
    now = current()
    if now.on:
        say(f"chaos      {now.spec()}")
    before = fired()
    try:
        with sparing():
            yield
    finally:
        if now.on:
            counts = fired() - before
            listed = ", ".join(f"{k} {n}" for k, n in sorted(counts.items()))
            say(f"chaos      fired: {listed or 'none'}")
