"""Exact dedup: the keep rule, and the Beam transform on a text repeated many times."""

import random

import apache_beam as beam
from apache_beam.testing import test_pipeline
from apache_beam.testing.util import assert_that, equal_to

from dedup.exact import Cluster, content_hash, merge_clusters, salt
from pipelines.transforms.dedup import Decisions, ExactDedup


def test_keep_rule_is_order_independent():
    clusters = [Cluster(f"{i:04x}", 1) for i in random.Random(0).sample(range(5000), 50)]
    expected = Cluster(min(c.keep_id for c in clusters), 50)
    for _ in range(5):
        random.Random(_).shuffle(clusters)
        halves = [merge_clusters(clusters[:20]), merge_clusters(clusters[20:])]
        assert merge_clusters(clusters) == merge_clusters(halves) == expected


def test_hash_and_salt_are_stable():
    assert content_hash("abc") == content_hash("abc") != content_hash("abd")
    assert salt("id-1", 16) == salt("id-1", 16) and 0 <= salt("id-1", 16) < 16
    assert len({salt(f"id-{i}", 16) for i in range(1000)}) == 16


def _doc(i, text):
    return {"id": f"{i:08d}", "text": text, "source": "s"}


def test_exact_dedup_with_a_hot_text():
    # 3,000 copies of one boilerplate page, pairs of copies, and unique texts.
    docs = [_doc(i, "Accept cookies to continue.") for i in range(3000)]
    docs += [_doc(10_000 + i, f"pair {i // 2}") for i in range(200)]
    docs += [_doc(20_000 + i, f"unique {i}") for i in range(300)]
    random.Random(1).shuffle(docs)
    with test_pipeline.TestPipeline(runner="FnApiRunner") as p:
        kept, rejects = p | beam.Create(docs) | ExactDedup()
        pairs = range(10_000, 10_200, 2)
        assert_that((kept, rejects) | Decisions(), equal_to(
            [("00000000", "00000000", 3000, None)]
            + [(f"{i:08d}", "00000000", 3000, "exact_duplicate") for i in range(1, 3000)]
            + [(f"{i:08d}", f"{i:08d}", 2, None) for i in pairs]
            + [(f"{i + 1:08d}", f"{i:08d}", 2, "exact_duplicate") for i in pairs]
            + [(f"{20_000 + i:08d}", f"{20_000 + i:08d}", 1, None) for i in range(300)]))


def test_copies_of_a_keeper_that_near_dedup_removes_point_to_the_final_keeper(tmp_path, data_dir):
    """Three exact copies of a Gutenberg passage and five near copies (a word dropped each): exact dedup
    keeps one of the three, near dedup may then remove it; its copies must name the document that
    survived, never a rejected one."""
    import json

    from conftest import curate, read_rows

    words = (data_dir / "gutenberg_en" / "1342-0.txt").read_text(encoding="utf-8-sig").split()[2000:2400]
    rng = random.Random(4)  # with these offsets a near copy has the smallest id, so it is the one kept
    rows = [{"text": " ".join(words), "url": f"https://exact/{i}"} for i in range(3)]
    for k in range(5):
        near = list(words)
        del near[rng.randrange(len(near))]
        rows.append({"text": " ".join(near), "url": f"https://near/{k}"})
    (tmp_path / "in.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    result = curate(tmp_path / "out", [{"name": "j", "glob": str(tmp_path / "in.jsonl")}], filters="none", pii=False)
    assert result.problems == []
    (kept,) = read_rows(tmp_path / "out", "documents")
    rejects = read_rows(tmp_path / "out", "rejects")
    assert len(rejects) == 7 and {r["duplicate_of"] for r in rejects} == {kept["id"]}
    assert kept["dedup_cluster_size"] == 8 and kept["url"].startswith("https://near/")
    repointed = [r for r in rejects if r["reason"] == "exact_duplicate"]
    assert len(repointed) == 2 and all("itself a near duplicate" in r["detail"] for r in repointed)
