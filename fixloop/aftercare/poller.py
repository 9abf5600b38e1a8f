"""``fixloop serve``'s look for merges on the local code host, every
``FIXLOOP_MERGE_POLL_SECONDS`` (GitHub says so in its webhook; a local repository cannot)."""

from __future__ import annotations

import threading

from aws_lambda_powertools import Logger

from fixloop.aftercare.merge import check_local_merges
from fixloop.config import get_settings

__all__ = ["MergePoller"]

logger = Logger(child=True)


class MergePoller:
    """A thread calling :func:`~fixloop.aftercare.merge.check_local_merges` until stopped."""

    def __init__(self, interval_s: float | None = None) -> None:
        self._interval = interval_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.found: list[str] = []

    def start(self) -> MergePoller:
        self._thread = threading.Thread(target=self._run, daemon=True, name="merge-poller")
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def __enter__(self) -> MergePoller:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _run(self) -> None:
        interval = self._interval or get_settings().merge_poll_seconds
        while not self._stop.wait(interval):
            try:
                self.found += check_local_merges()
            except Exception:  # a bad repository must not end the poller
                logger.exception("looking for local merges failed")
