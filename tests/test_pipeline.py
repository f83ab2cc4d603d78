"""The curation pipeline over every supported-format corpus of the shared data folder."""

import json
from collections import Counter
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from conftest import REPO, curate, read_rows
from pipelines.config import build_config, load_recipe
from pipelines.curate import run_config
from pipelines.outputs import OutputNotEmpty
from schemas import SCHEMAS, SCHEMA_VERSION

RECIPE = REPO / "configs" / "recipes" / "shared-data.yaml"
SOURCES = ("cc-2020-34", "dolma-wget", "cc-whirlwind", "cc-whirlwind-wet", "ccnet-wet", "enwiki", "gutenberg",
           "gutenberg-html", "debian-reference", "ccnet-jsonl")


def run_recipe(output, beam_args=None):
    config = build_config(load_recipe(str(RECIPE)), [], str(output), {})
    return run_config(config, beam_args or [])


@pytest.fixture(scope="module")
def runs(tmp_path_factory, data_dir, monkeypatch_module):
    monkeypatch_module.setenv("DATA_DIR", str(data_dir))
    base = tmp_path_factory.mktemp("shared")
    return run_recipe(base / "first"), run_recipe(base / "second"), base


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as mp:
        yield mp


def test_every_source_is_read(runs):
    first, _, _ = runs
    assert first.problems == []
    assert set(first.stats["sources"]) == set(SOURCES)
    assert all(s["records"] > 0 for s in first.stats["sources"].values())


def test_records_read_equal_kept_plus_rejected_plus_quarantined_per_source(runs):
    first, _, base = runs
    out = base / "first"
    rows = {kind: Counter(r["source"] for r in read_rows(out, kind, columns=["source"]))
            for kind in ("documents", "rejects", "quarantine")}
    for name, s in first.stats["sources"].items():
        assert s["records"] == s["kept"] + s["rejected"] + s["quarantined"], name
        # The files say the same as the counters.
        assert (rows["documents"][name], rows["rejects"][name], rows["quarantine"][name]) == \
               (s["kept"], s["rejected"], s["quarantined"]), name
    enwiki = first.stats["sources"]["enwiki"]
    assert enwiki["records"] == 206  # every page of the dump, redirects included


def test_stage_funnel_adds_up(runs):
    first, _, _ = runs
    stages = {s["stage"]: s for s in first.stats["stages"]}
    assert stages["read"]["in"] == first.stats["totals"]["records"]
    for earlier, later in zip(first.stats["stages"], first.stats["stages"][1:]):
        assert earlier["out"] == later["in"]
        assert earlier["in"] == earlier["out"] + sum(earlier["rejected"].values()) + sum(earlier["quarantined"].values())
    assert stages["exact_dedup"]["out"] == first.stats["totals"]["kept"]


def test_shards_match_the_schema(runs):
    _, _, base = runs
    out = base / "first"
    files = sorted(out.glob("documents/*/part-*-of-*.parquet")) + sorted(out.glob("rejects/*/*.parquet"))
    assert files
    for path in files:
        kind = path.relative_to(out).parts[0]
        parquet = pq.ParquetFile(path)
        assert parquet.schema_arrow.equals(SCHEMAS[kind], check_metadata=False), path
        assert parquet.schema_arrow.metadata[b"schema_version"] == SCHEMA_VERSION.encode()
        assert parquet.metadata.row_group(0).column(0).compression == "ZSTD"
        # Free text is stored plain and without min/max (whole documents in every page header otherwise);
        # the other columns keep their statistics, which readers filter on.
        columns = {parquet.metadata.row_group(0).column(i).path_in_schema: parquet.metadata.row_group(0).column(i)
                   for i in range(parquet.metadata.num_columns)}
        assert not columns["text"].is_stats_set and not columns["text"].has_dictionary_page, path
        assert columns["id"].is_stats_set and columns["id"].statistics.has_min_max, path
        nested = [name for name in columns if "." in name]  # the signals' fields, for documents
        assert all(columns[name].is_stats_set for name in nested), path
        assert kind != "documents" or "signals.quality_score" in nested
    langs = {p.parent.name for p in out.glob("documents/*/*.parquet")}
    assert langs == set(runs[0].stats["languages"]) and "en" in langs  # folders named by the bare value
    for path in out.glob("documents/*/*.parquet"):
        table = pq.read_table(path)
        ids = table.column("id").to_pylist()
        assert ids == sorted(ids)  # sorted shards are what makes reruns identical
        assert set(table.column("lang").to_pylist()) == {path.parent.name}


def test_second_run_gives_identical_shards(runs):
    first, second, base = runs
    assert first.manifest["fingerprint"] == second.manifest["fingerprint"]
    for f in first.manifest["files"] + [first.manifest["card"]]:
        assert (base / "first" / f["path"]).read_bytes() == (base / "second" / f["path"]).read_bytes()


def test_manifest_lists_every_file_and_is_written_last(runs):
    first, _, base = runs
    out = base / "first"
    manifest = json.loads((out / "manifest.json").read_text())
    listed = {f["path"] for f in manifest["files"]}
    on_disk = {str(p.relative_to(out)) for p in out.rglob("*.parquet")}
    assert listed == on_disk
    assert manifest["complete"] and manifest["config"]["dedup"] == "minhash"
    assert (manifest["dedup"]["bands"], manifest["dedup"]["rows"], manifest["dedup"]["num_perm"]) == (14, 8, 112)
    assert manifest["filters"]["filters"][0]["type"] == "gopher_repetition"  # fineweb's chain
    assert manifest["source_filters"]["gutenberg"]["filters"] == []
    newest = max(p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file())
    assert (out / "manifest.json").stat().st_mtime_ns == newest


def test_rejects_carry_stage_and_reason(runs):
    _, _, base = runs
    rejects = read_rows(base / "first", "rejects")
    reasons = Counter((r["stage"], r["reason"]) for r in rejects)
    assert reasons[("read", "wiki_redirect")] == 100
    assert any(stage == "quality" and reason.startswith("fineweb_quality.") for stage, reason in reasons)
    assert all(r["detail"] for r in rejects if r["stage"] == "quality")


def test_refuses_non_empty_output(runs, data_dir):
    _, _, base = runs
    with pytest.raises(OutputNotEmpty):
        curate(base / "first", [{"glob": str(data_dir / "gutenberg_en" / "*.txt")}])


def test_same_shards_under_multiprocessing_runner(tmp_path, data_dir):
    sources = [{"name": "wet", "type": "wet", "glob": str(data_dir / "wet_ccnet_test_sample" / "*")},
               {"name": "jsonl", "glob": str(data_dir / "ccnet_jsonl_dolma" / "*.jsonl.gz")},
               {"name": "html", "glob": str(data_dir / "debian_reference_html" / "ja" / "ch0*.html")}]
    local = curate(tmp_path / "in-memory", sources)
    parallel = curate(tmp_path / "processes", sources,
                      ["--direct_num_workers=2", "--direct_running_mode=multi_processing"])
    assert local.problems == parallel.problems == []
    assert local.manifest["fingerprint"] == parallel.manifest["fingerprint"]
    assert Path(tmp_path / "processes" / "manifest.json").exists()
    assert (tmp_path / "processes" / "README.md").read_bytes() == (tmp_path / "in-memory" / "README.md").read_bytes()


def test_a_break_in_the_stage_chain_is_a_problem():
    """Bytes into a stage are derived from the stage before it, so documents must flow stage to stage."""
    from pipelines.accounting import check_stats

    def stage(name, n_in, n_out):
        return {"stage": name, "in": n_in, "out": n_out, "rejected": {"r": n_in - n_out}, "quarantined": {}}

    stats = {"sources": {}, "totals": {"records": 10},
             "stages": [stage("read", 10, 9), stage("extract", 9, 8), stage("langid", 7, 7)]}
    assert check_stats(stats) == ["stage langid: 7 in != 8 out of extract"]
    stats["stages"][-1] = stage("langid", 8, 7)
    assert check_stats(stats) == []
