"""The demo corpus (CPython's docs as a crawl) and the demo run: every stage visibly acts."""

import hashlib
import json
import subprocess
import sys
from collections import Counter

import pytest

from conftest import REPO, read_rows
from filters.pii import PiiRedactor
from pipelines.config import build_config, load_recipe
from pipelines.curate import run_config


def build_corpus(output, **env):
    """The corpus CLI in a fresh process (pydoc output depends on what a process has imported)."""
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO), **env}
    cli = subprocess.run([sys.executable, "-m", "pipelines.demo_corpus", "--output", str(output)], cwd=output,
                         env=env, check=True, capture_output=True, text=True)
    return json.loads(cli.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    corpus = tmp_path_factory.mktemp("corpus")
    counts = build_corpus(corpus)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DEMO_DATA", str(corpus))
        config = build_config(load_recipe(str(REPO / "configs" / "recipes" / "demo.yaml")), [],
                              str(tmp_path_factory.mktemp("run") / "demo"), {})
    return corpus, counts, run_config(config)


def test_corpus_is_deterministic_and_leaks_nothing(tmp_path, demo):
    corpus, counts, _ = demo
    # Built again with a different environment and working directory.
    build_corpus(tmp_path, CANARY_VALUE="zebra-canary-1729", PYTHONDOCS="https://example.org/py")
    again = (tmp_path / "pydoc.warc.gz").read_bytes()
    assert again == (corpus / "pydoc.warc.gz").read_bytes()
    import gzip

    text = gzip.decompress(again)
    assert b"zebra-canary" not in text and str(tmp_path).encode() not in text
    # Nor where the repository or its venv lives (record offsets, and so ids, would follow them).
    assert str(REPO).encode() not in text and sys.prefix.encode() not in text
    assert counts["topics"] > 50 and counts["modules"] > 100 and counts["sha256"] == hashlib.sha256(again).hexdigest()


def test_every_stage_acts(demo):
    _, _, result = demo
    assert result.problems == []
    stages = {s["stage"]: s for s in result.stats["stages"]}
    for name in ("read", "extract", "langid", "quality", "exact_dedup"):
        assert sum(stages[name]["rejected"].values()) + sum(stages[name]["quarantined"].values()) > 0, name
    # The cut-off copy of the crawl: one record quarantined, cut in its gzip member or in its headers.
    quarantined = stages["read"]["quarantined"]
    assert sum(quarantined.values()) == 1 and set(quarantined) <= {"TruncatedRecord", "MalformedRecord"}
    assert {"http_status", "unsupported_content_type"} <= set(stages["read"]["rejected"])
    assert result.stats["totals"]["kept"] > 200


def test_charset_and_mojibake_copies_become_exact_duplicates(demo):
    _, counts, result = demo
    out = result.config.output
    kept = {d["id"]: d for d in read_rows(out, "documents")}
    dups = [r for r in read_rows(out, "rejects") if r["reason"] == "exact_duplicate"]
    # Latin-1 pages (decoded by their declared charset) and mojibake pages (repaired by ftfy)
    # normalise to the same text as the originals, so each joins its original's exact cluster;
    # which member is kept depends on record offsets, so count variants over whole clusters. Some
    # pages fall to the quality filter before dedup (originals and copies alike), hence "half".
    clusters = {}
    for r in dups:
        clusters.setdefault(r["duplicate_of"], [kept[r["duplicate_of"]]["url"]]).append(r["url"])
    variants = Counter(v for urls in clusters.values() for v in {u.split("/")[3] for u in urls})
    assert variants["3-latin1"] >= counts["latin1"] // 2 and variants["3-mojibake"] >= counts["mojibake"] // 2
    assert variants["3"] == len(clusters)  # every cluster holds its original
    for r in dups:
        original = kept[r["duplicate_of"]]
        # Kept documents went on to PII redaction, which is deterministic; rejected copies did not.
        assert original["text"] == PiiRedactor().redact(r["text"], original["lang"])[0]
        assert original["url"].split("/")[4:] == r["url"].split("/")[4:]


def test_bytes_flow_from_stage_to_stage(demo):
    _, _, result = demo
    stages = result.stats["stages"]
    assert stages[0]["in_bytes"] > stages[-1]["out_bytes"] > 0
    for before, after in zip(stages, stages[1:]):  # bytes in are derived from this chain; check it holds
        assert after["in"] == before["out"], after["stage"]
    normalise = next(s for s in stages if s["stage"] == "normalise")
    assert 0 < normalise["out_bytes"] <= normalise["in_bytes"]  # whitespace and mojibake fixes shrink text
    extract = next(s for s in stages if s["stage"] == "extract")
    assert extract["out_bytes"] < extract["in_bytes"] / 2  # HTML in, text out
    assert stages[-1]["out_bytes"] == sum(lang["bytes"] for lang in result.stats["languages"].values())
    langid = next(s for s in stages if s["stage"] == "langid")
    identified = result.stats["languages_identified"]
    assert sum(lang["documents"] for lang in identified.values()) == langid["out"]
    assert sum(lang["bytes"] for lang in identified.values()) == langid["out_bytes"]
