"""One end-to-end dedup run for bench/dedup.py (run as a child process, so its peak memory is its own).

    python bench/dedup_scale.py make DATA_DIR N DOCS.parquet
    python bench/dedup_scale.py run DOCS.parquet

`make` writes N documents of about 100 words, made from the sentences of real text in DATA_DIR, to
a Parquet file (each document a random run of sentences from a random place, so documents
share sentences but rarely much more; one in ten is a near copy of an earlier document with three
words changed). `run` reads it in Beam on the in-memory FnApiRunner, runs the pipeline's ExactDedup
and NearDedup (FineWeb's 14 x 8) and prints the pipeline's wall time, documents removed and the
process's peak memory as JSON.
"""

import json
import random
import resource
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def _bench_dedup():
    """bench/dedup.py, loaded under another name: as `dedup` it would hide the dedup package."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("bench_dedup", REPO / "bench" / "dedup.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def documents(data: Path, n: int):
    import re

    sentences = [s for t in _bench_dedup().real_texts(data) for s in re.split(r"(?<=[.!?])\s+", t)
                 if 5 <= len(s.split()) <= 60]
    rng = random.Random(n)
    made = []
    for i in range(n):
        if i % 10 == 9 and made:  # a near copy of an earlier document
            words = rng.choice(made).split()
            for _ in range(3):
                words[rng.randrange(len(words))] = rng.choice(words)
            text = " ".join(words)
        else:
            start, parts = rng.randrange(len(sentences)), []
            while sum(len(p.split()) for p in parts) < 100:
                parts.append(sentences[rng.randrange(len(sentences))] if rng.random() < 0.5
                             else sentences[(start + len(parts)) % len(sentences)])
            text = " ".join(parts)
        if len(made) < 10_000:
            made.append(text)
        yield {"id": f"{i:032x}", "text": text, "source": "bench", "lang": "en"}


def write_parquet(data: Path, n: int, path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    batch, writer = [], None
    for doc in documents(data, n):
        batch.append(doc)
        if len(batch) == 50_000:
            table = pa.Table.from_pylist(batch)
            writer = writer or pq.ParquetWriter(path, table.schema, compression="zstd")
            writer.write_table(table)
            batch = []
    if batch:
        table = pa.Table.from_pylist(batch)
        writer = writer or pq.ParquetWriter(path, table.schema, compression="zstd")
        writer.write_table(table)
    writer.close()


def run_dedup(read) -> dict:
    """ExactDedup then NearDedup (14 x 8) over the documents `read` gives; time, removed, peak memory."""
    import apache_beam as beam

    from dedup.minhash import MinHasher
    from pipelines.transforms.dedup import ExactDedup
    from pipelines.transforms.metrics import query_counters
    from pipelines.transforms.dedup import NearDedup
    from apache_beam.metrics import Metrics
    from pipelines.transforms.metrics import NAMESPACE

    start = time.perf_counter()
    p = beam.Pipeline(runner="FnApiRunner")
    kept, exact = p | read | ExactDedup()
    _, near = kept | NearDedup(MinHasher(), 14, 8)
    ((exact, near) | beam.Flatten()
     | beam.Map(lambda _: Metrics.counter(NAMESPACE, "rejected").inc()))  # the documents removed, counted
    result = p.run()
    result.wait_until_finish()
    seconds = time.perf_counter() - start
    removed = sum(v for event, labels, v in query_counters(result) if event == "rejected")
    return {"seconds": seconds, "removed": removed,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def main() -> None:
    import apache_beam as beam

    if sys.argv[1] == "make":  # its own process, so that the run's peak memory is the pipeline's alone
        write_parquet(Path(sys.argv[2]), int(sys.argv[3]), Path(sys.argv[4]))
    else:
        print(json.dumps(run_dedup(beam.io.ReadFromParquet(sys.argv[2]))))


if __name__ == "__main__":
    main()
