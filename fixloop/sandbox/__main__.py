"""``python -m fixloop.sandbox serve``: the sandbox entrypoint (Fargate task or local process)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from fixloop.errors import FixloopError
from fixloop.process import Terminated, make_not_dumpable, stop_on_sigterm
from fixloop.sandbox.server import SandboxServer


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fixloop.sandbox")
    sub = parser.add_subparsers(required=True)
    serve = sub.add_parser("serve", help="serve one investigation's tool calls")
    serve.add_argument("--host", default="0.0.0.0")
    serve.add_argument("--port", type=int, default=8080)
    serve.add_argument("--workdir", type=Path, default=None)
    serve.add_argument(
        "--listen-fd",
        type=int,
        default=None,
        help="serve on this inherited, already listening socket (the embedded runtime's)",
    )
    args = parser.parse_args(argv)
    make_not_dumpable()  # its environment holds the task's credentials URI
    stop_on_sigterm()  # StopTask: commands killed and the workspace removed on the way out
    try:
        reason = SandboxServer(args.host, args.port, args.workdir, args.listen_fd).serve()
    except FixloopError as exc:
        print(f"fixloop sandbox: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except Terminated:
        print("fixloop sandbox: stopped (terminated)", file=sys.stderr)
        return Terminated.exit_code
    print(f"fixloop sandbox: stopped ({reason})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
