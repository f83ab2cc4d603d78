"""Word splitting for the quality filters, old path beside new, on the same documents in one run.

    python bench/words.py [--corpus /tmp/bench-corpus/corpus.jsonl.gz] [--data-dir ../shared/data]
                          [--limit N] [--chunk 500] [--json OUT]

Old: spaCy's tokenizer for every white-space-delimited piece not seen before, its tokens remembered
per piece (filters.tokenizers.SpacySplitter as it was before the rules ran in Python; kept below as
`OldSplitter`). New: filters.tokenizers.SpacySplitter. Both start cold and read the same documents
in the same order, in alternating chunks so that the load of a shared machine falls on both alike;
times are this process's CPU seconds. The corpus is the peers' (../shared/peers/make_corpus.py) when
present, else prose from the shared data (Wikipedia pages and Gutenberg passages).

Prints words per second for each, the ratio, and the agreement: documents and tokens on which the
two give the same words. Each document on which they differ is tokenized whole by spaCy, the
reference, to tell which side is right.
"""

import argparse
import bz2
import difflib
import gzip
import json
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from filters.tokenizers import SpacySplitter  # noqa: E402


class OldSplitter:
    """The words of SpacySplitter before the compiled rules: each text's new pieces tokenized by
    spaCy in one call (joined by spaces), every piece's tokens remembered."""

    def __init__(self, lang: str = "en", max_cache: int = 2_000_000):
        import spacy

        self._nlp = spacy.blank(lang)
        self._lock = threading.Lock()
        self._cache: dict[str, tuple] = {}
        self._max_cache = max_cache

    def words(self, text: str) -> list[str]:
        pieces = text.split()
        cache = self._cache
        new = [p for p in dict.fromkeys(pieces) if p not in cache]
        if new:
            self._learn(new)
        out: list[str] = []
        for piece in pieces:
            out.extend(cache[piece])
        return out

    def _learn(self, pieces: list[str]) -> None:
        with self._lock:
            if len(self._cache) + len(pieces) >= self._max_cache:
                self._cache.clear()
            starts, position = [], 0
            for piece in pieces:
                starts.append(position)
                position += len(piece) + 1
            tokens_of: list[list[str]] = [[] for _ in pieces]
            index = 0
            with self._nlp.memory_zone():
                for token in self._nlp.tokenizer(" ".join(pieces)):
                    while index + 1 < len(starts) and token.idx >= starts[index + 1]:
                        index += 1
                    tokens_of[index].append(token.text)
            for piece, tokens in zip(pieces, tokens_of):
                self._cache[piece] = tuple(tokens)


def peers_texts(path: Path, limit: int | None) -> list[str]:
    texts = []
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        for line in fh:
            texts.append(json.loads(line)["text"])
            if limit and len(texts) >= limit:
                break
    return texts


def shared_texts(data: Path, limit: int | None) -> list[str]:
    from pipelines.sources.wikipedia import wikitext_to_text

    raw = bz2.decompress(next((data / "enwiki_xml_dump_sample").glob("*.bz2")).read_bytes()).decode()
    texts = [wikitext_to_text(page.split("</text>")[0]) for page in raw.split('<text xml:space="preserve">')[1:]]
    for path in sorted((data / "gutenberg_en").glob("*.txt")):
        book = path.read_text(encoding="utf-8-sig", errors="replace")
        texts += [book[i:i + 5000] for i in range(0, len(book), 5000)]
    texts = [t for t in texts if t.strip()]
    return texts[:limit] if limit else texts


def timed_words(splitters: dict, texts: list[str], chunk: int) -> tuple[dict, dict]:
    """Each splitter's words for every text and its CPU seconds, the splitters taking turns
    chunk by chunk."""
    seconds = {name: 0.0 for name in splitters}
    words = {name: [] for name in splitters}
    for start in range(0, len(texts), chunk):
        part = texts[start:start + chunk]
        for name, splitter in splitters.items():
            began = time.process_time()
            out = [splitter.words(text) for text in part]
            seconds[name] += time.process_time() - began
            words[name] += out
    return words, seconds


def agreement(texts: list[str], old: list[list[str]], new: list[list[str]]) -> dict:
    import spacy

    nlp = spacy.blank("en")
    same_docs = sum(a == b for a, b in zip(old, new))
    tokens = sum(len(a) for a in old)
    differing = []
    same_tokens = 0
    for i, (a, b) in enumerate(zip(old, new)):
        if a == b:
            same_tokens += len(a)
            continue
        same_tokens += sum(block.size for block in difflib.SequenceMatcher(None, a, b, autojunk=False)
                           .get_matching_blocks())
        reference = [t.text for t in nlp(texts[i]) if not t.is_space]
        differing.append({"doc": i, "old_is_spacy": a == reference, "new_is_spacy": b == reference,
                          "first_difference": next(([x, y] for x, y in zip(a, b) if x != y), None)})
    return {"documents": len(texts), "same_documents": same_docs, "tokens": tokens,
            "same_tokens": same_tokens, "differing": differing}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--corpus", default="/tmp/bench-corpus/corpus.jsonl.gz")
    parser.add_argument("--data-dir", default=str(REPO.parent / "shared" / "data"))
    parser.add_argument("--limit", type=int, help="the first N documents only")
    parser.add_argument("--chunk", type=int, default=500, help="documents per turn")
    parser.add_argument("--json")
    args = parser.parse_args(argv)
    if Path(args.corpus).exists():
        label, texts = f"peers' corpus ({args.corpus})", peers_texts(Path(args.corpus), args.limit)
    else:
        print(f"(no {args.corpus}: see ../shared/peers/README.md to build it; using shared-data prose)")
        label, texts = f"shared-data prose ({args.data_dir})", shared_texts(Path(args.data_dir), args.limit)
    print(f"{label}: {len(texts)} documents")

    words, seconds = timed_words({"old": OldSplitter("en"), "new": SpacySplitter("en")}, texts, args.chunk)
    count = sum(len(w) for w in words["new"])
    print(f"{'path':6} {'CPU s':>8} {'docs/s':>9} {'words/s':>11}")
    for name in ("old", "new"):
        print(f"{name:6} {seconds[name]:8.2f} {len(texts) / seconds[name]:9.0f} {count / seconds[name]:11.0f}")
    ratio = seconds["old"] / seconds["new"]
    print(f"new is {ratio:.2f}x as fast as old")

    agree = agreement(texts, words["old"], words["new"])
    print(f"agreement: {agree['same_documents']}/{agree['documents']} documents "
          f"({agree['same_documents'] / agree['documents']:.4%}), {agree['same_tokens']}/{agree['tokens']} "
          f"tokens ({agree['same_tokens'] / max(agree['tokens'], 1):.4%})")
    for row in agree["differing"]:
        right = "new" if row["new_is_spacy"] else "old" if row["old_is_spacy"] else "neither"
        print(f"  doc {row['doc']}: equal to spaCy on the whole text: {right}; first difference "
              f"{row['first_difference']}")
    if args.json:
        Path(args.json).write_text(json.dumps({"corpus": label, "seconds": seconds, "ratio": ratio,
                                               "words": count, "agreement": agree}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
