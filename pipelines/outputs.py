"""The run directory: refusing to overwrite, listing and checking shards, stats.json, manifest.json.

Works on any Beam filesystem (a local directory or a gs:// prefix). manifest.json is written last;
a reader treats a run without it as incomplete.
"""

import hashlib
import json
import os
import re

import pyarrow.parquet as pq
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

from schemas import SCHEMAS, check_schema

KINDS = {"documents": "documents/*/part-*.parquet", "rejects": "rejects/*/part-*.parquet",
         "quarantine": "quarantine/part-*.parquet", "dedup_index": "index/part-*.parquet"}
RUN_ENTRIES = {"documents", "rejects", "quarantine", "index", "stats.json", "manifest.json",
               "report", "report.html", "summary.json"}  # the last three: pipelines.report


class OutputNotEmpty(RuntimeError):
    pass


def _is_local(path: str) -> bool:
    return "://" not in path


def existing_entries(output: str) -> list[str]:
    if _is_local(output):
        return sorted(os.listdir(output)) if os.path.isdir(output) else []
    return [m.path for m in FileSystems.match([FileSystems.join(output, "**")])[0].metadata_list]


def prepare_output(output: str, overwrite: bool, inputs: list[str] = (), entries_written=RUN_ENTRIES) -> None:
    """Refuse a non-empty output unless `overwrite`, which clears it first (stale shards from an
    earlier run must not mix with this one's). Only an earlier run's files are ever deleted."""
    root = output.rstrip("/") + "/"
    inside = [glob for glob in inputs if glob.startswith(root)]
    if inside:
        raise OutputNotEmpty(f"inputs {inside} lie inside the output {output}")
    entries = existing_entries(output)
    if entries and not overwrite:
        raise OutputNotEmpty(f"{output} is not empty ({len(entries)} entries, e.g. {entries[0]!r}); "
                             f"pass --overwrite to replace it")
    foreign = sorted({e[len(root):].split("/")[0] if e.startswith(root) else e for e in entries} - set(entries_written))
    if foreign:
        raise OutputNotEmpty(f"{output} holds {foreign[:5]}, which no curation run writes; "
                             f"refusing to delete it, even with --overwrite")
    if entries:
        FileSystems.delete([output] if _is_local(output) else entries)
    if _is_local(output):
        os.makedirs(output, exist_ok=True)


def sha256_of(path: str) -> str:
    digest = hashlib.sha256()
    with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


_SHARD_NAME = re.compile(r"part-(\d+)-of-(\d+)\.parquet$")


def close_shard_gaps(output: str, patterns=tuple(KINDS.values())) -> int:
    """Renumber a partition's shards to part-00000-of-K ... part-(K-1)-of-K when hashing left some
    numbers unused (a partition of few rows); returns how many files were renamed."""
    groups: dict = {}
    for pattern in patterns:
        for meta in FileSystems.match([FileSystems.join(output, pattern)])[0].metadata_list:
            directory, name = meta.path.rsplit("/", 1)
            groups.setdefault(directory, []).append((int(_SHARD_NAME.search(name).group(1)), name))
    sources, destinations = [], []
    for directory, shards in groups.items():
        shards.sort()
        count = len(shards)
        for new, (_, name) in enumerate(shards):
            wanted = f"part-{new:05d}-of-{count:05d}.parquet"
            if name != wanted:
                sources.append(f"{directory}/{name}")
                destinations.append(f"{directory}/{wanted}")
    if sources:
        FileSystems.rename(sources, destinations)
    return len(sources)


def list_outputs(output: str, kinds: dict = KINDS, schemas: dict = SCHEMAS, more=None) -> list[dict]:
    """Every shard of `kinds` (kind -> glob) with its kind, partition, rows, size and sha256; each one's
    schema is checked against `schemas[kind]`. `more(parquet_file)` adds fields of its own."""
    files = []
    for kind, pattern in kinds.items():
        for meta in FileSystems.match([FileSystems.join(output, pattern)])[0].metadata_list:
            relative = meta.path[len(output):].lstrip("/")
            parts = relative.split("/")
            with FileSystems.open(meta.path) as fh:
                parquet = pq.ParquetFile(fh)
                check_schema(parquet.schema_arrow, schemas[kind], relative)
                rows = parquet.metadata.num_rows
                extra = more(parquet) if more else {}
            files.append({"path": relative, "kind": kind, "partition": parts[1] if len(parts) == 3 else None,
                          "rows": rows, "bytes": meta.size_in_bytes, "sha256": sha256_of(meta.path), **extra})
    return sorted(files, key=lambda f: f["path"])


def write_json(output: str, name: str, data: dict) -> str:
    path = FileSystems.join(output, name)
    with FileSystems.create(path) as fh:
        fh.write((json.dumps(data, indent=2, sort_keys=False, default=str) + "\n").encode())
    return path


def fingerprint(files: list[dict]) -> str:
    """Identifies the run's content: the same shards give the same fingerprint."""
    digest = hashlib.sha256()
    for f in sorted(files, key=lambda f: f["path"]):
        digest.update(f"{f['path']}\0{f['sha256']}\n".encode())
    return digest.hexdigest()
