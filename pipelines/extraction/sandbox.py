"""A per-call time limit for work that may hang, such as HTML extraction: the call runs in a child
process that is killed when it overruns.

Extractors can hang on pathological pages (trafilatura#704, datatrove#75), and neither a thread nor a
signal can stop native code reliably inside a Beam worker, so each owner keeps one long-lived child
(`python -m pipelines.extraction.sandbox`) and talks to it over pipes with length-prefixed pickles.
The child runs `target(*args)` for a target named "module:function". A timed-out or crashed child
is killed and replaced on the next call. It is a plain subprocess, not multiprocessing, so it works
the same under any runner and from any `__main__`.
"""

import os
import pickle
import select
import struct
import subprocess
import sys
import time

_HEADER = struct.Struct("<Q")


class ExtractionTimeout(Exception):
    """The call ran past the time limit."""


class ExtractionCrashed(Exception):
    """The child process died (for example a segfault or out of memory)."""


class ExtractionError(Exception):
    """The call raised; the message names the original exception."""


def _read_exact(fd: int, n: int, deadline: float | None) -> bytes:
    chunks, left = [], n
    while left:
        if deadline is not None:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([fd], [], [], remaining)[0]:
                raise ExtractionTimeout
        chunk = os.read(fd, min(left, 1 << 20))
        if not chunk:
            raise ExtractionCrashed("extraction process closed its output")
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def _write_message(fd: int, obj) -> None:
    data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    view = memoryview(_HEADER.pack(len(data)) + data)
    while view:
        view = view[os.write(fd, view):]


def _read_message(fd: int, deadline: float | None = None):
    (size,) = _HEADER.unpack(_read_exact(fd, _HEADER.size, deadline))
    return pickle.loads(_read_exact(fd, size, deadline))


class ExtractionSandbox:
    """Calls `target(*args)` in a child process, with a time limit per call."""

    def __init__(self, timeout_s: float, target: str = "pipelines.extraction.html:html_to_text"):
        self.timeout_s = timeout_s
        self.target = target
        self._proc: subprocess.Popen | None = None

    def _start(self) -> None:
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "pipelines.extraction.sandbox", self.target],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, bufsize=0,
        )

    def call(self, *args):
        if self._proc is None or self._proc.poll() is not None:
            self._start()
        try:
            _write_message(self._proc.stdin.fileno(), args)
            status, payload = _read_message(self._proc.stdout.fileno(), time.monotonic() + self.timeout_s)
        except ExtractionTimeout:
            self.close()
            raise ExtractionTimeout(f"{self.target} took longer than {self.timeout_s:g} s") from None
        except (ExtractionCrashed, BrokenPipeError, EOFError) as exc:
            try:  # its output closed; wait briefly for the exit status
                code = self._proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                code = None
            self.close()
            raise ExtractionCrashed(f"the {self.target} process died (exit code {code}): {exc}") from None
        if status == "error":
            raise ExtractionError(payload)
        return payload

    def close(self) -> None:
        if self._proc is not None:
            if self._proc.poll() is None:
                self._proc.kill()
            self._proc.wait()
            self._proc.stdin.close()
            self._proc.stdout.close()
            self._proc = None


def _serve(target: str) -> None:
    import importlib

    module, _, name = target.partition(":")
    function = getattr(importlib.import_module(module), name)
    # The protocol owns the original stdout; anything a library prints goes to stderr instead.
    out_fd = os.dup(1)
    os.dup2(2, 1)
    while True:
        try:
            args = _read_message(0)
        except ExtractionCrashed:  # the parent closed the pipe
            return
        try:
            reply = ("ok", function(*args))
        except Exception as exc:  # reported to the parent, which quarantines the record
            reply = ("error", f"{type(exc).__name__}: {exc}")
        _write_message(out_fd, reply)


if __name__ == "__main__":
    _serve(sys.argv[1])
