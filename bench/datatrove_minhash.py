"""datatrove's MinHash signature stage on a JSONL of documents; run with the peers' interpreter.

    /tmp/venv-peers/bin/python bench/datatrove_minhash.py DOCS.jsonl WORK_DIR

Prints {"seconds": ...}: the time of datatrove 0.10.1's MinhashDedupSignature step (default
MinhashConfig: 5-grams, 14 buckets of 8 hashes) over the documents, one task, one worker.
"""

import json
import sys
from pathlib import Path


def main() -> None:
    from datatrove.executor import LocalPipelineExecutor
    from datatrove.pipeline.dedup.minhash import MinhashConfig, MinhashDedupSignature
    from datatrove.pipeline.readers import JsonlReader

    docs, work = Path(sys.argv[1]), Path(sys.argv[2])
    executor = LocalPipelineExecutor(
        pipeline=[JsonlReader(str(docs.parent), glob_pattern=docs.name),
                  MinhashDedupSignature(output_folder=str(work / "sigs"), config=MinhashConfig())],
        tasks=1, workers=1, logging_dir=str(work / "logs"), skip_completed=False)
    stats = executor.run()
    seconds = next(s.time_stats.total for s in stats.stats if "signature" in s.name.lower() or "MinHash" in s.name)
    print(json.dumps({"seconds": seconds}))


if __name__ == "__main__":
    main()
