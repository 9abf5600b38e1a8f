"""``python -m fixloop.sandbox serve``: the sandbox entrypoint (Fargate task or local process)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from fixloop.errors import FixloopError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fixloop.sandbox")
    sub = parser.add_subparsers(required=True)
    serve = sub.add_parser("serve", help="serve one investigation's tool calls")
    serve.add_argument("--host", default="0.0.0.0")
    serve.add_argument("--port", type=int, default=8080)
    serve.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args(argv)
    _not_dumpable()
    from fixloop.sandbox.server import SandboxServer

    try:
        reason = SandboxServer(args.host, args.port, args.workdir).serve()
    except FixloopError as exc:
        print(f"fixloop sandbox: error: {exc}", file=sys.stderr)
        return exc.exit_code
    print(f"fixloop sandbox: stopped ({reason})", file=sys.stderr)
    return 0


def _not_dumpable() -> None:
    """Make this process's /proc entries unreadable to the commands it runs.

    Commands get an environment without AWS variables, but as the same user they could read
    ``/proc/<this pid>/environ`` and find the task's credentials URI there. A non-dumpable
    process's /proc files belong to root, so they cannot (Linux only; elsewhere a no-op).
    """
    if sys.platform != "linux":
        return
    import ctypes

    pr_set_dumpable = 4
    ctypes.CDLL(None, use_errno=True).prctl(pr_set_dumpable, 0, 0, 0, 0)


if __name__ == "__main__":
    sys.exit(main())
