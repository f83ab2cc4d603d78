"""pipelines.tokenize exits 0 after writing its manifest, every time (issue 10, item 6).

The abort it had (exit 134, "terminate called without an active exception", after the manifest was
written): the token count of each shard was read through a Python file object (Beam's
FileSystems.open), which pyarrow reads on its own threads (pre-buffering on the I/O pool, decoding
on the CPU pool), so Python-owned page buffers were read and then released by an Arrow thread. A
release needs the GIL; it was the last read before exit, and an Arrow thread still waiting for the
GIL when the interpreter finalised was ended by pthread_exit, whose unwinding through a C++
destructor calls std::terminate (in a core dump: arrow::py::PyBuffer::~PyBuffer -> PyGILState_Ensure
-> take_gil -> PyThread_exit_thread -> std::terminate, beneath the n_tokens decode task, with the
main thread in Py_FinalizeEx).

The first test checks that cause on every run, without depending on timing: no Python file is read,
and no Python-owned buffer released, on any thread but the caller's while the token shards are
listed. The second runs the command itself 20 times on the smallest input. Twenty separate
`python -m` processes would spend most of their time importing Beam (over 90 s on CI's two cores),
so one process imports it once and forks 20 times; each child runs the command's `main` and exits
through the ordinary interpreter teardown (Py_FinalizeEx, atexit, C++ static destructors), which is
where the abort happened: everything but the import is the command's own, in a fresh process. Before
the fix, 1 to 4 in 20 such runs aborted (more under load); `--direct_running_mode=multi_threading`
aborted 5 in 23 full processes.
"""

import io
import json
import os
import subprocess
import sys
import threading

import pytest
from apache_beam.io.filesystems import FileSystems

from pipelines.tokenize import list_token_files
from schemas.tokens import token_schema
from conftest import REPO, curate


class _Page(bytearray):
    """Bytes a Python file returned to pyarrow; records the thread that releases them."""

    released_on: list

    def __del__(self):
        self.released_on.append(threading.get_ident())


class _Watched(io.RawIOBase):
    """A Beam file object whose reads (and the release of what they return) record their thread."""

    def __init__(self, inner, read_on: list, released_on: list):
        self._inner, self._read_on, self._released_on = inner, read_on, released_on

    def readable(self):
        return True

    def seekable(self):
        return self._inner.seekable()

    def seek(self, offset, whence=io.SEEK_SET):
        return self._inner.seek(offset, whence)

    def tell(self):
        return self._inner.tell()

    def read(self, size=-1):
        self._read_on.append(threading.get_ident())
        page = _Page(self._inner.read(size))
        page.released_on = self._released_on
        return page

    def close(self):
        self._inner.close()
        super().close()


def test_no_arrow_thread_touches_python_buffers_when_the_token_files_are_listed(token_shards, monkeypatch):
    read_on, released_on = [], []
    original = FileSystems.open

    def watched_open(path, *args, **kwargs):
        return _Watched(original(path, *args, **kwargs), read_on, released_on)

    monkeypatch.setattr(FileSystems, "open", watched_open)
    vocab = json.loads((token_shards / "manifest.json").read_text())["tokenizer"]["vocab_size"]
    splits = list_token_files(str(token_shards), token_schema(vocab))
    manifest = json.loads((token_shards / "manifest.json").read_text())
    assert {s: splits[s]["tokens"] for s in splits} == {s: manifest["splits"][s]["tokens"] for s in splits}
    import gc

    gc.collect()
    caller = threading.get_ident()
    assert read_on and released_on  # the listing did read through Beam's files
    assert [t for t in read_on if t != caller] == [], "a Python file was read on an Arrow thread"
    assert [t for t in released_on if t != caller] == [], "Python-owned bytes were released on an Arrow thread"


# Imports pipelines.tokenize once, then forks a fresh process per run; each runs the command's main and
# exits through the interpreter's ordinary teardown. Prints the exit codes as JSON.
_RUNS = r"""
import json, os, sys, traceback
from pipelines.tokenize import main
argv, out, runs = json.loads(sys.argv[1]), sys.argv[2], int(sys.argv[3])
codes = []
for i in range(runs):
    pid = os.fork()
    if pid == 0:
        try:
            sys.stdout = open(os.devnull, "w")
            code = main([*argv, "--output", f"{out}/{i}"])
        except BaseException:
            traceback.print_exc()
            os._exit(3)
        sys.exit(code)
    codes.append(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]))
print(json.dumps(codes))
"""


@pytest.mark.skipif(not hasattr(os, "fork"), reason="forks a fresh process per run")
def test_tokenize_exits_0_twenty_times(tokenizer_file, data_dir, tmp_path):
    run = tmp_path / "run"  # the smallest real input: one short book
    result = curate(run, [{"name": "book", "type": "gutenberg", "glob": str(data_dir / "gutenberg_en" / "11-0.txt")}],
                    filters="none", dedup="exact", pii=False)
    assert result.problems == []
    argv = ["--input", str(run), "--tokenizer", str(tokenizer_file), "--heldout-fraction", "0"]
    done = subprocess.run([sys.executable, "-c", _RUNS, json.dumps(argv), str(tmp_path / "tokens"), "20"],
                          cwd=REPO, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    codes = json.loads(done.stdout.strip().splitlines()[-1])
    assert codes == [0] * 20, f"exit codes {codes}: {done.stderr[-2000:]}"
    for i in range(20):
        assert (tmp_path / "tokens" / str(i) / "manifest.json").exists()
