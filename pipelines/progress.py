"""A curation run's progress on stderr while the pipeline runs on a local runner: records and bytes read,
the rate, and the ETA of reading from the input files' sizes.

On a terminal one status line is redrawn every second and cleared at the end; elsewhere (a log, a pipe)
a plain line every LOG_EVERY_S seconds, the first once the run has taken that long; nothing under
`--quiet`, nor on remote runners (Dataflow and the rest have their own monitoring). What is counted:

- bytes: each input file's read offset (the file as stored, compressed or not), from /proc/PID/fdinfo of
  this process and its children (the multi_processing workers); a file read and closed counts whole.
  Without /proc (not Linux) only whole files count.
- records: what the readers produced (documents, read-time rejects, quarantined records), counted by
  wrapping the entries of pipelines.sources.READERS for the run. That sees the in-process runners only
  (FnApiRunner's in_memory and multi_threading modes); under multi_processing the records show at the
  end, in the funnel.

Reading comes first in the graph and the later stages (near dedup, writing) wait for all of it, so the
ETA is that of reading; once everything is read the line says so and counts the time since.
"""

import contextlib
import os
import sys
import threading
import time

from apache_beam.io.filesystems import FileSystems
from apache_beam.options.pipeline_options import DirectOptions, StandardOptions

from pipelines import sources

LOCAL_RUNNERS = {None, "DirectRunner", "direct", "FnApiRunner", "BundleBasedDirectRunner", "SwitchingDirectRunner",
                 "PrismRunner", "prism"}
POLL_S = 1.0
LOG_EVERY_S = 10.0


def input_sizes(globs: list[str]) -> dict[str, int]:
    """Every input file and its size in bytes."""
    sizes = {}
    for match in FileSystems.match(list(globs)):
        for meta in match.metadata_list:
            if "://" in meta.path or not os.path.isdir(meta.path):
                sizes[meta.path] = meta.size_in_bytes
    return sizes


def report_progress(config, options, enabled: bool = True, stream=None):
    """A context manager around running the pipeline: a Progress on local runners when enabled, else
    nothing."""
    runner = options.view_as(StandardOptions).runner
    name = runner if isinstance(runner, str) or runner is None else type(runner).__name__
    if not enabled or name not in LOCAL_RUNNERS:
        return contextlib.nullcontext()
    stream = stream or sys.stderr
    in_process = (name not in ("PrismRunner", "prism")
                  and options.view_as(DirectOptions).direct_running_mode != "multi_processing")
    try:
        tty = stream.isatty()
    except (AttributeError, ValueError):
        tty = False
    return Progress(input_sizes([s.glob for s in config.sources]), stream, tty, in_process)


class Progress:
    """Polls what has been read every POLL_S seconds in a background thread and writes a line."""

    def __init__(self, sizes: dict[str, int], stream, tty: bool, in_process: bool, clock=time.monotonic):
        self.sizes = sizes
        self.total = sum(sizes.values())
        self.stream, self.tty, self.in_process, self.clock = stream, tty, in_process, clock
        self._real = {os.path.realpath(p): p for p in sizes if "://" not in p}
        self.records: dict[str, int] = {}  # per file, written by the readers' threads
        self.done: set[str] = set()
        self._open: dict[str, int] = {}  # file -> read offset, as last seen
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="curate-progress", daemon=True)
        self._readers: dict | None = None
        self._shown = False
        self.all_read_at = None

    # --- counting ---------------------------------------------------------------------------------------

    def _counting(self, reader):
        records = self.records

        def read(raw, ctx):
            path = ctx.file
            n = records.get(path, 0)
            items = reader(raw, ctx)
            try:
                for item in items:
                    n += 1
                    records[path] = n
                    yield item
            finally:
                self.done.add(path)  # read to its end, or as far as it could be
                close = getattr(items, "close", None)
                if close is not None:
                    close()

        read.__wrapped__ = reader
        return read

    def _poll(self) -> None:
        """The read offsets of the input files open in this process and its children."""
        now = {}
        for pid in _family(os.getpid()):
            for fd, target in _open_files(pid):
                path = self._real.get(target)
                if path is not None:
                    offset = _offset(pid, fd)
                    if offset is not None:
                        now[path] = max(now.get(path, 0), offset)
        for path in set(self._open) - set(now):  # read and closed since (or read by a worker that ended)
            self.done.add(path)
        self._open = now

    def snapshot(self) -> dict:
        done = set(self.done)
        read = sum(self.sizes.get(p, 0) for p in done)
        read += sum(min(offset, self.sizes[p]) for p, offset in dict(self._open).items() if p not in done)
        return {"bytes": min(read, self.total), "total": self.total, "files": len(done), "of_files": len(self.sizes),
                "records": sum(self.records.values()) if self.in_process else None}

    # --- showing ----------------------------------------------------------------------------------------

    def line(self, snap: dict, elapsed: float) -> str:
        records = f", {snap['records']:,} records" if snap["records"] is not None else ""
        if self.all_read_at is not None:
            return (f"read {_mb(snap['total'])} MB, {snap['of_files']} files{records} in {_clock(self.all_read_at)}; "
                    f"later stages running, {_clock(elapsed)} in all")
        share = snap["bytes"] / snap["total"] if snap["total"] else 0.0
        rate = snap["bytes"] / elapsed if elapsed > 0 else 0.0
        eta = _clock((snap["total"] - snap["bytes"]) / rate) if rate > 0 else "?"
        return (f"reading: {_mb(snap['bytes'])} of {_mb(snap['total'])} MB ({share:.0%}), {snap['files']} of "
                f"{snap['of_files']} files{records}, {rate / 1e6:.1f} MB/s, ETA {eta} ({_clock(elapsed)} so far)")

    def _loop(self) -> None:
        started = last = self.clock()
        while not self._stop.wait(POLL_S):
            try:
                self._poll()
                now = self.clock()
                snap = self.snapshot()
                if self.all_read_at is None and snap["files"] >= snap["of_files"]:
                    self.all_read_at = now - started
                if self.tty:
                    self._write("\r" + self.line(snap, now - started) + "\x1b[K")
                elif now - last >= LOG_EVERY_S:
                    last = now
                    self._write(self.line(snap, now - started) + "\n")
            except Exception:  # progress must never break a run
                return

    def _write(self, text: str) -> None:
        self.stream.write(text)
        self.stream.flush()
        self._shown = True

    def __enter__(self):
        if self.in_process:
            self._readers = dict(sources.READERS)
            for kind, reader in self._readers.items():
                sources.READERS[kind] = self._counting(reader)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        if self._readers is not None:
            sources.READERS.update(self._readers)
        if self.tty and self._shown:
            with contextlib.suppress(Exception):
                self._write("\r\x1b[K")
        return False


def _family(pid: int) -> list[int]:
    """This process and its descendants (Linux /proc; just this one elsewhere)."""
    out, todo = [], [pid]
    while todo:
        pid = todo.pop()
        out.append(pid)
        try:
            tasks = os.listdir(f"/proc/{pid}/task")
        except OSError:
            continue
        for task in tasks:
            try:
                with open(f"/proc/{pid}/task/{task}/children") as fh:
                    todo += [int(c) for c in fh.read().split()]
            except OSError:
                pass
    return out


def _open_files(pid: int):
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return
    for fd in fds:
        try:
            yield fd, os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            pass


def _offset(pid: int, fd: str) -> int | None:
    try:
        with open(f"/proc/{pid}/fdinfo/{fd}") as fh:
            for line in fh:
                if line.startswith("pos:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return None


def _mb(n: int) -> str:
    return f"{n / 1e6:,.1f}"


def _clock(seconds: float) -> str:
    seconds = int(seconds)
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"
