"""Parquet reading speed by row group size: the reader's fixed cost per row group.

    python bench/parquet_groups.py [--rows 960] [--repeat 5] [--code DIR]

Writes the same rows (real documents from the shared data's ccnet_jsonl_dolma, with a url, a list
of line ids and a score, as the fuzz test's Parquet sample) with row groups of 1, 37 and 1024 rows,
with pyarrow's defaults (dictionary pages, snappy), and reads each with READERS["parquet"] at three
max_doc_bytes; prints the best of --repeat reads. --code imports `pipelines` from another copy of
the repository (an older commit unpacked with `git archive`), to compare.
"""

import argparse
import gzip
import json
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DATA_DIR = Path(os.environ.get("DATA_DIR", REPO.parent / "shared" / "data"))
GROUP_ROWS = (1, 37, 1024)
LIMITS = (16 << 20, 1 << 20, 200_000)


def rows(count: int) -> list[dict]:
    records = []
    for name in ("cc_en_head-0091.jsonl.gz", "cc_en_head-0174.jsonl.gz"):
        records += [json.loads(line) for line in gzip.open(DATA_DIR / "ccnet_jsonl_dolma" / name)]
    picked = (records[i % len(records)] for i in range(count))
    return [{"text": f"{i}: " + r["text"][:3000], "url": r["metadata"]["url"],
             "line_ids": r["metadata"]["line_ids"][:20], "score": r["metadata"]["language_score"]}
            for i, r in enumerate(picked)]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=960)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--code", default=str(REPO), help="the repository copy to import pipelines from")
    args = parser.parse_args(argv)
    sys.path.insert(0, args.code)
    import pyarrow as pa
    import pyarrow.parquet as pq

    import pipelines
    from pipelines.sources import READERS, FileContext

    table = pa.Table.from_pylist(rows(args.rows))
    print(f"pipelines from {Path(pipelines.__file__).parent.parent}; {args.rows} rows; best of {args.repeat}")
    print(f"{'rows/group':>10}  {'max_doc_bytes':>13}  {'seconds':>7}  items")
    with tempfile.TemporaryDirectory() as tmp:
        for group_rows in GROUP_ROWS:
            path = Path(tmp) / f"groups-{group_rows}.parquet"
            pq.write_table(table, path, row_group_size=group_rows)
            for limit in LIMITS:
                best, count = float("inf"), 0
                for _ in range(args.repeat):
                    ctx = FileContext("bench", "parquet", str(path), path.name, {"max_doc_bytes": limit})
                    start = time.perf_counter()
                    with open(path, "rb") as raw:
                        count = sum(1 for _ in READERS["parquet"](raw, ctx))
                    best = min(best, time.perf_counter() - start)
                print(f"{group_rows:>10}  {limit:>13}  {best:>7.3f}  {count}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
