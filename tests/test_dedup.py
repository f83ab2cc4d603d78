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
        kept, rejects = p | beam.Create(docs) | ExactDedup(fanout=8)
        pairs = range(10_000, 10_200, 2)
        assert_that((kept, rejects) | Decisions(), equal_to(
            [("00000000", "00000000", 3000, None)]
            + [(f"{i:08d}", "00000000", 3000, "exact_duplicate") for i in range(1, 3000)]
            + [(f"{i:08d}", f"{i:08d}", 2, None) for i in pairs]
            + [(f"{i + 1:08d}", f"{i:08d}", 2, "exact_duplicate") for i in pairs]
            + [(f"{20_000 + i:08d}", f"{20_000 + i:08d}", 1, None) for i in range(300)]))
