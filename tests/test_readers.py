"""Every reader a user would try opens a real run's shards whole, with no options (issue 12).

One small real run (web pages in JSONL, with duplicates and a broken line, and German fortunes):
curated, its report written (PNG files beside the shards), a tokenizer trained on it, tokenised with
a held-out share. Its documents, rejects and quarantine folders, and its token shards, are then read by
pandas, pyarrow (read_table, and the dataset API with and without Hive partitioning), duckdb, polars
and Hugging Face `datasets`: each must give every row the manifest counts, the same ids, and the
language and stage as columns with each row's own value.
"""

import gzip
import json
import os
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from conftest import curate
from pipelines.report.__main__ import write_report
from pipelines.tokenize import run as tokenize
from pipelines import outputs
from schemas.run_manifest import sha256_file
from trainer.tokenizer import main as train_tokenizer

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

# What identifies a row of each kind, and the column its folder is partitioned by.
KEYS = {"documents": ("id",), "rejects": ("id",), "quarantine": ("file", "offset", "stage", "error")}
PARTITION = {"documents": "lang", "rejects": "stage", "quarantine": "stage"}


@pytest.fixture(scope="module")
def runs(tmp_path_factory, data_dir):
    src = tmp_path_factory.mktemp("readers-src")
    lines = []
    for name in ("cc_en_head-0091", "cc_en_head-0174"):
        lines += gzip.decompress((data_dir / "ccnet_jsonl_dolma" / f"{name}.jsonl.gz").read_bytes()).splitlines(True)
    # eight exact copies (dedup rejects) and a line that is not JSON (quarantined)
    (src / "web.jsonl").write_bytes(b"".join(lines + lines[:8]) + b'{"text": "unterminated\n')
    (src / "sources.json").write_text(json.dumps(
        [{"name": "web", "type": "jsonl", "glob": str(src / "web.jsonl")},
         {"name": "fortunes", "type": "text", "glob": str(data_dir / "fortunes_multilingual" / "de" / "[a-b]*")}]))
    root = tmp_path_factory.mktemp("readers")
    run = root / "run"
    result = curate(run, json.loads((src / "sources.json").read_text()), dedup="exact")
    assert result.problems == []
    tokenizer = root / "bpe.json"
    assert train_tokenizer(["--input", str(run), "--output", str(tokenizer), "--vocab-size", "400"]) == 0
    tokens = root / "run-tokens"
    tokenize(["--input", str(run), "--tokenizer", str(tokenizer), "--output", str(tokens), "--heldout-fraction", "0.3"])
    write_report(run)
    return run, tokens, root / "hf-cache", src


def _columns(kind: str) -> list[str]:
    return list(dict.fromkeys([*KEYS[kind], PARTITION[kind]]))


def _expected(run: Path, kind: str) -> tuple[int, dict]:
    """(rows the manifest's totals count, key -> partition value), read file by file."""
    manifest = json.loads((run / "manifest.json").read_text())
    count = manifest["totals"][{"documents": "kept", "rejects": "rejected", "quarantine": "quarantined"}[kind]]
    rows = {}
    for f in manifest["files"]:
        if f["kind"] == kind:
            for row in pq.read_table(run / f["path"], columns=_columns(kind)).to_pylist():
                rows[tuple(row[k] for k in KEYS[kind])] = row[PARTITION[kind]]
    return count, rows


def test_the_run_has_every_kind_and_several_partitions(runs):
    run, tokens, _, _ = runs
    assert {p.name for p in (run / "documents").iterdir()} >= {"en", "de"}
    assert {p.name for p in (run / "rejects").iterdir()} >= {"exact_dedup", "quality"}
    assert list((run / "quarantine").glob("*.parquet")) and list((run / "report").glob("*.png"))
    assert list((tokens / "train").glob("*.parquet")) and list((tokens / "heldout").glob("*.parquet"))


def _pandas(folder: Path):
    import pandas as pd
    return pd.read_parquet(folder)


def _read_table(folder: Path):
    return pq.read_table(folder).to_pandas()


def _dataset(folder: Path):
    import pyarrow.dataset as ds
    return ds.dataset(folder).to_table().to_pandas()


def _dataset_hive(folder: Path):
    import pyarrow.dataset as ds
    return ds.dataset(folder, partitioning="hive").to_table().to_pandas()


def _duckdb(folder: Path):
    import duckdb
    return duckdb.sql(f"SELECT * FROM read_parquet('{folder}/**/*.parquet')").df()


def _polars_folder(folder: Path):
    import polars as pl
    return pl.read_parquet(folder).to_pandas()


def _polars_glob(folder: Path):
    import polars as pl
    return pl.scan_parquet(f"{folder}/**/*.parquet").collect().to_pandas()


def _hf(folder: Path, cache: Path, name: str | None = None) -> dict:
    import datasets
    datasets.disable_progress_bars()
    loaded = datasets.load_dataset(str(folder), name, cache_dir=str(cache))
    return {split: data.to_pandas() for split, data in loaded.items()}


READERS = {"pandas.read_parquet": _pandas, "pyarrow.parquet.read_table": _read_table,
           "pyarrow.dataset": _dataset, "pyarrow.dataset hive": _dataset_hive, "duckdb": _duckdb,
           "polars.read_parquet folder": _polars_folder, "polars.scan_parquet glob": _polars_glob}


def _check(frame, kind: str, count: int, expected: dict) -> None:
    column = PARTITION[kind]
    assert column in frame.columns, f"no {column} column: {list(frame.columns)}"
    assert len(frame) == count
    got = {tuple(row[k] for k in KEYS[kind]): str(row[column]) for row in frame[_columns(kind)].to_dict("records")}
    assert got == expected


@pytest.mark.parametrize("kind", ["documents", "rejects", "quarantine"])
@pytest.mark.parametrize("reader", list(READERS))
def test_a_curation_folder_reads_whole_with_no_options(runs, kind, reader):
    run, _, _, _ = runs
    count, expected = _expected(run, kind)
    assert count == len(expected) > 0
    _check(READERS[reader](run / kind), kind, count, expected)


@pytest.mark.parametrize("kind", ["documents", "rejects", "quarantine"])
def test_datasets_loads_a_curation_folder_and_the_run_by_its_card(runs, kind):
    run, _, cache, _ = runs
    count, expected = _expected(run, kind)
    folder = _hf(run / kind, cache)
    assert list(folder) == ["train"]
    _check(folder["train"], kind, count, expected)
    # the run itself (its report's PNGs beside the shards): the card's configs, documents by default
    whole = _hf(run, cache, None if kind == "documents" else kind)
    assert list(whole) == ["train"]
    _check(whole["train"], kind, count, expected)


def _token_expected(tokens: Path) -> dict:
    """split folder -> the ids its shards hold, and their count in the manifest."""
    manifest = json.loads((tokens / "manifest.json").read_text())
    out = {}
    for split, entry in manifest["splits"].items():
        ids = [i for f in entry["files"] for i in pq.read_table(tokens / f["path"], columns=["id"])["id"].to_pylist()]
        assert len(ids) == entry["rows"] > 0
        out[split] = set(ids)
    return out


@pytest.mark.parametrize("reader", ["pandas.read_parquet", "pyarrow.parquet.read_table", "pyarrow.dataset",
                                    "pyarrow.dataset hive", "polars.read_parquet folder", "duckdb"])
def test_a_token_split_folder_reads_whole(runs, reader):
    _, tokens, _, _ = runs
    for split, ids in _token_expected(tokens).items():
        frame = READERS[reader](tokens / split)
        assert len(frame) == len(ids) and set(frame["id"]) == ids
        assert {"input_ids", "n_tokens", "source"} <= set(frame.columns)


@pytest.mark.parametrize("reader", ["duckdb", "polars.scan_parquet glob"])
def test_token_shards_read_whole_by_a_glob(runs, reader):
    _, tokens, _, _ = runs
    expected = _token_expected(tokens)
    frame = READERS[reader](tokens)
    assert len(frame) == sum(map(len, expected.values())) and set(frame["id"]) == set.union(*expected.values())


def test_datasets_loads_every_token_split(runs):
    run, tokens, cache, _ = runs
    expected = _token_expected(tokens)
    loaded = _hf(tokens, cache)
    assert sorted(loaded) == ["train", "validation"]
    assert set(loaded["train"]["id"]) == expected["train"] and len(loaded["train"]) == len(expected["train"])
    assert set(loaded["validation"]["id"]) == expected["heldout"]
    assert len(loaded["validation"]) == len(expected["heldout"])


def test_the_cards_are_listed_in_the_manifests(runs):
    run, tokens, _, _ = runs
    for folder in (run, tokens):
        card = json.loads((folder / "manifest.json").read_text())["card"]
        assert card["path"] == "README.md"
        assert card["bytes"] == (folder / "README.md").stat().st_size
        assert card["sha256"] == sha256_file(str(folder / "README.md"))


def test_shards_and_card_are_the_same_bytes_under_another_runner_mode(runs, tmp_path):
    run, _, _, src = runs
    again = tmp_path / "again"
    result = curate(again, json.loads((src / "sources.json").read_text()),
                    ["--direct_num_workers=2", "--direct_running_mode=multi_threading"], dedup="exact")
    assert result.problems == []
    listed = [f["path"] for f in result.manifest["files"]] + ["README.md"]
    assert listed == [f["path"] for f in json.loads((run / "manifest.json").read_text())["files"]] + ["README.md"]
    for path in listed:
        assert (again / path).read_bytes() == (run / path).read_bytes(), path


def test_partition_folders_old_and_new_are_a_runs_own():
    for path in ("documents/en/part-00000-of-00001.parquet", "rejects/near_dedup/part-00000-of-00002.parquet",
                 "documents/lang=en/part-00000-of-00001.parquet", "rejects/stage=quality/part-00000-of-00001.parquet"):
        assert outputs.CURATION.shard(path), path  # runs written before named them lang=en, stage=quality
    assert outputs.CURATION.owned("README.md") and outputs.TOKENS.owned("README.md")
    assert outputs.CURATION.temporary(".README.md.tmp-" + "0" * 32)
    assert outputs.partition_folder("lang=zh") == "zh" and outputs.partition_name("documents", "zh") == "lang=zh"
    assert outputs.partition_name("rejects", "stage=quality") == "stage=quality"


def test_a_card_names_only_the_configs_and_splits_with_files():
    from schemas.dataset_card import curation_card, token_card

    files = [{"path": "documents/en/part-00000-of-00001.parquet", "kind": "documents", "partition": "lang=en", "rows": 3}]
    card = curation_card(files)
    assert "config_name: documents" in card and "config_name: rejects" not in card and "quarantine/" not in card
    assert not curation_card([]).startswith("---")  # nothing to load: no configs that match no file
    splits = {"train": {"rows": 3, "tokens": 9, "files": [{"path": "train/part-00000-of-00001.parquet"}]},
              "heldout": {"rows": 0, "tokens": 0, "files": []}}  # --heldout-fraction 0
    card = token_card(splits)
    assert "split: train" in card and "validation" not in card.split("---")[1]
