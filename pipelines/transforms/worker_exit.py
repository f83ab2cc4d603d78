"""SDK worker processes exit without freeing their heap, as multiprocessing's children do.

A Beam SDK worker (`python -m apache_beam.runners.worker.sdk_worker_main`: FnApiRunner's
multi_processing workers, and the workers of the portable runners) ends when the runner closes its
control channel: it tears down every DoFn, closes its log channel and returns from `main`. Then the
interpreter's finalization frees the heap object by object: a worker holding hundreds of MB of
caches and tables spent 0.5-1 CPU second on it, and FnApiRunner stops its workers one after another,
so the run waited for each in turn. Nothing of the run is left to do by then (every file a DoFn
wrote was closed in its bundle or teardown), so the first exit handler flushes stdout and stderr
and ends the process with `os._exit`: status 1 if an exception reached the top (the interpreter
printed it and set `sys.last_value`), else 0. The status of a `SystemExit` is not visible to an exit
handler, so one would end as 0: Beam's worker raises none (it stops on a closed channel, or on a
signal, which leaves `sys.last_value` set or no handler run). Other processes (the CLI, in-process
runners, tests) are left alone.
"""

import atexit
import os
import sys

WORKER_MAIN = "apache_beam.runners.worker.sdk_worker_main"
_installed = False


def in_sdk_worker() -> bool:
    """Whether this process is a Beam SDK worker started as `python -m ...sdk_worker_main`."""
    spec = getattr(sys.modules.get("__main__"), "__spec__", None)
    return spec is not None and spec.name == WORKER_MAIN


def exit_status() -> int:
    return 1 if getattr(sys, "last_value", None) is not None else 0


def _exit_now() -> None:
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (AttributeError, OSError, ValueError):  # closed or replaced streams: nothing to flush
            pass
    os._exit(exit_status())


def exit_fast_in_workers() -> bool:
    """Make this process skip heap teardown at exit if it is an SDK worker (once per process; exit
    handlers run last-registered first, so this one runs before those registered at import)."""
    global _installed
    if not _installed and in_sdk_worker():
        atexit.register(_exit_now)
        _installed = True
    return _installed
