"""Progress of a curation run (pipelines.progress): records and bytes read, rate and ETA, on local runners."""

import io
import os
import sys

import pytest
from apache_beam.options.pipeline_options import PipelineOptions

from pipelines import progress, sources
from pipelines.config import build_config
from pipelines.sources import FileContext


def read(path: str, kind: str = "jsonl") -> int:
    with open(path, "rb") as raw:
        ctx = FileContext(source="s", format=kind, file=path, location=os.path.basename(path), options={})
        return sum(1 for _ in sources.READERS[kind](raw, ctx))


@pytest.fixture
def inputs(data_dir):
    folder = data_dir / "ccnet_jsonl_dolma"
    return progress.input_sizes([str(folder / "*.jsonl.gz")])


def test_counts_records_and_bytes_in_process(inputs):
    readers = dict(sources.READERS)
    tracker = progress.Progress(inputs, io.StringIO(), tty=False, in_process=True)
    with tracker:
        first, second = sorted(inputs)
        assert sources.READERS["jsonl"] is not readers["jsonl"]
        n = read(first)
        snap = tracker.snapshot()
        assert snap == {"bytes": inputs[first], "total": sum(inputs.values()), "files": 1, "of_files": 2,
                        "records": n}
        line = tracker.line(snap, 2.0)
        assert line.startswith(f"reading: {inputs[first] / 1e6:,.1f} of ") and "1 of 2 files" in line
        assert f"{n:,} records" in line and "MB/s, ETA 0:0" in line
        m = read(second)
    assert sources.READERS == readers  # restored after the run
    assert tracker.snapshot()["records"] == n + m and tracker.snapshot()["bytes"] == sum(inputs.values())


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="read offsets come from /proc")
def test_read_offsets_of_open_files(tmp_path):
    """Another process's reading (a multi_processing worker) shows by its files' offsets: no records."""
    path = tmp_path / "big.jsonl"
    path.write_bytes(b"x" * 100_000)
    tracker = progress.Progress({str(path): 100_000}, io.StringIO(), tty=False, in_process=False)
    with open(path, "rb") as fh:
        fh.seek(40_000)
        tracker._poll()
        assert tracker.snapshot() == {"bytes": 40_000, "total": 100_000, "files": 0, "of_files": 1, "records": None}
    tracker._poll()  # closed since: read
    assert tracker.snapshot()["files"] == 1 and tracker.snapshot()["bytes"] == 100_000


def test_lines_every_few_seconds_when_not_a_terminal(inputs, monkeypatch):
    monkeypatch.setattr(progress, "POLL_S", 0.01)
    monkeypatch.setattr(progress, "LOG_EVERY_S", 0.05)
    stream = io.StringIO()
    tracker = progress.Progress(inputs, stream, tty=False, in_process=True)
    with tracker:
        for path in sorted(inputs):
            read(path)
        for _ in range(1000):  # at most 10 s
            if "later stages running" in stream.getvalue():
                break
            tracker._stop.wait(0.01)
    lines = stream.getvalue().splitlines()
    assert lines and "\r" not in stream.getvalue() and "\x1b" not in stream.getvalue()
    assert lines[-1].startswith(f"read {sum(inputs.values()) / 1e6:,.1f} MB, 2 files, ")


def test_terminal_line_is_redrawn_and_cleared(inputs, monkeypatch):
    monkeypatch.setattr(progress, "POLL_S", 0.01)
    stream = io.StringIO()
    with progress.Progress(inputs, stream, tty=True, in_process=True) as tracker:
        for _ in range(1000):
            if stream.getvalue():
                break
            tracker._stop.wait(0.01)
    assert stream.getvalue().startswith("\rreading: 0.0 of ") and stream.getvalue().endswith("\r\x1b[K")


def test_only_on_local_runners_and_not_when_quiet(data_dir):
    config = build_config({"sources": [{"glob": str(data_dir / "ccnet_jsonl_dolma" / "*.jsonl.gz")}]}, [], "/tmp/o", {})
    local = progress.report_progress(config, PipelineOptions(["--runner", "FnApiRunner"]), stream=io.StringIO())
    assert isinstance(local, progress.Progress) and local.in_process and local.total > 0
    several = progress.report_progress(config, PipelineOptions(["--direct_running_mode=multi_processing"]),
                                       stream=io.StringIO())
    assert isinstance(several, progress.Progress) and not several.in_process
    for options, enabled in ((PipelineOptions(["--runner", "DataflowRunner"]), True),
                             (PipelineOptions(["--runner", "FnApiRunner"]), False)):
        assert not isinstance(progress.report_progress(config, options, enabled=enabled), progress.Progress)
