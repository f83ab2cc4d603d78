"""Word splitting for the quality filters, old path beside new, on the same documents in one run.

    python bench/words.py [--corpus /tmp/bench-corpus/corpus.jsonl.gz] [--data-dir ../shared/data]
                          [--limit N] [--rounds 1] [--json OUT]

Old: spaCy's tokenizer for every white-space-delimited piece not seen before, its tokens remembered
per piece (SpacySplitter as it was before the rules ran in Python, when it lived in
filters/tokenizers.py, read from the repository's history at OLD_COMMIT). New:
filters.words.SpacySplitter, with its compiled per-text loop where the package was built with it.
Each path reads the same documents in the same order from cold, in a process of its own (in one
process, each path's memory would crowd the other's out of the CPU caches), old and new alternating for --rounds
rounds, and lets each document's words go before the next as the filters do; times are the CPU
seconds of the splitting (the median over rounds). A further, untimed run of each compares their
words. The corpus is the peers' (../shared/peers/make_corpus.py) when present, else prose from the
shared data (Wikipedia pages and Gutenberg passages).

Prints words per second for each, the ratio, and the agreement: documents and tokens on which the
two give the same words. Each document on which they differ is tokenized whole by spaCy, the
reference, to tell which side is right; and the new path's words are compared with spaCy's on every
document.
"""

import argparse
import bz2
import difflib
import gzip
import hashlib
import json
import statistics
import subprocess
import sys
import time
import types
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from filters.words import SpacySplitter  # noqa: E402


OLD_COMMIT = "e8161d7"  # the last commit whose filters/tokenizers.py had the old path


def old_splitter(lang: str = "en"):
    """SpacySplitter as it was at OLD_COMMIT, loaded from the repository's history."""
    source = subprocess.run(["git", "-C", str(REPO), "show", f"{OLD_COMMIT}:filters/tokenizers.py"],
                            capture_output=True, text=True, check=True).stdout
    module = types.ModuleType("old_tokenizers")
    exec(compile(source, f"{OLD_COMMIT}:filters/tokenizers.py", "exec"), module.__dict__)
    return module.SpacySplitter(lang)


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


def timed_run(path: str, texts: list[str]) -> dict:
    """One path over all texts in this process, from cold, each text's words let go before the
    next as the filters let them go: CPU seconds and words."""
    splitter = old_splitter("en") if path == "old" else SpacySplitter("en")
    words, began = 0, time.process_time()
    for text in texts:
        words += len(splitter.words(text))
    loop = "compiled" if getattr(splitter, "_compiled", None) is not None else "Python"
    return {"seconds": time.process_time() - began, "words": words, "loop": loop}


def checked_run(path: str, texts: list[str], other: list[str] | None) -> dict:
    """One path over all texts, from cold, untimed: a digest of each text's words, the words
    themselves where the digest differs from `other`'s, and for the new path, the texts on which
    its words differ from spaCy's tokens of the whole text (the reference)."""
    import spacy

    splitter = old_splitter("en") if path == "old" else SpacySplitter("en")
    nlp = spacy.blank("en") if path == "new" else None
    digests, differing, not_spacy = [], {}, []
    for i, text in enumerate(texts):
        words = splitter.words(text)
        digests.append(hashlib.blake2b("\n".join(words).encode(), digest_size=8).hexdigest())
        if other and other[i] != digests[-1]:
            differing[i] = words
        if nlp and words != [t.text for t in nlp(text) if not t.is_space]:
            not_spacy.append(i)
    return {"digests": digests, "differing": differing, "not_spacy": not_spacy}


def child(args, path: str, part: str, other: list[str] | None = None) -> dict:
    """A run in a fresh process, so that neither path's memory (its cache, spaCy's vocabulary)
    sits in the other's CPU caches and heap."""
    command = [sys.executable, __file__, "--path", path, "--part", part, "--corpus", args.corpus,
               "--data-dir", args.data_dir]
    if args.limit:
        command += ["--limit", str(args.limit)]
    done = subprocess.run(command, input=json.dumps(other), capture_output=True, text=True, check=True)
    return json.loads(done.stdout)


def differences(texts: list[str], old_words: dict) -> list[dict]:
    """Where the paths disagree, against spaCy on the whole text. The old path's words are the ones
    its run gave (they depend on what it had seen before); the new path's depend on the text alone."""
    import spacy

    nlp, new = spacy.blank("en"), SpacySplitter("en")
    rows = []
    for i, a in sorted((int(i), words) for i, words in old_words.items()):
        b = new.words(texts[i])
        reference = [t.text for t in nlp(texts[i]) if not t.is_space]
        same = sum(block.size for block in difflib.SequenceMatcher(None, a, b, autojunk=False).get_matching_blocks())
        first = next((k for k, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
        rows.append({"doc": i, "old_tokens": len(a), "same_tokens": same, "old_is_spacy": a == reference,
                     "new_is_spacy": b == reference, "first_difference": [a[first:first + 3], b[first:first + 3]]})
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--corpus", default="/tmp/bench-corpus/corpus.jsonl.gz")
    parser.add_argument("--data-dir", default=str(REPO.parent / "shared" / "data"))
    parser.add_argument("--limit", type=int, help="the first N documents only")
    parser.add_argument("--rounds", type=int, default=1, help="runs of each path, alternating")
    parser.add_argument("--path", choices=("old", "new"), help=argparse.SUPPRESS)  # a child's path
    parser.add_argument("--part", choices=("timed", "checked"), help=argparse.SUPPRESS)
    parser.add_argument("--json")
    args = parser.parse_args(argv)
    found = Path(args.corpus).exists()
    texts = peers_texts(Path(args.corpus), args.limit) if found else shared_texts(Path(args.data_dir), args.limit)
    if args.part == "timed":
        print(json.dumps(timed_run(args.path, texts)))
        return 0
    if args.part == "checked":
        print(json.dumps(checked_run(args.path, texts, json.loads(sys.stdin.read() or "null"))))
        return 0
    label = f"peers' corpus ({args.corpus})" if found else f"shared-data prose ({args.data_dir})"
    if not found:
        print(f"(no {args.corpus}: see ../shared/peers/README.md to build it; using shared-data prose)")
    print(f"{label}: {len(texts)} documents, each path {args.rounds}x in its own process, from cold")

    runs = {"old": [], "new": []}
    for _ in range(args.rounds):
        for path in runs:
            runs[path].append(child(args, path, "timed"))
    seconds = {path: statistics.median(run["seconds"] for run in runs[path]) for path in runs}
    count = runs["new"][0]["words"]
    print(f"{'path':6} {'CPU s':>8} {'docs/s':>9} {'words/s':>11}   (median of {args.rounds})")
    for path in ("old", "new"):
        print(f"{path:6} {seconds[path]:8.2f} {len(texts) / seconds[path]:9.0f} {count / seconds[path]:11.0f}")
    ratio = seconds["old"] / seconds["new"]
    paired = [old["seconds"] / new["seconds"] for old, new in zip(runs["old"], runs["new"])]
    print(f"new ({runs['new'][0]['loop']} per-text loop) is {ratio:.2f}x as fast as old; "
          f"round by round {', '.join(f'{r:.2f}' for r in paired)} (median {statistics.median(paired):.2f})")

    checked_new = child(args, "new", "checked")
    checked = child(args, "old", "checked", checked_new["digests"])
    differing = differences(texts, checked["differing"])
    tokens = runs["old"][0]["words"]
    same_tokens = tokens - sum(row["old_tokens"] - row["same_tokens"] for row in differing)
    print(f"agreement: {len(texts) - len(differing)}/{len(texts)} documents "
          f"({1 - len(differing) / len(texts):.4%}), {same_tokens}/{tokens} tokens ({same_tokens / tokens:.4%})")
    for row in differing:
        right = "new" if row["new_is_spacy"] else "old" if row["old_is_spacy"] else "neither"
        print(f"  doc {row['doc']}: equal to spaCy on the whole text: {right}; first difference "
              f"{row['first_difference']}")
    not_spacy = checked_new["not_spacy"]
    print(f"new against spaCy on each whole text: {len(texts) - len(not_spacy)}/{len(texts)} documents "
          f"the same{'' if not not_spacy else f' (differing: {not_spacy[:20]})'}")
    if args.json:
        Path(args.json).write_text(json.dumps({"corpus": label, "documents": len(texts), "seconds": seconds,
                                               "runs": {p: [r["seconds"] for r in runs[p]] for p in runs},
                                               "ratio": ratio, "round_ratios": paired, "words": count,
                                               "differing": differing, "new_not_spacy": not_spacy}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
