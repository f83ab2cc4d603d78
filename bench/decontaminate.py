"""Decontamination cost: building the n-gram index, and checking a document against it.

    python bench/decontaminate.py [--data-dir ../shared/data] [--corpus /tmp/bench-corpus/corpus.jsonl.gz]
                                  [--docs 20000] [--big-index 20000000]

1. Build. The index of WikiText-2 test + valid (the evaluation set; GSM8K test as JSONL too): MB of
   evaluation text a second on one core, n-grams, bytes an n-gram and per byte of evaluation text.
   Then a larger build, the corpus's own text as the evaluation set, for the rate at tens of MB.
2. Check. Every document of the peers' corpus (or, without it, Wikipedia and Gutenberg passages from
   the shared data) against the WikiText-2 index: microseconds a document and a KB, split into
   making the words and looking the n-grams up, and how many documents it rejects. The Chinese
   fortunes as `zh` documents (segmenter words) for the CJK cost.
3. Index size. The same documents' lookups against a random index of `--big-index` hashes (8 bytes
   each: 20M is 160 MB, the index of about 110 MB of English evaluation text), as searchsorted's
   cost grows with the index.

CPU times (time.process_time), one process, nothing else of the pipeline.
"""

import argparse
import gzip
import importlib
import json
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from filters import decontaminate as dc  # noqa: E402


def corpus_texts(corpus: Path | None, data: Path, limit: int) -> tuple[str, list[str]]:
    if corpus and corpus.exists():
        texts = []
        with gzip.open(corpus, "rt", encoding="utf-8") as fh:
            for line in fh:
                texts.append(json.loads(line)["text"])
                if len(texts) >= limit:
                    break
        return f"peers' corpus {corpus}", texts
    import bz2

    from pipelines.sources.wikipedia import wikitext_to_text

    raw = bz2.decompress(next((data / "enwiki_xml_dump_sample").glob("*.bz2")).read_bytes()).decode()
    texts = [wikitext_to_text(page.split("</text>")[0]) for page in raw.split('<text xml:space="preserve">')[1:]]
    for path in sorted((data / "gutenberg_en").glob("*.txt")):
        book = path.read_text(encoding="utf-8-sig", errors="replace")
        texts += [book[i:i + 5000] for i in range(0, len(book), 5000)]
    return "Wikipedia and Gutenberg passages of the shared data", [t for t in texts if t.strip()][:limit]


def build(paths: list[str], n: int) -> tuple[dc.NgramIndex, float, int]:
    size = sum(Path(p).stat().st_size for p in paths)
    began = time.process_time()
    index = dc.build_index(paths, n)
    return index, time.process_time() - began, size


def check(index: dc.NgramIndex, texts: list[str], lang: str | None) -> dict:
    words_s = lookup_s = 0.0
    rejected = 0
    for text in texts:
        t0 = time.process_time()
        words = dc.words(text, lang)
        t1 = time.process_time()
        rejected += index.first_match(words) is not None
        t2 = time.process_time()
        words_s, lookup_s = words_s + t1 - t0, lookup_s + t2 - t1
    kb = sum(len(t.encode()) for t in texts) / 1e3
    return {"docs": len(texts), "kb": kb, "words_us": 1e6 * words_s / len(texts),
            "lookup_us": 1e6 * lookup_s / len(texts), "per_kb_us": 1e6 * (words_s + lookup_s) / kb,
            "rejected": rejected}


def show(label: str, r: dict) -> None:
    total = r["words_us"] + r["lookup_us"]
    print(f"  {label}: {r['docs']:,} docs, {r['kb'] / r['docs']:.1f} KB avg: {total:.0f} us/doc "
          f"(words {r['words_us']:.0f}, lookup {r['lookup_us']:.0f}), {r['per_kb_us']:.1f} us/KB; "
          f"rejected {r['rejected']:,} ({100 * r['rejected'] / r['docs']:.1f}%)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--corpus", type=Path, default=Path("/tmp/bench-corpus/corpus.jsonl.gz"))
    parser.add_argument("--docs", type=int, default=20000)
    parser.add_argument("--ngram", type=int, default=dc.DEFAULT_NGRAM)
    parser.add_argument("--big-index", type=int, default=20_000_000)
    args = parser.parse_args()
    n, data = args.ngram, args.data_dir
    importlib.import_module("apache_beam.io.filesystems")  # Beam's import, outside the timing

    print(f"n = {n}")
    print("1. Build")
    wikitext = [str(data / "wikitext2" / "test.txt"), str(data / "wikitext2" / "valid.txt")]
    index, seconds, size = build(wikitext, n)
    print(f"  WikiText-2 test+valid: {size / 1e6:.2f} MB in {seconds:.2f} s = {size / 1e6 / seconds:.1f} MB/s; "
          f"{len(index):,} n-grams, {len(index.to_bytes()) / len(index):.2f} bytes/n-gram, "
          f"{len(index.to_bytes()) / size:.2f} bytes of index per byte of text ({len(index.to_bytes()) / 1e6:.1f} MB)")
    gsm8k = data / "gsm8k_test" / "test.jsonl"
    if gsm8k.exists():
        g, seconds, size = build([str(gsm8k)], n)
        print(f"  GSM8K test (JSONL, question and answer): {size / 1e6:.2f} MB in {seconds:.2f} s = "
              f"{size / 1e6 / seconds:.1f} MB/s; {len(g):,} n-grams")
    source, texts = corpus_texts(args.corpus, data, args.docs)
    big = Path("/tmp/decontaminate-bench-eval.txt")
    big.write_text("\n".join(texts), encoding="utf-8")
    b, seconds, size = build([str(big)], n)
    print(f"  {source} as evaluation text: {size / 1e6:.1f} MB in {seconds:.1f} s = {size / 1e6 / seconds:.1f} MB/s; "
          f"{len(b):,} n-grams, {len(b.to_bytes()) / size:.2f} bytes of index per byte of text")
    big.unlink()

    print(f"2. Check against WikiText-2 test+valid ({source})")
    dc._WORD_HASHES.clear()
    show("cold word-hash cache", check(index, texts, None))
    show("warm", check(index, texts, None))
    fortunes = (data / "fortunes_multilingual" / "zh" / "chinese").read_text(encoding="utf-8").split("\n%\n")
    zh = [f for f in fortunes if len(f) > 20]
    dc.words("预热", "zh")  # load jieba's dictionary outside the timing
    show("Chinese fortunes as zh (jieba words)", check(index, zh, "zh"))

    print(f"3. Lookup against {args.big_index:,} random hashes ({8 * args.big_index / 1e6:.0f} MB)")
    rng = np.random.default_rng(0)
    large = dc.NgramIndex(dc.distinct(rng.integers(0, 2**64 - 1, args.big_index, dtype=np.uint64, endpoint=True)), n)
    show("warm", check(large, texts, None))


if __name__ == "__main__":
    main()
