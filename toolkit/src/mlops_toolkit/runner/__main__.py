"""``local-run`` (and ``python -m mlops_toolkit.runner``).

It spawns the fork server before importing the rest of the command (boto3, rich, the runner), so
the server's imports of the step libraries overlap with local-run's own start-up instead of
following it, and it leaves without tearing the interpreter down once the run is over.
"""

from __future__ import annotations

import atexit
import os
import sys
import threading
from typing import NoReturn

from mlops_toolkit.runner import fork_server
from mlops_toolkit.runner.scripts import base_environment

# The shell's convention for Ctrl-C (cli.EXIT_INTERRUPTED; cli is not imported yet here).
EXIT_INTERRUPTED = 130


def main(argv: list[str] | None = None) -> int:
    fork_server.start_early(base_environment())
    try:
        from mlops_toolkit.runner import cli

        return cli.main(argv)
    except KeyboardInterrupt:
        # Before any step started (importing, building the pipeline, starting the stand-in): no
        # run to summarise, and a traceback of whatever was importing says nothing.
        print("Interrupted before the run started.", file=sys.stderr)
        return EXIT_INTERRUPTED
    finally:
        # Adopted by the run unless the arguments were wrong, asked for --help or turned it off.
        fork_server.discard_early()


def leave(code: int) -> NoReturn:
    """Exit with ``code``. Once only the main thread is left, skip the interpreter's teardown
    (freeing every object of boto3, rich and the rest takes longer than a small step runs):
    the exit handlers run and the output is flushed, as a normal exit would."""
    if threading.active_count() == 1:
        atexit._run_exitfuncs()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)


def command() -> NoReturn:
    leave(main())


if __name__ == "__main__":
    command()
