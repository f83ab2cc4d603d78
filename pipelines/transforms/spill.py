"""Temporary row files: documents leave the per-document stages once, into files, so that no text
crosses a shuffle; dedup decides on compact records and the decisions meet the rows per file.

A row file is a zstd stream of length-prefixed pickles, written streaming (memory: one compression
window) and read streaming. They live under `<output>/_work/`, are named by a random token (a retried
bundle writes new ones; only the files of bundles that succeeded are ever referenced downstream),
and the driver deletes the folder when the run has succeeded (outputs.WORK).

`SpillRows` writes any rows (rejects, quarantine) and `SpillDocuments` writes documents and emits
what dedup needs of each (`DedupPlan`: a compact exact-cluster summary, band keys, evidence). Each
emits one `SpillFile` per file it opens, and the bytes its rows add to each output partition (once per bundle), so
shard counts are known before the final write.
"""

import pickle
import struct
import uuid
from collections import defaultdict
from typing import NamedTuple

import apache_beam as beam
import numpy as np
import xxhash
import zstandard
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems
from apache_beam.transforms.window import GlobalWindow
from apache_beam.utils.timestamp import MIN_TIMESTAMP
from apache_beam.utils.windowed_value import WindowedValue

from dedup.components import node_key
from dedup.decide import ExactSummary, Sketch
from dedup.exact import content_hash
from dedup.lines import distinct_line_keys
from dedup.minhash import band_keys
from pipelines.outputs import WORK
from pipelines.transforms.write import row_size

SIZES, FILES = "sizes", "files"
FILE_BYTES = 16 << 20  # bytes of rows a spill file holds before the writer starts another: ApplyDecisions
# holds one file's rows (about 3x this in Python objects), MergeShards opens one piece per file
_LENGTH = struct.Struct("<I")


class SpillFile(NamedTuple):
    kind: str  # "documents", "rejects" or "quarantine"
    token: str  # the file's name in its folder, without suffix

    def path(self, output: str) -> str:
        return work_path(output, "spill", self.kind, f"{self.token}.rows.zst")


def work_path(output: str, *parts: str) -> str:
    return FileSystems.join(output, WORK, *parts)


class RowWriter:
    """Rows to a row file, streaming."""

    def __init__(self, path: str):
        self.path = path
        self._raw = FileSystems.create(path, compression_type=CompressionTypes.UNCOMPRESSED)
        self._zstd = zstandard.ZstdCompressor(level=1).stream_writer(self._raw, closefd=False)
        self.rows = self.bytes = 0

    def write(self, row, size: int = 0) -> None:
        data = pickle.dumps(row, protocol=pickle.HIGHEST_PROTOCOL)
        self._zstd.write(_LENGTH.pack(len(data)))
        self._zstd.write(data)
        self.rows += 1
        self.bytes += size

    def close(self) -> None:
        self._zstd.close()
        self._raw.close()


def read_rows(path: str):
    """The rows of a row file, in the order written."""
    with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as raw:
        stream = zstandard.ZstdDecompressor().stream_reader(raw, read_across_frames=True)
        while True:
            head = stream.read(_LENGTH.size)
            if not head:
                return
            (length,) = _LENGTH.unpack(head)
            data = stream.read(length)
            while len(data) < length:  # a stream read can return less than asked
                more = stream.read(length - len(data))
                if not more:
                    raise EOFError(f"{path}: truncated row file")
                data += more
            yield pickle.loads(data)


class _Spill(beam.DoFn):
    """Writes rows to row files of `kind`, a new file every FILE_BYTES; yields a SpillFile (tagged
    FILES) when it opens one and each row's ((kind, partition), size) (tagged SIZES)."""

    def __init__(self, output: str, kind: str, partition):
        self.output, self.kind, self.partition = output, kind, partition
        self._writer = self._file = None

    def start_bundle(self):
        self._writer = self._file = None
        self._sizes = defaultdict(int)  # (kind, partition) -> bytes, emitted once per bundle

    def _count(self, partition, size: int) -> None:
        self._sizes[partition] += size

    def _write(self, row, size: int):
        if self._writer is None or self._writer.bytes >= FILE_BYTES:
            self._close()
            self._file = SpillFile(self.kind, uuid.uuid4().hex)
            self._writer = RowWriter(self._file.path(self.output))
            yield beam.pvalue.TaggedOutput(FILES, self._file)
        self._writer.write(row, size)

    def _close(self):
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def finish_bundle(self):
        self._close()
        for partition, size in self._sizes.items():
            yield beam.pvalue.TaggedOutput(SIZES, WindowedValue((partition, size), MIN_TIMESTAMP, [GlobalWindow()]))


class SpillRows(_Spill):
    """rows (rejects or quarantine) -> row files."""

    def process(self, row):
        size = row_size(row)
        yield from self._write(row, size)
        self._count((self.kind, self.partition(row)), size)


class Sketcher:
    """A text's MinHash sketch (None without near dedup, or for a text without shingles)."""

    def __init__(self, hasher=None, bands: int = 0, rows: int = 0, keep_signature: bool = False,
                 keep_shingles: bool = False):
        self.hasher, self.bands, self.rows = hasher, bands, rows
        self.keep_signature, self.keep_shingles = keep_signature, keep_shingles

    def sketch(self, text: str, lang: str | None) -> Sketch | None:
        if self.hasher is None:
            return None
        signature = self.hasher.signature(text, lang)
        if signature is None:  # no shingles: the document stays its own cluster
            return None
        shingles = None
        if self.keep_shingles:
            shingles = np.unique(self.hasher.shingle_hashes(text, lang)).tobytes()
        return Sketch(tuple(band_keys(signature, self.bands, self.rows)),
                      signature.tobytes() if self.keep_signature else None, shingles)


SUMMARIES, NODES, EVIDENCE = "summaries", "nodes", "evidence"


class DedupPlan:
    """What dedup needs of each document, as tagged outputs: (text hash, ExactSummary) (SUMMARIES);
    for near dedup, its band node (node key, id, 64-bit text hash, band keys) (NODES) and, for
    verification, (node key, (signature, shingles)) (EVIDENCE). by_text=False makes every document
    its own exact cluster, weighted by its dedup_cluster_size (for NearDedup on given documents)."""

    def __init__(self, sketcher: Sketcher, lines: bool = False, verify: bool = False, by_text: bool = True):
        self.sketcher, self.lines, self.verify, self.by_text = sketcher, lines, verify, by_text

    def text_hash(self, doc: dict) -> str:
        return content_hash(doc["text"]) if self.by_text else doc["id"]

    def outputs(self, doc: dict, size: int):
        text, doc_id = doc["text"], doc["id"]
        text_hash = self.text_hash(doc)
        weight = 1 if self.by_text else int(doc.get("dedup_cluster_size") or 1)
        score = quality_score(doc)
        lines = tuple(sorted(distinct_line_keys(text))) if self.lines else None
        yield beam.pvalue.TaggedOutput(SUMMARIES, (text_hash, ExactSummary(
            doc_id, weight, score, doc.get("lang"), size, lines)))
        sketch = self.sketcher.sketch(text, doc.get("lang"))
        if sketch is not None:
            node = node_key(doc_id, score)
            yield beam.pvalue.TaggedOutput(NODES, (node, doc_id, xxhash.xxh64_intdigest(text_hash.encode()), sketch.bands))
            if self.verify:
                yield beam.pvalue.TaggedOutput(EVIDENCE, (node, (sketch.signature, sketch.shingles)))


def quality_score(doc: dict) -> float | None:
    return (doc.get("signals") or {}).get("quality_score")


class SpillDocuments(_Spill):
    """documents -> row files; yields the size each adds to its language's documents (tagged SIZES)
    and, where dedup runs (plan), what it needs (DedupPlan.outputs)."""

    def __init__(self, output: str, plan: DedupPlan | None):
        super().__init__(output, "documents", None)
        self.plan = plan

    def process(self, doc):
        size = row_size(doc)
        yield from self._write(doc, size)
        self._count(("documents", f"lang={doc['lang']}"), size)
        if self.plan is not None:
            yield from self.plan.outputs(doc, size)
