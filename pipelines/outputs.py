"""The run directory: a safe --overwrite, atomic files, listing and checking shards, stats.json, manifest.json.

Works on any Beam filesystem (a local directory or a gs:// prefix). A local file is written under a
hidden temporary name in its folder (`.part-00000-of-00004.parquet.tmp-<uuid>`, which no `*.parquet`
glob matches) and renamed when complete, so a killed run never leaves a torn `part-*.parquet`; an
object store (gs://) creates an object only when its upload closes, so it is written in place.
manifest.json is written last; every reader checks a run against it (schemas.run_manifest.verify_run).

--overwrite deletes only an earlier run's own files: those its manifest lists (with the manifest,
stats.json, the dataset card README.md and the report's files), or, for a run killed before its
manifest, the exact names the pipeline writes. It refuses, deleting nothing, when the output holds any
other file.

Partitions: a shard's partition is named `lang=en` or `stage=quality` (the manifest's `partition`, the
keys of the partition sizes), but its folder is the bare value, `documents/en/`, `rejects/quality/`
(`partition_folder`), and the value is a plain string column of every row (`lang`, `stage`). A
`key=value` folder is a Hive partition to pyarrow, pandas, duckdb and polars, which then add a `lang`
column of their own, typed as each of them chooses, beside the file's: pandas and
pyarrow.parquet.read_table (dictionary<string, int32>) refused to merge it with the file's string
column, and pyarrow.dataset.dataset(partitioning="hive") (string) refused a dictionary one; with the
column left out of the file, pyarrow.dataset.dataset(folder), polars on a glob and Hugging Face
`datasets` gave rows without a language. With bare folder names every reader reads the column from
the file, with no options (tests/test_readers.py). Runs written before (`documents/lang=en/`) are
still recognised as a run's own by --overwrite.
"""

import hashlib
import json
import os
import re
import uuid
from dataclasses import dataclass

import pyarrow.parquet as pq
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

from schemas import SCHEMAS, check_schema
from schemas.dataset_card import CARD
from schemas.errors import UsageError
from schemas.run_manifest import sha256_stream

KINDS = {"documents": "documents/*/part-*.parquet", "rejects": "rejects/*/part-*.parquet",
         "quarantine": "quarantine/part-*.parquet", "dedup_index": "dedup_index/part-*.parquet"}
# The column each partitioned kind is partitioned by; its folders are named by the bare value.
PARTITION_KEYS = {"documents": "lang", "rejects": "stage"}


def partition_folder(partition: str | None) -> str | None:
    """The folder of a partition: `lang=en` -> `en` (see the module's docstring: no `key=value` folder)."""
    return partition.partition("=")[2] if partition else partition


def partition_name(kind: str, folder: str) -> str:
    """The partition a shard folder holds: `en` of documents -> `lang=en`; a run's from before
    (`lang=en`) as it is."""
    return folder if "=" in folder or kind not in PARTITION_KEYS else f"{PARTITION_KEYS[kind]}={folder}"


_PART = r"part-\d{5,}-of-\d{5,}\.parquet"
_TMP = r"\.tmp-[0-9a-f]{32}"
# A curation run's working files (pipelines.transforms.spill): row files of the documents, rejects and
# quarantine as the per-document stages leave them, and sorted pieces of the output shards. Removed
# when the run succeeds; a killed run leaves them, and the next --overwrite deletes them.
WORK = "_work"
_WORK_FILE = (rf"{WORK}/(?:(?:spill/(?:documents|rejects|quarantine)|pieces)/[0-9a-f]{{32}}\.rows\.zst"
              rf"|bands/[0-9a-f]{{32}}-(?:\d+|nodes)\.npz)")
_WORK_FOLDERS = rf"{WORK}(?:/spill(?:/documents|/rejects|/quarantine)?|/pieces|/bands)?"


@dataclass(frozen=True)
class Layout:
    """The names a kind of run writes, as regexes of paths relative to its folder: `shard_folders` (the
    folders of its part-NNNNN-of-NNNNN.parquet shards, which its manifest lists, and their temporary
    files), `others` (the manifest itself, stats, report files: not listed), `folders` (made by the run,
    removed when --overwrite leaves them empty); `listed(manifest)` gives the shards a manifest lists."""
    name: str
    shard_folders: str
    others: str
    folders: str
    listed: object

    def shard(self, relative: str) -> bool:
        return re.fullmatch(f"(?:{self.shard_folders})/{_PART}", relative) is not None

    def temporary(self, relative: str) -> bool:
        if self is CURATION and re.fullmatch(_WORK_FILE, relative):
            return True
        folder, _, name = relative.rpartition("/")
        if folder == "":
            return re.fullmatch(rf"\.(?:stats\.json|manifest\.json|README\.md){_TMP}", name) is not None
        return re.fullmatch(self.shard_folders, folder) is not None and re.fullmatch(rf"\.{_PART}{_TMP}", name) is not None

    def owned(self, relative: str) -> bool:
        return (self.shard(relative) or self.temporary(relative)
                or re.fullmatch(self.others, relative) is not None)


def _curation_files(manifest: dict) -> list[str]:
    return [f["path"] for f in manifest["files"]]


def _token_files(manifest: dict) -> list[str]:
    return [f["path"] for split in manifest["splits"].values() for f in split["files"]]


# Partition folders: the bare value (`en`, `quality`), or `lang=en`, `stage=quality` of runs written before;
# a run's dedup-index shards are in dedup_index/ (index/ in runs written before).
CURATION = Layout(
    "curation run", shard_folders=r"documents/(?:lang=)?[\w-]+|rejects/(?:stage=)?\w+|quarantine|dedup_index|index",
    # schemas.dataset_card writes README.md; pipelines.report writes report.html, summary.json and these
    # plots (pipelines/report/plots.py)
    others=r"manifest\.json|stats\.json|README\.md|report\.html|summary\.json"
           r"|report/(?:funnel|languages|dedup_clusters|train_loss|train_lr_speed|signal_\w+)\.png",
    folders=r"documents(?:/(?:lang=)?[\w-]+)?|rejects(?:/(?:stage=)?\w+)?|quarantine|dedup_index|index|report|" + _WORK_FOLDERS,
    listed=_curation_files)
TOKENS = Layout("token-shard run", shard_folders=r"train|heldout", others=r"manifest\.json|README\.md",
                folders=r"train|heldout", listed=_token_files)


class OutputNotEmpty(UsageError):
    """The output cannot take this run: not empty, holding files no run wrote, or not a run's own folder."""


def _is_local(path: str) -> bool:
    return "://" not in path


def temporary_path(path: str) -> str:
    """The hidden name a file is written under, in its own folder, before it is renamed to `path`."""
    folder, name = os.path.split(path)
    return os.path.join(folder, f".{name}.tmp-{uuid.uuid4().hex}")


def check_output_path(output: str) -> None:
    """Refuse an output that cannot be a run's own folder: empty, the root, the working directory or a
    folder above it, the home directory, or a whole bucket."""
    if not output.strip():
        raise OutputNotEmpty("the output is empty: give a run folder of its own")
    if _is_local(output):
        path, cwd = os.path.realpath(output), os.path.realpath(os.getcwd())
        if path == os.path.dirname(path) or path == os.path.realpath(os.path.expanduser("~")):
            what = "a filesystem root" if path == os.path.dirname(path) else "the home directory"
            raise OutputNotEmpty(f"the output {output} is {what}: give a run folder of its own")
        if cwd == path or cwd.startswith(path.rstrip(os.sep) + os.sep):
            raise OutputNotEmpty(f"the output {output} is the working directory or a folder above it "
                                 f"(an empty --output?): give a run folder of its own")
    else:
        bucket_path = output.split("://", 1)[1].partition("/")[2]
        if not bucket_path.strip("/"):
            raise OutputNotEmpty(f"the output {output} is a whole bucket: give a run folder in it")


def _local_files(output: str) -> tuple[list[str], list[str]]:
    """(files, folders) under a local output, relative; links and other non-folders count as files."""
    files, folders = [], []
    for folder, subfolders, names in os.walk(output):
        relative = os.path.relpath(folder, output)
        prefix = "" if relative == "." else relative.replace(os.sep, "/") + "/"
        for name in list(subfolders):
            if os.path.islink(os.path.join(folder, name)):
                subfolders.remove(name)
                files.append(prefix + name)
            else:
                folders.append(prefix + name)
        files += [prefix + name for name in names]
    return sorted(files), folders


def existing_files(output: str) -> list[str]:
    """Every file under the output, relative to it (object stores: every object under the prefix)."""
    if _is_local(output):
        return _local_files(output)[0] if os.path.isdir(output) else []
    root = output.rstrip("/") + "/"
    return sorted(m.path[len(root):] for m in FileSystems.match([root + "**"])[0].metadata_list
                  if m.path.startswith(root))


def _listed(output: str, layout: Layout) -> set[str] | None:
    """The shards an earlier run's manifest lists, or None without one to read: missing (a killed run)
    or torn or not this layout's (not JSON, or without its list). An error reading it (I/O, permission)
    raises: --overwrite must not fall back to deleting by name because a read failed once."""
    path = FileSystems.join(output, "manifest.json")
    try:
        if not FileSystems.exists(path):
            return None
        with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as fh:
            raw = fh.read()
    except FileNotFoundError:  # deleted since
        return None
    try:
        return set(layout.listed(json.loads(raw)))
    except (ValueError, KeyError, TypeError, AttributeError):  # torn (ValueError: JSON, UTF-8) or not its list
        return None


def prepare_output(output: str, overwrite: bool, inputs: list[str] = (), layout: Layout = CURATION) -> None:
    """Make `output` ready for a run of `layout`. A non-empty output is refused unless `overwrite`;
    then the earlier run's own files are deleted (those its manifest lists, or without a manifest,
    the names the pipeline writes; its stats, manifest, report files and temporary files), and the
    folders it made if they are left empty. Any other file makes it refuse, deleting nothing: it is
    not the run's to delete, and stale shards must not mix with the new run's."""
    check_output_path(output)
    root = output.rstrip("/") + "/"
    inside = [glob for glob in inputs if glob.startswith(root)]
    if inside:
        raise OutputNotEmpty(f"inputs {inside} lie inside the output {output}")
    if _is_local(output) and os.path.exists(output) and not os.path.isdir(output):
        raise OutputNotEmpty(f"the output {output} is a file, not a folder")
    entries = (sorted(os.listdir(output)) if os.path.isdir(output) else []) if _is_local(output) \
        else existing_files(output)
    if entries and not overwrite:
        raise OutputNotEmpty(f"{output} is not empty ({len(entries)} entries, e.g. {entries[0]!r}); "
                             f"pass --overwrite to replace the {layout.name} in it")
    files = existing_files(output)
    listed = _listed(output, layout)
    ours = [f for f in files
            if layout.owned(f) and not (listed is not None and layout.shard(f) and f not in listed)
            and not (_is_local(output) and os.path.islink(os.path.join(output, f)))]
    foreign = sorted(set(files) - set(ours))
    if foreign:
        whose = "its manifest.json does not list" if listed is not None else f"no {layout.name} writes"
        raise OutputNotEmpty(f"{output} holds {len(foreign)} file(s) {whose}: {', '.join(foreign[:5])}"
                             f"{' ...' if len(foreign) > 5 else ''}; refusing to delete them or to mix them "
                             f"with a new run, even with --overwrite: move them away or choose another output")
    if "manifest.json" in ours:  # first: a run half deleted is an unfinished one
        FileSystems.delete([FileSystems.join(output, "manifest.json")])
    rest = [FileSystems.join(output, f) for f in ours if f != "manifest.json"]
    if rest:
        FileSystems.delete(rest)
    if _is_local(output):
        if os.path.isdir(output):
            made = [f for f in _local_files(output)[1] if re.fullmatch(layout.folders, f)]
            for folder in sorted(made, key=lambda f: -f.count("/")):
                try:
                    os.rmdir(os.path.join(output, folder))
                except OSError:  # holds a folder of someone else's: it stays
                    pass
        os.makedirs(output, exist_ok=True)


def remove_temporaries(output: str, layout: Layout = CURATION) -> int:
    """Delete temporary files left by failed and retried bundles (a bundle's retry wrote the file again
    under its final name); returns how many."""
    left = [f for f in existing_files(output) if layout.temporary(f)]
    if left:
        FileSystems.delete([FileSystems.join(output, f) for f in left])
    return len(left)


def remove_work(output: str) -> int:
    """Delete a finished run's working files (WORK) and, locally, their folders; returns how many files."""
    left = [f for f in existing_files(output) if f.startswith(WORK + "/") and CURATION.temporary(f)]
    if left:
        FileSystems.delete([FileSystems.join(output, f) for f in left])
    if _is_local(output) and os.path.isdir(os.path.join(output, WORK)):
        for folder in sorted((f for f in _local_files(output)[1] if re.fullmatch(_WORK_FOLDERS, f)),
                             key=lambda f: -f.count("/")):
            try:
                os.rmdir(os.path.join(output, folder))
            except OSError:  # holds something else: it stays, and the run's checks name it
                pass
    return len(left)


def sha256_of(path: str) -> str:
    """The sha256 of a file on any Beam filesystem (schemas.run_manifest.sha256_stream)."""
    with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as fh:
        return sha256_stream(fh)


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
            files.append({"path": relative, "kind": kind,
                          "partition": partition_name(kind, parts[1]) if len(parts) == 3 else None,
                          "rows": rows, "bytes": meta.size_in_bytes, "sha256": sha256_of(meta.path), **extra})
    return sorted(files, key=lambda f: f["path"])


def write_json(output: str, name: str, data: dict) -> str:
    """Write `data` as `output/name`, whole: a local file under a temporary name, then renamed."""
    path = FileSystems.join(output, name)
    write_whole(path, lambda fh: fh.write((json.dumps(data, indent=2, sort_keys=False, default=str) + "\n").encode()))
    return path


def write_card(output: str, text: str) -> dict:
    """Write the dataset card (schemas.dataset_card) as `output/README.md`, whole; returns its manifest
    entry: {"path", "bytes", "sha256"}."""
    data = text.encode("utf-8")
    write_whole(FileSystems.join(output, CARD), lambda fh: fh.write(data))
    return {"path": CARD, "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}


def write_whole(path: str, write) -> None:
    """Call `write(file)` on a new file that appears at `path` only when complete: a local file is
    written under `temporary_path(path)`, flushed to disk (fsync) and renamed (atomic in one folder),
    so that after a crash the name holds the whole file or nothing, never an empty or partial one;
    an object store's object is created whole when its upload closes, so it is written in place."""
    if not _is_local(path):
        with FileSystems.create(path) as fh:
            write(fh)
        return
    temporary = temporary_path(path)
    try:
        with FileSystems.create(temporary, compression_type=CompressionTypes.UNCOMPRESSED) as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.remove(temporary)
        raise


def fingerprint(files: list[dict]) -> str:
    """Identifies the run's content: the same shards give the same fingerprint."""
    digest = hashlib.sha256()
    for f in sorted(files, key=lambda f: f["path"]):
        digest.update(f"{f['path']}\0{f['sha256']}\n".encode())
    return digest.hexdigest()
