"""`--input` naming: an unnamed input is named after its folder, and inputs that share a folder get
distinct names FOLDER-STEM, deterministic from the command line; names given are honoured as they are."""

import json

import pytest

from pipelines.config import ConfigError, build_config, sources_from_inputs
from pipelines.curate import main


def names(*inputs: str) -> list[str]:
    return [s.name for s in sources_from_inputs(list(inputs))]


def test_files_of_one_folder_run_as_distinct_sources(tmp_path, data_dir, capsys):
    folder = data_dir / "ccnet_jsonl_dolma"
    out = tmp_path / "run"
    assert main(["--input", str(folder / "cc_en_head-0091.jsonl.gz"), "--input", str(folder / "cc_en_head-0174.jsonl.gz"),
                 "--output", str(out), "--filters", "none", "--dedup", "none"]) == 0, capsys.readouterr().err
    stats = json.loads((out / "stats.json").read_text())
    assert set(stats["sources"]) == {"ccnet_jsonl_dolma-cc_en_head-0091", "ccnet_jsonl_dolma-cc_en_head-0174"}
    assert all(s["records"] > 0 for s in stats["sources"].values())
    manifest = json.loads((out / "manifest.json").read_text())
    assert [s["name"] for s in manifest["sources"]] == ["ccnet_jsonl_dolma-cc_en_head-0091",
                                                        "ccnet_jsonl_dolma-cc_en_head-0174"]


def test_names_are_the_folder_unless_folders_clash():
    assert names("/d/web/a.jsonl.gz") == ["web"]
    assert names("/d/web/a.jsonl.gz", "/d/web/b.jsonl.gz") == ["web-a", "web-b"]
    assert names("/d/web/a.jsonl.gz", "/d/books/b.txt") == ["web", "books"]
    assert names("/d/web/*.jsonl", "/d/web/extra.jsonl.zst") == ["web-*", "web-extra"]
    assert names("/d/web/page.v2.warc.gz", "/d/web/page.v3.warc.gz") == ["web-page.v2", "web-page.v3"]
    # The same stem in two folders of one name: numbered in the order given.
    assert names("/d/web/a.txt", "/e/web/a.txt", "/f/web/a.txt") == ["web-a", "web-a-2", "web-a-3"]
    # Deterministic: the same command line gives the same names.
    assert names("/d/web/b.txt", "/d/web/a.txt") == names("/d/web/b.txt", "/d/web/a.txt") == ["web-b", "web-a"]


def test_names_given_are_honoured():
    # A name given is kept; the unnamed input that shares it moves aside.
    assert names("web=/d/other/*.jsonl", "/d/web/a.jsonl") == ["web", "web-a"]
    assert names("a=/d/web/a.txt", "b=/d/web/b.txt") == ["a", "b"]
    assert names("a=/d/web/a.txt", "/d/web/b.txt") == ["a", "web"]
    # A renamed input never takes a name given.
    config = build_config({"sources": [{"name": "web-a", "glob": "/x/*.txt"}]}, ["/d/web/a.txt", "/d/web/b.txt"],
                          "/tmp/out", {})
    assert [s.name for s in config.sources] == ["web-a", "web-a-2", "web-b"]
    # Recipe sources with and without names, then --input.
    config = build_config({"sources": [{"glob": "/d/web/a.txt"}, {"name": "web", "glob": "/d/crawl/*.warc.gz"}]},
                          ["/d/web/b.txt"], "/tmp/out", {})
    assert [s.name for s in config.sources] == ["web-a", "web", "web-b"]


def test_clashes_that_are_refused():
    with pytest.raises(ConfigError, match=r"^source names must be unique; repeated: \['a'\]$"):
        sources_from_inputs(["a=/d/web/a.txt", "a=/d/web/b.txt"])
    with pytest.raises(ConfigError, match=r"^source names must be unique; repeated: \['web'\]$"):
        build_config({"sources": [{"name": "web", "glob": "/x/*"}]}, ["web=/y/*"], "/tmp/out", {})
    with pytest.raises(ConfigError, match=r"^input '/d/web/a.txt' given twice"):
        sources_from_inputs(["/d/web/a.txt", "/d/web/./a.txt"])
