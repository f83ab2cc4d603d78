"""A near-dedup index: a later run drops what an earlier run already kept, and a rerun replaces
its own part of the index."""

import json

from conftest import curate, read_rows
from pipelines.outputs import fingerprint
from schemas.run_manifest import verify_run


def test_a_second_crawl_is_deduplicated_against_the_first(tmp_path, data_dir):
    index = tmp_path / "index"
    month1 = [{"name": "warc", "glob": str(data_dir / "web_warc_dolma_wget" / "*.warc.gz")}]
    first = curate(tmp_path / "month1", month1, filters="none", dedup_index=str(index))
    assert first.problems == []
    kept_first = first.stats["totals"]["kept"]
    assert json.loads((index / "params.json").read_text())["bands"] == 14
    assert sum(1 for _ in index.glob("parts/*/*.parquet")) >= 1
    # The same pages again under another source name (new ids): all of them are in the index. The
    # candidate pairs are verified against the signatures the index keeps.
    month2 = [{"name": "warc-again", "glob": str(data_dir / "web_warc_dolma_wget" / "*.warc.gz")},
              {"name": "jsonl", "glob": str(data_dir / "ccnet_jsonl_dolma" / "*.jsonl.gz")}]
    second = curate(tmp_path / "month2", month2, filters="none", dedup_index=str(index), dedup_verify="signature")
    assert second.problems == []
    assert json.loads((tmp_path / "month2" / "manifest.json").read_text())["dedup"]["verify"] == "signature"
    rejects = [r for r in read_rows(tmp_path / "month2", "rejects") if r["reason"] == "in_dedup_index"]
    assert len(rejects) == kept_first
    assert {r["source"] for r in rejects} == {"warc-again"}
    assert second.stats["sources"]["jsonl"]["kept"] > 0
    # A run from before its index shards' folder was dedup_index/ (index/) is still a whole run, and
    # --overwrite replaces it, old folder and all.
    run1 = tmp_path / "month1"
    (run1 / "dedup_index").rename(run1 / "index")
    manifest = json.loads((run1 / "manifest.json").read_text())
    for f in manifest["files"]:
        if f["kind"] == "dedup_index":
            f["path"] = "index/" + f["path"].split("/", 1)[1]
    manifest["fingerprint"] = fingerprint(manifest["files"])
    (run1 / "manifest.json").write_text(json.dumps(manifest))
    verify_run(str(run1), hash_kinds=("dedup_index",))
    # Rerunning the first month into its own output replaces its index part instead of matching it.
    again = curate(run1, month1, filters="none", dedup_index=str(index), overwrite=True)
    assert again.stats["totals"]["kept"] == kept_first
    assert not (run1 / "index").exists() and any((run1 / "dedup_index").glob("part-*.parquet"))
    # Rerun into another output (another machine, another folder), its part is not replaced, but a
    # document is never a duplicate of its own indexed copy: the same documents are kept.
    elsewhere = curate(tmp_path / "moved" / "month1", month1, filters="none", dedup_index=str(index))
    assert elsewhere.stats["totals"]["kept"] == kept_first
    assert ({d["id"] for d in read_rows(tmp_path / "moved" / "month1", "documents")}
            == {d["id"] for d in read_rows(tmp_path / "month1", "documents")})
