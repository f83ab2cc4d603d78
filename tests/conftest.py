"""Shared fixtures: the shared data folder (read in place) and a helper to run a curation."""

import os
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from pipelines.config import build_config
from pipelines.curate import run_config

REPO = Path(__file__).resolve().parent.parent
DATA_DIR = Path(os.environ.get("DATA_DIR", REPO.parent / "shared" / "data")).resolve()


def pytest_addoption(parser):
    # Beam's TestPipeline reads this flag; declaring it lets pytest accept it.
    parser.addoption("--test-pipeline-options", default=None)


@pytest.fixture(scope="session")
def data_dir() -> Path:
    if not (DATA_DIR / "SOURCES.md").exists():
        pytest.fail(f"shared data not found at {DATA_DIR}; set DATA_DIR")
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
