"""Where the default chain's CPU time goes, per stage and filter, outside Beam.

    python bench/stages.py [--corpus /tmp/bench-corpus/corpus.jsonl.gz] [--preset fineweb] [--limit N]

Runs normalise, language ID, the preset's filters, the MinHash signature and PII redaction on each
document in one process, as the pipeline's per-document stages and SpillDocuments do (same order, a
dropped document stops there), and prints each part's CPU seconds. Inside Gopher repetition it also
splits out word splitting (`words_of`, shared with the filters after it through its cache), loading
the word splitters (spaCy's per-language tokenizers, the segmenters: fixed costs of a process) and
the word columns. Nested figures are part of their parent's. What the pipeline adds around this
(reading, spilling, ApplyDecisions, merging, Beam) is the whole run's CPU less these.
"""

import argparse
import gzip
import json
import sys
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the repository, not bench/filters.py

TIMES: dict[str, float] = defaultdict(float)


def timed(name, fn):
    def wrapper(*args, **kwargs):
        started = time.process_time()
        try:
            return fn(*args, **kwargs)
        finally:
            TIMES[name] += time.process_time() - started
    return wrapper


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", default="/tmp/bench-corpus/corpus.jsonl.gz")
    parser.add_argument("--preset", default="fineweb")
    parser.add_argument("--limit", type=int, default=0)
    args = parser.parse_args()
    started = time.process_time()
    import filters.gopher_repetition as repetition
    import filters.text as text_module
    import filters.words as words_module
    from dedup.minhash import MinHasher
    from filters.langid import LanguageIdentifier
    from filters.normalise import normalise_text
    from filters.pii import PiiRedactor
    from filters.presets import load_preset
    TIMES["imports"] = time.process_time() - started

    repetition.words_of = timed("  word splitting (words_of)", repetition.words_of)
    words_module.splitter_for = timed("    loading splitters", words_module.splitter_for)
    repetition.word_columns = timed("  word columns", text_module.word_columns)
    with gzip.open(args.corpus, "rt") as f:
        docs = [json.loads(line) for line in f]
    docs = docs[:args.limit] if args.limit else docs
    _, chain = load_preset(args.preset)
    stages = {"normalise": normalise_text, "language ID": timed("language ID (load)", LanguageIdentifier)().identify,
              "minhash": MinHasher().signature, "pii": PiiRedactor()}
    stages = {name: timed(name, fn) for name, fn in stages.items()}
    filters = [(f, timed(f.name, f)) for f in chain.filters]
    kept = 0
    for doc in docs:
        text = stages["normalise"](doc["text"])
        if not text:
            continue
        lang, _ = stages["language ID"](text)
        doc = {"text": text, "lang": lang, "id": doc.get("id"), "source": "bench"}
        for _, run in filters:
            decision = run(doc)
            if not decision.keep:
                break
            if decision.text is not None:
                doc = {**doc, "text": decision.text}
        else:
            kept += 1
            stages["minhash"](doc["text"], lang)
            stages["pii"](doc)
    total = sum(v for k, v in TIMES.items() if not k.startswith(" "))
    print(f"{len(docs)} documents, {kept} kept by {args.preset}; {total:.1f} CPU s in all")
    order = ["imports", "normalise", "language ID (load)", "language ID", *[f.name for f, _ in filters], "minhash", "pii"]
    for name in order:
        print(f"  {name:30s} {TIMES[name]:6.2f} s  {TIMES[name] / total:5.1%}")
        if name == "gopher_repetition":
            for inner in ("  word splitting (words_of)", "    loading splitters", "  word columns"):
                print(f"  {inner:30s} {TIMES[inner]:6.2f} s  {TIMES[inner] / total:5.1%}")


if __name__ == "__main__":
    main()
