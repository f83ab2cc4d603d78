"""SDK worker processes skip heap teardown at exit (pipelines.transforms.worker_exit), keeping their
output and their exit status; other processes are left alone."""

import os
import subprocess
import sys
import textwrap

import pytest

from pipelines.transforms.worker_exit import WORKER_MAIN, exit_fast_in_workers, in_sdk_worker

CHILD = textwrap.dedent("""
    import importlib.machinery, sys
    if {as_worker}:
        sys.modules["__main__"].__spec__ = importlib.machinery.ModuleSpec({main!r}, None)
    from pipelines.transforms.worker_exit import exit_fast_in_workers

    class Finalised:  # prints when the heap is torn down, which os._exit skips
        def __del__(self):
            print("heap freed", flush=True)

    kept = Finalised()
    print("installed", exit_fast_in_workers())
    sys.stdout.write("buffered output, no newline")  # must still reach the pipe
    if {fail}:
        raise RuntimeError("the harness failed")
""")


def run_child(as_worker: bool, fail: bool) -> subprocess.CompletedProcess:
    code = CHILD.format(as_worker=as_worker, main=WORKER_MAIN, fail=fail)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}  # stdout to a pipe buffers
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=env)


def test_a_worker_exits_without_freeing_its_heap_and_keeps_its_output():
    done = run_child(as_worker=True, fail=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "installed True\nbuffered output, no newline"  # no "heap freed"


def test_a_worker_that_fails_still_exits_non_zero():
    done = run_child(as_worker=True, fail=True)
    assert done.returncode == 1
    assert "RuntimeError: the harness failed" in done.stderr
    assert "heap freed" not in done.stdout


@pytest.mark.parametrize("fail", [False, True])
def test_other_processes_exit_as_usual(fail):
    done = run_child(as_worker=False, fail=fail)
    assert done.returncode == (1 if fail else 0)
    assert done.stdout.startswith("installed False\n") and "heap freed" in done.stdout


def test_this_process_is_not_a_worker():
    assert not in_sdk_worker() and not exit_fast_in_workers()
