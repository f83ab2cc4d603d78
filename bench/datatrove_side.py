"""datatrove's side of bench/curate.py's comparison; run with the peers' interpreter, not ours.

    /tmp/venv-peers/bin/python bench/datatrove_side.py --warc-dir DIR --texts texts.jsonl \
        --lid-model lid.176.ftz --work DIR

Times datatrove 0.10.1 on the inputs bench/curate.py prepares: WarcReader + Trafilatura (FineWeb's
extraction) over a folder of WARC files, and LanguageFilter (ft176) over a JSONL of texts, one
worker each. Prints one JSON object.
"""

import argparse
import json
import time
from pathlib import Path


def run(steps, work: Path, name: str):
    from datatrove.executor import LocalPipelineExecutor

    executor = LocalPipelineExecutor(pipeline=steps, tasks=1, workers=1, logging_dir=str(work / name),
                                     skip_completed=False)
    start = time.perf_counter()
    stats = executor.run()
    wall = time.perf_counter() - start
    steps_s = {s.name: round(s.time_stats.total, 3) for s in stats.stats}
    counts = {s.name: {k: v.total for k, v in s.stats.items()} for s in stats.stats}
    return wall, steps_s, counts


def main() -> None:
    from datatrove.pipeline.extractors import Trafilatura
    from datatrove.pipeline.filters import LanguageFilter
    from datatrove.pipeline.readers import JsonlReader, WarcReader

    parser = argparse.ArgumentParser()
    parser.add_argument("--warc-dir", required=True)
    parser.add_argument("--texts", required=True)
    parser.add_argument("--lid-model", required=True)
    parser.add_argument("--work", required=True)
    args = parser.parse_args()
    work = Path(args.work)

    read_wall, read_steps, read_counts = run([WarcReader(args.warc_dir, glob_pattern="*.warc.gz")], work, "read")
    wall, steps, counts = run([WarcReader(args.warc_dir, glob_pattern="*.warc.gz"),
                               Trafilatura(favour_precision=True, timeout=10)], work, "extract")
    extractor = next(name for name in steps if "Trafilatura" in name)
    reader = next(name for name in read_steps if "Warc" in name)

    lid = LanguageFilter(languages=None, language_threshold=0.0)
    lid.model.MODEL_URL = str(Path(args.lid_model).resolve())  # it would download lid.176.bin otherwise
    texts = Path(args.texts)
    lid_wall, lid_steps, lid_counts = run([JsonlReader(str(texts.parent), glob_pattern=texts.name), lid],
                                          work, "lid")
    lid_step = next(name for name in lid_steps if "Language" in name)
    print(json.dumps({
        "read_warc": {"docs": read_counts[reader].get("documents", 0), "seconds": read_steps[reader]},
        "extract_trafilatura": {"docs_in": counts[extractor].get("total", 0),
                                "docs_out": counts[extractor].get("forwarded", 0),
                                "seconds": steps[extractor], "wall": round(wall, 3),
                                "timeouts": counts[extractor].get("timeout", 0)},
        "langid": {"docs": lid_counts[lid_step].get("total", 0), "seconds": lid_steps[lid_step],
                   "wall": round(lid_wall, 3)},
    }))


if __name__ == "__main__":
    main()
