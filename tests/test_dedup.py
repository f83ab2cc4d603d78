"""Exact dedup: the keep rule, and the Beam transform on a text repeated many times."""

import json
import random

import apache_beam as beam
from apache_beam.testing import test_pipeline
from apache_beam.testing.util import assert_that, equal_to

from conftest import curate, read_rows
from dedup.exact import Cluster, content_hash, merge_clusters, salt
from pipelines.transforms.dedup import Decisions, ExactDedup


def test_keep_rule_is_order_independent():
    clusters = [Cluster(f"{i:04x}", 1) for i in random.Random(0).sample(range(5000), 50)]
    expected = Cluster(min(c.keep_id for c in clusters), 50)
    for _ in range(5):
        random.Random(_).shuffle(clusters)
        halves = [merge_clusters(clusters[:20]), merge_clusters(clusters[20:])]
        assert merge_clusters(clusters) == merge_clusters(halves) == expected


def test_hash_and_salt_known_answers():
    """content_hash is XXH3-128 of the UTF-8 bytes, as hex: the values an earlier run's dedup index holds.
    The empty input's is xxHash's published test vector; the others were recorded with xxhash 3.x."""
    assert content_hash("") == "99aa06d3014798d86001c324468d497f"
    assert content_hash("abc") == "06b05ab6733a618578af5f94892f3950"
    assert content_hash("Accept cookies to continue.") == "5d668ea47aecd33c5fbc856bcd684d69"
    # The hash does not normalise: the same word composed (NFC) and decomposed (NFD) differ here...
    assert content_hash("caf\u00e9") == "fc88ba8ad8a06b6234b319bdcedd52af"
    assert content_hash("cafe\u0301") == "fd519c6f66378506022227ba5bc72dc2"
    # ...and a lone surrogate (surrogateescape'd bytes of a bad file) hashes as its UTF-8 form, no error.
    assert content_hash("\ud800x") == "af714fd587dab75b858bee16334e185a"
    # salt: XXH64 of the id modulo the fan-out (XXH64 of no bytes is 0xEF46DB3751D8E999, the published vector).
    assert salt("", 16) == 0xEF46DB3751D8E999 % 16 == 9 and salt("", 1000) == 0xEF46DB3751D8E999 % 1000
    assert [salt(f"id-{i}", 16) for i in range(5)] == [11, 13, 4, 14, 5]
    assert len({salt(f"id-{i}", 16) for i in range(1000)}) == 16


def test_texts_equal_after_normalisation_are_exact_duplicates(tmp_path):
    """Curation normalises before exact dedup: the same text composed or decomposed, with a no-break or
    zero-width space, trailing spaces, CRLF line ends or extra blank lines is one cluster; a change of
    case or of one word is another text."""
    text = "Caf\u00e9 cr\u00e8me on the terrace.\n\nThe waiter brought two cups."
    copies = [text,
              text.replace("\u00e9", "e\u0301").replace("\u00e8", "e\u0300"),  # NFD
              text.replace("the terrace", "the\u00a0terrace").replace("two", "t\u200bwo"),
              text.replace("\n", "  \r\n"),
              text.replace("\n\n", "\n\n\n\n")]
    others = [text.upper(), text.replace("two", "three")]
    rows = [{"text": t, "url": f"https://copy/{i}"} for i, t in enumerate(copies)]
    rows += [{"text": t, "url": f"https://other/{i}"} for i, t in enumerate(others)]
    (tmp_path / "in.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    result = curate(tmp_path / "out", [{"name": "j", "glob": str(tmp_path / "in.jsonl")}], filters="none",
                    dedup="exact", pii=False)
    assert result.problems == []
    kept = {r["url"]: r for r in read_rows(tmp_path / "out", "documents")}
    rejects = read_rows(tmp_path / "out", "rejects")
    keepers = [r for url, r in kept.items() if url.startswith("https://copy/")]
    assert len(keepers) == 1, sorted(kept)  # the five copies are one text
    keeper = keepers[0]
    assert keeper["text"] == text and keeper["dedup_cluster_size"] == len(copies)
    assert sorted(r["url"] for r in rejects) == sorted(f"https://copy/{i}" for i in range(5) if f"https://copy/{i}" != keeper["url"])
    assert {(r["reason"], r["duplicate_of"]) for r in rejects} == {("exact_duplicate", keeper["id"])}
    assert keeper["id"] == min([keeper["id"]] + [r["id"] for r in rejects])  # the smallest id is kept
    assert {f"https://other/{i}" for i in range(2)} <= set(kept) and len(kept) == 3
    assert all(kept[f"https://other/{i}"]["dedup_cluster_size"] == 1 for i in range(2))


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
