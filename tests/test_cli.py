"""The command line: quick form, overwrite rules, loud failures."""

import gzip
import json

import pytest

from pipelines.config import ConfigError, build_config, sources_from_inputs
from pipelines.curate import main


def test_quick_form_names_sources_and_infers_types(tmp_path, data_dir, capsys):
    out = tmp_path / "run"
    code = main(["--input", str(data_dir / "ccnet_jsonl_dolma" / "*.jsonl.gz"),
                 "--input", f"books={data_dir / 'gutenberg_en' / '*.txt'}", "--output", str(out)])
    assert code == 0
    stats = json.loads((out / "stats.json").read_text())
    assert set(stats["sources"]) == {"ccnet_jsonl_dolma", "books"}
    assert stats["sources"]["books"]["records"] == 3
    printed = capsys.readouterr().out
    assert "Stages (documents and MB in -> out" in printed and "fingerprint" in printed
    # The same output again is refused, then replaced with --overwrite.
    assert main(["--input", str(data_dir / "gutenberg_en" / "*.txt"), "--output", str(out)]) == 2
    assert "not empty" in capsys.readouterr().err
    assert main(["--input", str(data_dir / "gutenberg_en" / "*.txt"), "--output", str(out), "--overwrite",
                 "--filters", "none"]) == 0
    assert set(json.loads((out / "stats.json").read_text())["sources"]) == {"gutenberg_en"}
    assert not list(out.glob("documents/*/*.parquet"))[0].name.startswith("ccnet")


def test_a_stage_that_keeps_nothing_fails_loudly(tmp_path, data_dir, capsys):
    out = tmp_path / "run"
    # Yoruba: a code lid.176 knows (an unknown one is refused upfront), in none of these English pages.
    code = main(["--input", str(data_dir / "ccnet_jsonl_dolma" / "*.jsonl.gz"), "--output", str(out),
                 "--languages", "yo"])
    assert code == 1
    err = capsys.readouterr().err
    assert "stage langid produced no documents" in err
    assert (out / "stats.json").exists() and not (out / "manifest.json").exists()
    # Accepted when asked for.
    assert main(["--input", str(data_dir / "ccnet_jsonl_dolma" / "*.jsonl.gz"), "--output", str(out),
                 "--languages", "yo", "--allow-empty", "--overwrite"]) == 0


def test_config_errors(tmp_path, data_dir, capsys):
    assert main(["--input", str(data_dir / "no_such_set" / "*.txt"), "--output", str(tmp_path / "a")]) == 2
    assert "matches no files" in capsys.readouterr().err
    assert main(["--input", str(data_dir / "gutenberg_en" / "*.txt"), "--output", str(tmp_path / "b"),
                 "--direct_num_wrokers=2"]) == 2
    assert "unknown options" in capsys.readouterr().err
    with pytest.raises(ConfigError, match="unique"):
        build_config({"sources": [{"name": "a", "glob": "x"}, {"name": "a", "glob": "y"}]}, [], "out", {})
    with pytest.raises(ConfigError, match="unknown recipe keys"):
        build_config({"sources": [{"glob": "x"}], "filter": "gopher"}, [], "out", {})
    with pytest.raises(ConfigError, match="unknown type"):
        build_config({"sources": [{"glob": "x", "type": "pdf"}]}, [], "out", {})


def test_recipe_variables(monkeypatch):
    monkeypatch.setenv("DATA_DIR", "/data/shared")
    config = build_config({"sources": [{"glob": "${DATA_DIR}/books/*.txt"}, {"glob": "${CRAWL:-gs://b/cc}/*.warc.gz"}],
                           "languages": "en,de"}, [], "gs://b/out", {"min_lang_score": 0.5})
    assert [s.glob for s in config.sources] == ["/data/shared/books/*.txt", "gs://b/cc/*.warc.gz"]
    assert [s.name for s in config.sources] == ["books", "cc"]
    assert config.languages == ("en", "de") and config.min_lang_score == 0.5 and config.output == "gs://b/out"
    assert [s.name for s in sources_from_inputs(["web=/x/lang=en/*.parquet", "/x/lang=en/*.parquet"])] == \
           ["web", "lang=en"]


def test_overwrite_only_ever_deletes_a_run(tmp_path, data_dir, capsys):
    precious = tmp_path / "notes"
    precious.mkdir()
    (precious / "thesis.txt").write_text("years of work")
    code = main(["--input", str(data_dir / "gutenberg_en" / "*.txt"), "--output", str(precious), "--overwrite"])
    assert code == 2 and "refusing to delete" in capsys.readouterr().err
    assert (precious / "thesis.txt").read_text() == "years of work"
    # Nor may a run read from inside its own output.
    assert main(["--input", str(precious / "*.txt"), "--output", str(tmp_path), "--overwrite"]) == 2
    assert "inside the output" in capsys.readouterr().err


def test_shard_numbers_are_contiguous(tmp_path, data_dir):
    out = tmp_path / "run"
    # One byte per shard asks for far more shards than rows; unused numbers are closed up.
    assert main(["--input", str(data_dir / "ccnet_jsonl_dolma" / "*.jsonl.gz"), "--output", str(out),
                 "--shard-bytes", "1", "--filters", "none"]) == 0
    names = sorted(p.name for p in (out / "documents" / "en").glob("*.parquet"))
    assert names == [f"part-{i:05d}-of-{len(names):05d}.parquet" for i in range(len(names))]
    manifest = json.loads((out / "manifest.json").read_text())
    lines = sum(len(gzip.open(p).read().splitlines()) for p in (data_dir / "ccnet_jsonl_dolma").glob("*.jsonl.gz"))
    assert sum(f["rows"] for f in manifest["files"] if f["kind"] == "documents") == lines  # 20 on the shared data
