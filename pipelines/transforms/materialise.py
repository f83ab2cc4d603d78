"""The decisions meet the rows, once per spill file, and the final shards are written streaming.

1. `ApplyDecisions`, per spill file: each document takes its dedup outcome (from the clusters where
   dedup decided something, a side input keyed by text hash), then the stages that change text
   after dedup (boilerplate lines, PII) run on it, every outcome counted through one helper. Each
   resulting row goes to its output partition and shard (pipelines.transforms.write: a hash of its
   sort key, over a shard count from the partition's size known beforehand); the rows of one shard
   are sorted and written to a piece file. Memory: one spill file's rows.
2. `MergeShards`, per output shard: a k-way merge of its pieces (each already sorted) into the
   Parquet shard, row group by row group, in the partition's folder (`documents/en/`: named by the
   bare value, with the value a column of every row, so that every reader reads it the same way;
   pipelines.outputs). Memory: one row group and a read buffer per piece; a shard
   of more than MERGE_FANIN pieces is merged in rounds.
The shard bytes depend only on the rows and their sort keys, so they are the same under any runner
and bundling.
"""

import heapq
import uuid
from collections import defaultdict

import apache_beam as beam
import numpy as np
import pyarrow.parquet as pq
import xxhash
from apache_beam.io.filesystems import FileSystems

from dedup.components import node_key
from dedup.decide import decide, kept_alone
from pipelines.outputs import partition_folder, write_whole
from pipelines.records import Rejected
from pipelines.transforms.metrics import CountingDoFn
from pipelines.transforms.spill import RowWriter, SpillFile, quality_score, read_rows, work_path
from pipelines.transforms.stages import REJECTS, run_stage
from pipelines.transforms.write import ROW_GROUP_ROWS, num_shards, parquet_options, shard_path
from schemas import to_table

MERGE_FANIN = 128  # pieces merged at once: each open piece holds a zstd window and a read buffer


def partition_of(kind: str, row: dict) -> str | None:
    """The row's partition, `lang=en` or `stage=quality` (its folder is the bare value: outputs.partition_folder)."""
    if kind == "documents":
        return f"lang={row['lang']}"
    if kind == "rejects":
        return f"stage={row['stage']}"
    return None


def sort_key(kind: str, row: dict):
    """Rows are sorted by id in a shard; quarantine rows (which may have none) by where they were found."""
    if kind == "quarantine":
        return row["file"], row["offset"], row["stage"], row["error"], row["message"], row.get("record_id") or ""
    return row["id"]


def shard_of(key, count: int) -> int:
    return xxhash.xxh64_intdigest(repr(key).encode()) % count


class _Pieces:
    """Rows of one spill file, by output shard; written sorted to one piece file per shard."""

    def __init__(self, output: str, sizes: dict, target_bytes: int):
        self.output, self.sizes, self.target = output, sizes, target_bytes
        self.rows = defaultdict(list)

    def add(self, kind: str, row: dict) -> None:
        partition = partition_of(kind, row)
        count = num_shards(self.sizes.get((kind, partition), 0), self.target)
        key = sort_key(kind, row)
        self.rows[(kind, partition, shard_of(key, count), count)].append((key, row))

    def write(self):
        """-> ((kind, partition, shard, count), piece path) for each shard with rows."""
        for shard, rows in self.rows.items():
            rows.sort(key=lambda kr: kr[0])
            path = work_path(self.output, "pieces", uuid.uuid4().hex + ".rows.zst")
            writer = RowWriter(path)
            for kr in rows:
                writer.write(kr)
            writer.close()
            yield shard, path
        self.rows.clear()


INDEX = "dedup_index"


class ApplyDecisions(CountingDoFn):
    """spill file -> pieces ((kind, partition, shard, count), path); tagged INDEX: the index rows of the
    documents dedup kept, when `index_sketcher` is given.

    Side inputs: sizes ((kind, partition) -> bytes), common (boilerplate line keys), clusters (text
    hash -> (ExactSummary, NearOutcome)). plan: the run's spill.DedupPlan (its text hash), None without
    dedup. dedup_stages: the accounting stages dedup ran ("exact_dedup", "near_dedup"); after: stages run on
    each kept document (pipelines.transforms.stages.Stage), a StripBoilerplate given the common lines."""

    def __init__(self, output: str, target_bytes: int, dedup_stages: tuple[str, ...], after: list,
                 plan=None, index_sketcher=None):
        self.output, self.target = output, target_bytes
        self.dedup_stages, self.after, self.plan = dedup_stages, after, plan
        self.index_sketcher = index_sketcher

    def setup(self):
        super().setup()
        for stage in self.after:
            stage.setup()

    def teardown(self):
        for stage in self.after:
            stage.teardown()

    def process(self, spilled: SpillFile, sizes, common, clusters):
        for stage in self.after:
            if hasattr(stage, "common"):
                stage.common = common
        pieces = _Pieces(self.output, sizes, self.target)
        for row in read_rows(spilled.path(self.output)):
            if spilled.kind != "documents":
                pieces.add(spilled.kind, row)
                continue
            entry = clusters.get(self.plan.text_hash(row)) if self.plan is not None else None
            outcome = decide(row["id"], *entry) if entry else kept_alone(row["id"])
            kind, row = yield from self._document(row, outcome)
            pieces.add(kind, row)
        yield from pieces.write()

    def _document(self, doc: dict, outcome):
        doc["dedup_cluster"], doc["dedup_cluster_size"] = outcome.cluster, outcome.size
        for stage in self.dedup_stages:
            self.count_in(stage, doc)
            if outcome.stage == stage:
                return REJECTS, self.count_rejected(Rejected(doc, stage, outcome.reason, outcome.detail,
                                                             duplicate_of=outcome.duplicate_of).row())
            self.count_out(stage, doc)
        if self.index_sketcher is not None:
            yield from self._index_row(doc)
        for stage in self.after:
            tag, doc = run_stage(self, stage, doc)
            if tag is not None:
                return tag, doc
        self.count_kept(doc)
        return "documents", doc

    def _index_row(self, doc: dict):
        sketch = self.index_sketcher.sketch(doc["text"], doc.get("lang"))
        if sketch is not None:
            yield beam.pvalue.TaggedOutput(INDEX, {
                "id": doc["id"], "node": node_key(doc["id"], quality_score(doc)), "bands": list(sketch.bands),
                "signature": np.frombuffer(sketch.signature, np.uint32).tolist()})


def _merged(paths: list[str]):
    return heapq.merge(*(read_rows(path) for path in paths), key=lambda kr: kr[0])


class MergeShards(beam.DoFn):
    """((kind, partition, shard, count), piece paths) -> the shard's file info, written by a k-way
    merge of the pieces; schemas: kind -> pyarrow schema."""

    def __init__(self, output: str, schemas: dict):
        self.output, self.schemas = output, schemas

    def process(self, element):
        (kind, partition, shard, count), paths = element
        paths = sorted(paths)
        while len(paths) > MERGE_FANIN:  # merge in rounds, so the open pieces stay bounded
            head, paths = paths[:MERGE_FANIN], paths[MERGE_FANIN:]
            merged = work_path(self.output, "pieces", uuid.uuid4().hex + ".rows.zst")
            writer = RowWriter(merged)
            for kr in _merged(head):
                writer.write(kr)
            writer.close()
            paths.append(merged)
        path = shard_path(self.output, kind, partition_folder(partition), shard, count)
        schema = self.schemas[kind]
        written = {"rows": 0}

        def write(fh):
            with pq.ParquetWriter(fh, schema, **parquet_options(schema)) as writer:
                group = []
                for _, row in _merged(paths):
                    group.append(row)
                    if len(group) == ROW_GROUP_ROWS:
                        writer.write_table(to_table(group, schema))
                        written["rows"] += len(group)
                        group = []
                if group or not written["rows"]:
                    writer.write_table(to_table(group, schema))
                    written["rows"] += len(group)

        write_whole(path, write)
        yield {"path": path, "rows": written["rows"],
               "bytes": FileSystems.match([path])[0].metadata_list[0].size_in_bytes}

