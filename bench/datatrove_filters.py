"""datatrove's side of bench/filters.py; run with the peers' interpreter, not ours.

    /tmp/venv-peers/bin/python bench/datatrove_filters.py DOCS.jsonl OUT.json

Applies datatrove 0.10.1's filters, configured as each of our presets, to every document (English),
calling each filter's `filter(doc)` as its pipeline step does, and writes per preset the decision
for every document (kept, or the first reason) and the seconds spent in the filters.
"""

import json
import sys
import time


def presets():
    from datatrove.pipeline.filters import (C4QualityFilter, FineWebQualityFilter, GopherQualityFilter,
                                            GopherRepetitionFilter)

    return {
        "gopher": lambda: [GopherRepetitionFilter(), GopherQualityFilter()],
        # datatrove has no TFDS variant: its C4 filter with TFDS's two numbers is the closest.
        "c4-tfds": lambda: [C4QualityFilter(min_num_sentences=3, min_words_per_line=5)],
        "c4-datatrove": lambda: [C4QualityFilter()],
        "fineweb": lambda: [GopherRepetitionFilter(), GopherQualityFilter(),
                            C4QualityFilter(filter_no_terminal_punct=False), FineWebQualityFilter()],
    }


def main() -> None:
    from datatrove.data import Document

    docs_path, out_path = sys.argv[1], sys.argv[2]
    rows = [json.loads(line) for line in open(docs_path)]
    # Warm up spaCy (model load) outside the timing, as the peers' benchmark does.
    from datatrove.utils.text import split_into_words

    split_into_words("Warm up the tokenizer.")
    results = {}
    for name, make in presets().items():
        filters = make()
        decisions = []
        start = time.perf_counter()
        for row in rows:
            doc = Document(text=row["text"], id=row["id"])
            verdict = "kept"
            for f in filters:
                result = f.filter(doc)
                if result is not True:
                    reason = result[1] if isinstance(result, tuple) else "dropped"
                    verdict = f"{f.name}:{reason}"
                    break
            decisions.append(verdict)
        results[name] = {"seconds": time.perf_counter() - start, "decisions": decisions}
    json.dump(results, open(out_path, "w"))


if __name__ == "__main__":
    main()
