"""Outputs are safe to overwrite and never torn, and every reader refuses a run that did not finish.

--overwrite deletes only an earlier run's own files and refuses, deleting nothing, beside anyone
else's; an output that is not a run's own folder ('' or the working directory, '/') is refused; shards
are written under hidden temporary names and renamed whole (same bytes); a killed run (no manifest)
or a torn or changed shard is refused with one line and exit code 2 by trainer.tokenizer,
trainer.train, pipelines.tokenize, pipelines.report and a run reading a dedup index (pipelines.report
--compare, which reads no shard, checks sizes only).
"""

import io
import json
import os
import re
import shutil
import subprocess
import sys

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from conftest import REPO, curate, refused, snapshot
from pipelines import outputs
from pipelines.curate import main as curate_main
from pipelines.report.__main__ import main as report_main
from pipelines.tokenize import main as tokenize_main
from pipelines.transforms import write
from schemas.errors import IncompleteRun
from schemas.run_manifest import verify_run
from trainer.tokenizer import main as tokenizer_main
from trainer.train import main as train_main

SHARD_BYTES = 20_000  # ccnet_jsonl_dolma makes several shards (8 of its 20 documents; 5 of the excerpts' 12)


def sources(data_dir):
    return [{"name": "ccnet_jsonl_dolma", "glob": str(data_dir / "ccnet_jsonl_dolma" / "*.jsonl.gz")}]


def cli_args(data_dir, output):
    return ["--input", str(data_dir / "ccnet_jsonl_dolma" / "*.jsonl.gz"), "--output", str(output),
            "--filters", "none", "--dedup", "exact", "--no-pii", "--shard-bytes", str(SHARD_BYTES)]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory, data_dir):
    """A finished run of 8 document shards (never changed by the tests: they change copies)."""
    out = tmp_path_factory.mktemp("safety") / "run"
    result = curate(out, sources(data_dir), filters="none", dedup="exact", pii=False, shard_bytes=SHARD_BYTES)
    shards = [f for f in result.manifest["files"] if f["kind"] == "documents" and f["partition"] == "lang=en"]
    assert result.problems == [] and len(shards) >= 4  # kill() damages the third and fourth
    return out


@pytest.fixture(scope="module")
def tokenizer_json(run_dir, tmp_path_factory):
    path = tmp_path_factory.mktemp("tok") / "bpe.json"
    assert tokenizer_main(["--input", str(run_dir), "--output", str(path), "--vocab-size", "300"]) == 0
    return path


def copy_of(run_dir, tmp_path, name="copy"):
    return shutil.copytree(run_dir, tmp_path / name)


def test_overwrite_keeps_files_it_did_not_write(run_dir, tmp_path, data_dir, capsys):
    out = copy_of(run_dir, tmp_path)
    (out / "documents" / "MY_NOTES.txt").write_text("notes")
    (out / "rejects").mkdir()
    (out / "rejects" / "precious.csv").write_text("a,b")
    before = snapshot(out)
    refused(capsys, curate_main(cli_args(data_dir, out) + ["--overwrite"]),
            "documents/MY_NOTES.txt", "rejects/precious.csv", "refusing to delete")
    assert snapshot(out) == before  # nothing deleted, not even the earlier run's files
    # A stale shard beside the run's is refused too: the new run must not mix with it.
    for name in ("documents/MY_NOTES.txt", "rejects/precious.csv"):
        (out / name).unlink()
    (out / "documents" / "xx").mkdir()
    pq.write_table(pq.read_table(next(out.glob("documents/en/*.parquet"))),
                   out / "documents" / "xx" / "keep.parquet")
    refused(capsys, curate_main(cli_args(data_dir, out) + ["--overwrite"]), "documents/xx/keep.parquet")
    assert (out / "documents" / "xx" / "keep.parquet").exists() and (out / "manifest.json").exists()
    # So is a run-shaped name the earlier run's manifest does not list.
    shutil.move(out / "documents" / "xx" / "keep.parquet", out / "documents" / "xx" / "part-00000-of-00001.parquet")
    refused(capsys, curate_main(cli_args(data_dir, out) + ["--overwrite"]), "does not list",
            "documents/xx/part-00000-of-00001.parquet")
    # Without them, the run is replaced: the same shards, and no folder of the old run is left over.
    shutil.rmtree(out / "documents" / "xx")
    (out / "report").mkdir()
    (out / "report" / "funnel.png").write_bytes(b"png")  # pipelines.report's files go with the run
    (out / "report.html").write_text("<html>")
    assert curate_main(cli_args(data_dir, out) + ["--overwrite"]) == 0
    assert snapshot(out).keys() == snapshot(run_dir).keys()
    assert json.loads((out / "manifest.json").read_text())["fingerprint"] == \
        json.loads((run_dir / "manifest.json").read_text())["fingerprint"]


def test_a_folder_that_is_not_a_run_survives_overwrite(tmp_path, data_dir, capsys):
    folder = tmp_path / "thesis"
    for name in ("documents/chapter1.docx", "documents/lang=en/table.parquet", "report/figure.png"):
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(name)
    before = snapshot(folder)
    refused(capsys, curate_main(cli_args(data_dir, folder) + ["--overwrite"]), "documents/chapter1.docx")
    assert snapshot(folder) == before


@pytest.mark.parametrize("output", ["", ".", "/", ".."])
def test_an_output_that_is_not_a_run_folder_of_its_own_is_refused(output, tmp_path, data_dir, capsys, monkeypatch):
    cwd = tmp_path / "work" / "here"
    for name in ("documents/mine.txt", "report/mine.png"):
        (cwd / name).parent.mkdir(parents=True, exist_ok=True)
        (cwd / name).write_text(name)
    monkeypatch.chdir(cwd)
    before = snapshot(tmp_path)
    refused(capsys, curate_main(cli_args(data_dir, output) + ["--overwrite"]))
    assert snapshot(tmp_path) == before and (cwd / "documents").is_dir() and (cwd / "report").is_dir()


def test_tokenize_output_is_checked_the_same_way(run_dir, tokenizer_json, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "train").mkdir()
    (tmp_path / "train" / "mine.parquet").write_text("x")
    argv = ["--input", str(run_dir), "--tokenizer", str(tokenizer_json), "--overwrite"]
    refused(capsys, tokenize_main(argv + ["--output", ""]))
    tokens = tmp_path / "tokens"
    (tokens / "train").mkdir(parents=True)
    (tokens / "train" / "mine.parquet").write_text("x")
    refused(capsys, tokenize_main(argv + ["--output", str(tokens)]), "train/mine.parquet")
    assert (tmp_path / "train" / "mine.parquet").exists() and (tokens / "train" / "mine.parquet").exists()


def test_shards_are_renamed_whole_with_the_same_bytes(tmp_path, monkeypatch):
    table = pa.table({"id": [f"{i:04d}" for i in range(5000)], "text": [f"word {i} " * (i % 7) for i in range(5000)]})
    path = str(tmp_path / "documents" / "en" / "part-00000-of-00001.parquet")
    seen = []
    real = pq.write_table

    def watched(table, fh, **kw):  # what a reader sees while the shard is being written
        seen.extend(sorted(os.listdir(tmp_path / "documents" / "en")))
        real(table, fh, **kw)

    monkeypatch.setattr(write.pq, "write_table", watched)
    size = write.write_parquet(path, table)
    assert not any(name.startswith("part-") for name in seen) and len(seen) == 1
    assert outputs.CURATION.temporary(f"documents/en/{seen[0]}") and seen[0].endswith(seen[0][-32:])
    assert os.listdir(tmp_path / "documents" / "en") == ["part-00000-of-00001.parquet"]
    # The bytes are pq.write_table's with the same settings, as before: only the procedure changed.
    buffer = io.BytesIO()
    real(table, buffer, row_group_size=write.ROW_GROUP_ROWS, **write.parquet_options(table.schema))
    assert open(path, "rb").read() == buffer.getvalue() and size == len(buffer.getvalue())

    def killed(table, fh, **kw):  # a worker that dies half way
        fh.write(b"PAR1 half a shard")
        raise KeyboardInterrupt

    monkeypatch.setattr(write.pq, "write_table", killed)
    with pytest.raises(KeyboardInterrupt):
        write.write_parquet(str(tmp_path / "documents" / "en" / "part-00000-of-00002.parquet"), table)
    assert os.listdir(tmp_path / "documents" / "en") == ["part-00000-of-00001.parquet"]


def test_a_run_leaves_no_temporary_files(run_dir):
    assert [p for p in run_dir.rglob("*") if p.name.startswith(".")] == []


def kill(run_dir, tmp_path, damage: str):
    """A copy of the run as a kill leaves it: no manifest and 2 of its shards, with a hidden temporary
    and working files;
    or finished but with one shard torn (truncated) or changed in place."""
    out = copy_of(run_dir, tmp_path, damage)
    shards = sorted(out.glob("documents/en/part-*.parquet"))
    if damage == "killed":
        (out / "manifest.json").unlink()
        for shard in shards[2:]:
            shard.unlink()
        (shards[2].parent / f".{shards[2].name}.tmp-{'0' * 32}").write_bytes(b"PAR1")
        for work in ("_work/spill/documents/" + "1" * 32 + ".rows.zst", "_work/pieces/" + "2" * 32 + ".rows.zst",
                     "_work/bands/" + "3" * 32 + "-nodes.npz"):  # its working files (docs/scale.md)
            (out / work).parent.mkdir(parents=True, exist_ok=True)
            (out / work).write_bytes(b"x")
        return out, "has no manifest.json: the run did not finish (or is not a curation run)"
    if damage == "torn":
        shards[3].write_bytes(shards[3].read_bytes()[:1000])
        return out, f"{shards[3].relative_to(out)} is 1000 bytes"
    data = bytearray(shards[3].read_bytes())
    data[len(data) // 2] ^= 1  # same size, other bytes
    shards[3].write_bytes(bytes(data))
    return out, f"{shards[3].relative_to(out)} does not match its sha256"


@pytest.mark.parametrize("damage", ["killed", "torn", "changed"])
def test_every_consumer_refuses_an_unfinished_or_damaged_run(damage, run_dir, tokenizer_json, tmp_path, data_dir,
                                                             capsys):
    bad, says = kill(run_dir, tmp_path, damage)
    with pytest.raises(IncompleteRun, match=re.escape(says)):
        verify_run(str(bad))
    refused(capsys, tokenizer_main(["--input", str(bad), "--output", str(tmp_path / "t.json"), "--vocab-size", "300"]),
            str(bad), says)
    assert not (tmp_path / "t.json").exists()
    refused(capsys, train_main(["--config", str(REPO / "configs" / "train" / "tiny.yaml"), "--data", str(bad),
                                "--tokenizer", str(tokenizer_json), "--out", str(tmp_path / "train"),
                                "--set", "train.max_steps=1"]), str(bad), says)
    refused(capsys, tokenize_main(["--input", str(bad), "--tokenizer", str(tokenizer_json),
                                   "--output", str(tmp_path / "tokens")]), str(bad), says)
    assert not (tmp_path / "tokens").exists()
    refused(capsys, report_main([str(bad)]), str(bad), says)
    assert not (bad / "report.html").exists()
    if damage == "changed":  # --compare reads counts from JSON, no shard: it checks sizes, not sha256
        assert report_main(["--compare", str(run_dir), str(bad)]) == 0
    else:
        refused(capsys, report_main(["--compare", str(run_dir), str(bad)]), str(bad), says)

    if damage == "killed":  # --overwrite clears what the killed run wrote, its temporary and working files too
        assert curate_main(cli_args(data_dir, bad) + ["--overwrite"]) == 0
        assert verify_run(str(bad))["fingerprint"] == verify_run(str(run_dir))["fingerprint"]
        assert snapshot(bad).keys() == snapshot(run_dir).keys()


def test_the_command_line_says_it_in_one_line(run_dir, tmp_path):
    bad, says = kill(run_dir, tmp_path, "killed")
    done = subprocess.run([sys.executable, "-m", "trainer.tokenizer", "--input", str(bad), "--output",
                           str(tmp_path / "t.json")], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and done.stderr.strip().splitlines() == [f"error: {bad} {says}"]


def test_a_dedup_index_part_that_was_not_copied_whole_is_refused(tmp_path, data_dir, capsys):
    index = tmp_path / "index"
    first = curate(tmp_path / "month1", sources(data_dir), filters="none", pii=False, dedup_index=str(index))
    assert first.problems == []
    (part,) = index.glob("parts/*")
    assert json.loads((part / "manifest.json").read_text())["files"]
    argv = ["--input", str(data_dir / "ccnet_jsonl_dolma" / "*.jsonl.gz"), "--output", str(tmp_path / "month2"),
            "--filters", "none", "--no-pii", "--dedup-index", str(index)]
    shard = next(part.glob("part-*.parquet"))
    shard.write_bytes(shard.read_bytes()[:100])  # torn by a killed copy
    refused(capsys, curate_main(argv), str(part), f"{shard.name} is 100 bytes")
    (part / "manifest.json").unlink()  # a copy killed before its manifest
    refused(capsys, curate_main(argv), f"{part} has no manifest.json", "did not finish")
    assert not (tmp_path / "month2" / "manifest.json").exists()


@pytest.mark.parametrize("name", ["documents", "rejects", "quarantine", "dedup_index", "tokens", "nested"])
def test_writer_settings_reach_every_column(name):
    """The per-column settings name Parquet's column paths: a struct's or a list's name alone would
    silently reach none of its fields. Every column but the free text keeps its dictionary and its
    statistics."""
    from schemas import SCHEMAS
    from schemas.tokens import token_schema

    schema = {**SCHEMAS, "tokens": token_schema(50_000), "nested": pa.schema([
        pa.field("text", pa.large_string()), pa.field("m", pa.map_(pa.string(), pa.list_(pa.int32()))),
        pa.field("s", pa.struct([pa.field("a", pa.struct([pa.field("b", pa.float32())]))]))])}[name]
    buffer = io.BytesIO()
    pq.write_table(schema.empty_table(), buffer)
    written = pq.ParquetFile(pa.BufferReader(buffer.getvalue())).schema
    assert write.leaf_columns(schema) == [written.column(i).path for i in range(len(written))]
    options = write.parquet_options(schema)
    assert options["use_dictionary"] == options["write_statistics"] == [
        path for path in write.leaf_columns(schema) if path.split(".")[0] != "text"]
