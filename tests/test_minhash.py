"""MinHash near-dedup: signatures equal datasketch's, LSH parameters, components, and the Beam
transform on real text (both clustering modes)."""

import bz2
import random

import apache_beam as beam
import numpy as np
import pytest
from apache_beam.testing import test_pipeline
from apache_beam.testing.util import assert_that, equal_to

import dedup.minhash as minhash_module
from dedup.components import components_of, large_star, node_id, node_key, small_star
from dedup.minhash import (RECALL_WEIGHTS, MinHasher, band_keys, candidate_probability, estimated_jaccard, fmix32,
                           jaccard, lsh_params, simplify)
from pipelines.sources.wikipedia import wikitext_to_text
from pipelines.transforms.dedup import Decisions, NearDedup


@pytest.fixture(scope="module")
def articles(data_dir):
    raw = bz2.decompress(next((data_dir / "enwiki_xml_dump_sample").glob("*.bz2")).read_bytes()).decode()
    texts = [wikitext_to_text(p.split("</text>")[0]) for p in raw.split('<text xml:space="preserve">')[1:]]
    return [t for t in texts if len(t.split()) > 300][:40]


def test_signatures_equal_datasketch(articles, data_dir):
    """The compiled loop (dedup/_minhash.c) and the numpy path both give datasketch's values, for
    long texts and for texts shorter than one shingle."""
    assert minhash_module._compiled_signature is not None  # else numpy signs every document
    hasher = MinHasher()
    texts = articles + [(data_dir / "udhr2_unicode" / "udhr2.xml").read_text(), "one", "two words", "a b c d"]
    for text in texts:
        reference = hasher.datasketch()
        reference.update_batch(hasher.shingles(text))
        assert np.array_equal(hasher.signature(text), reference.hashvalues)
        assert np.array_equal(hasher.signature(text, compiled=False), reference.hashvalues)
    chinese = "我们今天在北京学习中文。这是第二句话！天气很好。"
    reference = hasher.datasketch()
    reference.update_batch(hasher.shingles(chinese, "zh"))
    assert np.array_equal(hasher.signature(chinese, "zh"), reference.hashvalues)
    assert hasher.shingles(chinese, "zh")[0] == "我 们 今 天 在".encode()  # character 5-grams


def test_shingles_and_parameters():
    assert simplify("Café, 2024: NAÏVE!") == "cafe 0 naive"
    hasher = MinHasher()
    assert len(hasher.shingles("one two three")) == 1  # shorter than a shingle: one shingle
    assert hasher.signature("!!! ...") is None
    assert lsh_params(0.8, 112) == (9, 12) and lsh_params(0.7, 112) == (12, 9)
    assert lsh_params(0.8, 112, RECALL_WEIGHTS) == (14, 8)  # with verification: FineWeb's bands
    assert round(candidate_probability(0.8, 14, 8), 3) == 0.924  # FineWeb's figure
    sig = hasher.signature("a b c d e f g")
    assert len(band_keys(sig, 14, 8)) == 14 and band_keys(sig, 14, 8) == band_keys(sig.copy(), 14, 8)
    a, b = hasher.shingle_hashes("a b c d e f"), hasher.shingle_hashes("a b c d e g")
    assert jaccard(a, a) == 1.0 and jaccard(a, b) == 1 / 3


def _chain(length: int, seed: int = 0) -> list[str]:
    """Documents that each differ from the previous one in a few words: near duplicates of their
    neighbours, but the ends of the chain share little."""
    rng = random.Random(seed)

    def word():  # letters only: dedup's simplification turns every digit into 0
        return "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(3, 9)))

    words = [word() for _ in range(400)]
    docs = []
    for _ in range(length):
        for _ in range(6):
            words[rng.randrange(len(words))] = word()
        docs.append(" ".join(words))
    return docs


def test_union_find_and_star_rounds_agree_on_a_chain():
    nodes = [f"n{i:03d}" for i in range(64)]
    edges = [(nodes[i + 1], nodes[i]) for i in range(63)] + [("x2", "x1")]
    labels = components_of(edges)
    assert set(labels.values()) == {"n000", "x1"}
    current = set(edges)
    for _ in range(12):
        adjacency: dict = {}
        for a, b in current:
            adjacency.setdefault(a, set()).add(b)
            adjacency.setdefault(b, set()).add(a)
        large = {e for node, nb in adjacency.items() for e in large_star(node, nb)}
        adjacency = {}
        for a, b in large:
            adjacency.setdefault(a, set()).add(b)
            adjacency.setdefault(b, set()).add(a)
        current = {e for node, nb in adjacency.items() for e in small_star(node, [v for v in nb if v < node])}
    star_labels = {}
    for a, b in current:
        for node in (a, b):
            star_labels[node] = min(star_labels.get(node, node), a, b)
    assert star_labels == labels


def test_node_keys_sort_by_quality_then_id():
    best = node_key("f" * 32, 0.9)
    assert best < node_key("0" * 32, 0.5) < node_key("1" * 32, 0.5) < node_key("0" * 32, None)
    assert node_id(best) == "f" * 32


def _docs(texts, scores=None):
    return [{"id": f"{i:032x}", "text": t, "source": "s", "lang": "en", "dedup_cluster_size": 1,
             "signals": {"quality_score": None if scores is None else scores[i]}} for i, t in enumerate(texts)]


@pytest.mark.parametrize("mode", ["single", "distributed"])
def test_near_dedup_in_beam_clusters_a_chain(mode):
    chain = _chain(24)
    others = _chain(3, seed=7)[:1] + _chain(3, seed=8)[:1]
    docs = _docs(chain + others)
    ids = [d["id"] for d in docs]
    with test_pipeline.TestPipeline(runner="FnApiRunner") as p:
        kept, rejects = p | beam.Create(docs) | NearDedup(MinHasher(), 14, 8, components=mode, max_rounds=12)
        assert_that((kept, rejects) | Decisions(), equal_to(
            [(ids[0], ids[0], 24, None), (ids[24], ids[24], 1, None), (ids[25], ids[25], 1, None)]
            + [(i, ids[0], 24, "near_duplicate") for i in ids[1:24]]))


def test_keeper_is_the_best_scored_member():
    texts = _chain(2) + _chain(2, seed=3)
    docs = _docs(texts, scores=[0.2, 0.9, 0.5, 0.5])
    with test_pipeline.TestPipeline(runner="FnApiRunner") as p:
        kept, _ = p | beam.Create(docs) | NearDedup(MinHasher(), 14, 8)
        assert_that((kept,) | Decisions(), equal_to([(docs[i]["id"], docs[i]["id"], 2, None) for i in (1, 2)]))


@pytest.mark.parametrize("verify", ["exact", "signature"])
def test_verification_cuts_pairs_below_the_threshold(verify):
    texts = _chain(2)
    docs = _docs(texts)
    hasher = MinHasher()
    if verify == "exact":
        similarity = jaccard(hasher.shingle_hashes(texts[0]), hasher.shingle_hashes(texts[1]))
    else:
        similarity = estimated_jaccard(hasher.signature(texts[0]), hasher.signature(texts[1]))
    assert 0.7 < similarity < 1.0
    ids = [d["id"] for d in docs]
    together = [(ids[0], ids[0], 2, None), (ids[1], ids[0], 2, "near_duplicate")]
    apart = [(i, i, 1, None) for i in ids]
    for threshold, expected in ((similarity, together), (similarity + 0.005, apart)):
        with test_pipeline.TestPipeline(runner="FnApiRunner") as p:
            kept, rejects = p | beam.Create(docs) | NearDedup(hasher, 14, 8, verify, threshold)
            assert_that((kept, rejects) | Decisions(), equal_to(expected))


def _false_centre(data_dir, bands=14, rows=8):
    """(A, B, Z) from Pride and Prejudice: A and B near copies (J about 0.75) that share exactly one
    band; Z shares that band with both (it keeps the words of A's minimising shingles there) but is
    otherwise other text (J(Z, A) about 0.02)."""
    import re

    hasher, rng = MinHasher(), random.Random(7)
    book = re.findall("[a-z]+", (data_dir / "gutenberg_en" / "1342-0.txt").read_text(encoding="utf-8-sig").lower())

    def shared(x, y):
        return [i for i, (p, q) in enumerate(zip(band_keys(hasher.signature(x), bands, rows),
                                                 band_keys(hasher.signature(y), bands, rows))) if p == q]

    for _ in range(1000):
        start = rng.randrange(len(book) - 300)
        a = book[start:start + 300]
        b = list(a)
        for i in rng.sample(range(300), 9):
            b[i] = rng.choice(book)
        A, B = " ".join(a), " ".join(b)
        common = shared(A, B)
        if len(common) == 1 and jaccard(hasher.shingle_hashes(A), hasher.shingle_hashes(B)) >= 0.72:
            band = common[0]
            break
    else:
        pytest.fail("no near pair sharing exactly one band in 1,000 passages")
    mixed = fmix32(hasher.shingle_hashes(A))
    perm_a, perm_b = hasher._perms
    with np.errstate(over="ignore"):
        values = perm_a[:, None] * mixed[None, :] + perm_b[:, None]
    starts = sorted({int(values[k].argmin()) for k in range(band * rows, (band + 1) * rows)})
    for _ in range(1000):
        z = [w for i in starts for w in a[i:i + 5] + [rng.choice(book)]] + [rng.choice(book) for _ in range(120)]
        Z = " ".join(z)
        if band in shared(Z, A) and band in shared(Z, B):
            return A, B, Z
    pytest.fail("no text sharing the band with both in 1,000 tries")


@pytest.mark.parametrize("verify", ["exact", "signature"])
def test_a_false_positive_centre_does_not_hide_its_buckets_true_pair(verify, data_dir):
    """Z has the smallest id, so it is the centre of the one bucket A and B share; both fail against
    it, and the second verification round pairs them with each other."""
    A, B, Z = _false_centre(data_dir)
    hasher = MinHasher()
    assert jaccard(hasher.shingle_hashes(A), hasher.shingle_hashes(B)) >= 0.72
    assert jaccard(hasher.shingle_hashes(Z), hasher.shingle_hashes(A)) < 0.1
    docs = _docs([Z, A, B])
    ids = [d["id"] for d in docs]
    with test_pipeline.TestPipeline(runner="FnApiRunner") as p:
        kept, rejects = p | beam.Create(docs) | NearDedup(hasher, 14, 8, verify, 0.6)
        assert_that((kept, rejects) | Decisions(), equal_to(
            [(ids[0], ids[0], 1, None), (ids[1], ids[1], 2, None), (ids[2], ids[1], 2, "near_duplicate")]))
