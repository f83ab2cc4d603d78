"""Shared fixtures: the data folder (read in place) and a helper to run a curation.

The data folder is DATA_DIR when set, else ../shared/data (the shared corpora) when it is there, else
tests/data (excerpts of them at the same relative paths, made by tests/data/make_fixtures.py), so the
tests run on a clone with nothing beside it. DATA_DIR set to the default ../shared/data (the Makefile
does) counts as unset when that folder is missing; DATA_DIR set to any other missing folder fails.
Tests marked `shared_data` need the full corpora and are skipped on the excerpts.
"""

import os
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from pipelines.config import build_config
from pipelines.curate import run_config

REPO = Path(__file__).resolve().parent.parent
SHARED = (REPO.parent / "shared" / "data").resolve()
FIXTURES = REPO / "tests" / "data"


def _data_dir() -> Path:
    chosen = os.environ.get("DATA_DIR")
    path = Path(chosen).resolve() if chosen else SHARED
    if path == SHARED and not (SHARED / "SOURCES.md").exists():
        path = FIXTURES
    return path


DATA_DIR = _data_dir()
# The full shared corpora (SOURCES.md lists them), not the excerpts of tests/data.
FULL_DATA = (DATA_DIR / "SOURCES.md").exists()
# Recipes and filter presets expand ${DATA_DIR} (default ../shared/data), in this process and in the
# commands the tests start: the same folder as the tests read.
os.environ["DATA_DIR"] = str(DATA_DIR)


def pytest_addoption(parser):
    # Beam's TestPipeline reads this flag; declaring it lets pytest accept it.
    parser.addoption("--test-pipeline-options", default=None)


def pytest_report_header(config):
    return f"data: {DATA_DIR} ({'the shared corpora' if FULL_DATA else 'excerpts: shared_data tests skip'})"


def pytest_runtest_setup(item):
    if item.get_closest_marker("shared_data") and not FULL_DATA:
        pytest.skip(f"needs the full shared corpora (../shared/data or DATA_DIR); {DATA_DIR} holds excerpts")


@pytest.fixture(scope="session")
def data_dir() -> Path:
    if not FULL_DATA and not (DATA_DIR / "make_fixtures.py").exists():
        pytest.fail(f"no data at {DATA_DIR}: neither the shared data (SOURCES.md) nor tests/data; set DATA_DIR")
    return DATA_DIR


def curate(output, sources: list[dict], beam_args: list[str] | None = None, **settings):
    """Run a curation of `sources` (recipe entries) into `output`; returns the RunResult."""
    config = build_config({"sources": sources, **settings}, [], str(output), {})
    return run_config(config, beam_args or [])


def read_rows(output: Path, kind: str, columns=None) -> list[dict]:
    pattern = {"documents": "documents/*/*.parquet", "rejects": "rejects/*/*.parquet",
               "quarantine": "quarantine/*.parquet"}[kind]
    rows = []
    for path in sorted(Path(output).glob(pattern)):
        rows += pq.read_table(path, columns=columns).to_pylist()
    return rows


def one_line(rc: int, err: str, *names: str) -> str:
    """The convention for a user's mistake: exit code 2 and exactly one line on stderr, naming `names`."""
    lines = err.strip().splitlines()
    assert rc == 2, err[-2000:]
    assert len(lines) == 1, err[-2000:]
    assert "Traceback" not in err
    for name in names:
        assert name in lines[0], lines[0]
    return lines[0]


def refused(capsys, rc: int, *names: str) -> str:
    """A command run in-process refused a mistake by the convention (see one_line)."""
    return one_line(rc, capsys.readouterr().err, *names)


def snapshot(folder) -> dict:
    """Every file under `folder`, relative path -> bytes."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(Path(folder).rglob("*")) if p.is_file()}


@pytest.fixture(scope="session")
def curated(tmp_path_factory, data_dir):
    """A curation run of real text: the Wikipedia sample and the Gutenberg books."""
    out = tmp_path_factory.mktemp("tokenize") / "run"
    sources = [{"name": "wiki", "type": "wikipedia", "glob": str(data_dir / "enwiki_xml_dump_sample" / "*.bz2")},
               {"name": "books", "type": "gutenberg", "glob": str(data_dir / "gutenberg_en" / "*.txt")}]
    result = curate(out, sources, filters="none", dedup="exact", pii=False)
    assert result.problems == []
    return out


@pytest.fixture(scope="session")
def tokenizer_file(curated, tmp_path_factory):
    """A 4,000-token byte-level BPE trained on it."""
    from trainer.tokenizer import main as train_tokenizer

    path = tmp_path_factory.mktemp("tok") / "bpe.json"
    assert train_tokenizer(["--input", str(curated), "--output", str(path), "--vocab-size", "4000"]) == 0
    return path


@pytest.fixture(scope="session")
def token_shards(curated, tokenizer_file, tmp_path_factory):
    """Its token shards, a tenth held out."""
    from pipelines.tokenize import run as tokenize

    out = tmp_path_factory.mktemp("tokens") / "tokens"
    tokenize(["--input", str(curated), "--tokenizer", str(tokenizer_file), "--output", str(out),
              "--heldout-fraction", "0.1"])
    return out
