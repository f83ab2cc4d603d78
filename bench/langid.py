"""Language ID: the fastText library beside filters.fasttext_cache, on the same texts in one run.

    python bench/langid.py [--corpus /tmp/bench-corpus/corpus.jsonl.gz] [--limit N] [--rounds R]

Reads the documents' texts (the peers' corpus by default: ../shared/peers/make_corpus.py), normalises
them as the pipeline does, and predicts each with the library (`LanguageIdentifier(cached=False)`) and
with the cache, twice: from cold (every token new) and warm (every token known). Prints CPU seconds,
the ratios, and how many labels and probabilities are equal (all of them, or the cache is wrong).
"""

import argparse
import gzip
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the repository, not bench/filters.py

from filters.fasttext_cache import CachedPredictor  # noqa: E402
from filters.langid import LanguageIdentifier  # noqa: E402
from filters.normalise import normalise_text  # noqa: E402


def _label_index(predictor: CachedPredictor, predicted) -> tuple[int, float] | None:
    """The library's (labels, probabilities) as the cache reports them."""
    labels, probs = predicted
    if not labels[0]:
        return None
    return predictor.labels.index(labels[0][0][len("__label__"):]), float(probs[0][0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", default="/tmp/bench-corpus/corpus.jsonl.gz")
    parser.add_argument("--limit", type=int, default=0, help="first N documents (0: all)")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with gzip.open(args.corpus, "rt") as f:
        texts = [normalise_text(json.loads(line)["text"]).replace("\n", " ") for line in f]
    texts = texts[:args.limit] if args.limit else texts
    library = LanguageIdentifier(cached=False)
    tokens = sum(len(t.split()) for t in texts)
    print(f"{len(texts)} documents, {tokens} tokens, {args.rounds} rounds")
    rows = []
    for _ in range(args.rounds):
        predictor = CachedPredictor.for_model(library._model, library.model_path)
        started = time.process_time()
        expected = [library._model.predict([t], k=1) for t in texts]
        library_s = time.process_time() - started
        started = time.process_time()
        cold = [predictor.predict(t) for t in texts]
        cold_s = time.process_time() - started
        started = time.process_time()
        warm = [predictor.predict(t) for t in texts]
        warm_s = time.process_time() - started
        same = sum(c == w == _label_index(predictor, e) for c, w, e in zip(cold, warm, expected))
        rows.append((library_s, cold_s, warm_s))
        print(f"library {library_s:.2f} CPU s, cache cold {cold_s:.2f} s ({library_s / cold_s:.2f}x), "
              f"warm {warm_s:.2f} s ({library_s / warm_s:.2f}x); {len(predictor._tokens)} distinct tokens; "
              f"label and probability equal on {same}/{len(texts)}")
    if len(rows) > 1:
        print(f"median: cold {statistics.median(r[0] / r[1] for r in rows):.2f}x, "
              f"warm {statistics.median(r[0] / r[2] for r in rows):.2f}x")


if __name__ == "__main__":
    main()
