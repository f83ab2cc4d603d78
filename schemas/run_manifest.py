"""Is this a finished run? One check for every reader of a curation run (and of a dedup index part).

A run writes its shards, then `manifest.json` last, listing every file with its size and sha256. A
reader calls `verify_run` first: a run without the manifest was killed (or is not a run at all), and a
file that is missing or of another size than listed was changed, truncated or torn since; a file the
reader reads must also have the sha256 listed (`hash_kinds`: hashing is the costly part, so a reader
hashes the kinds of file it reads and no others). Either is refused with `IncompleteRun`, whose
message names the run and the file. A Parquet file in the run's data folders that the manifest does
not list is refused too: readers that glob `documents/*/*.parquet` would otherwise mix it in.

pyarrow.fs only (a local path, or a URI pyarrow or fsspec opens), so the trainer can use it without Beam.
"""

import hashlib
import json
import os
import posixpath

import pyarrow as pa
from pyarrow import fs as pafs

from schemas.errors import IncompleteRun, UsageError

MANIFEST = "manifest.json"
CHUNK = 1 << 20  # bytes hashed at a time
# A curation run's data folders (index: the dedup-index shards of runs written before they were dedup_index)
RUN_FOLDERS = ("documents", "rejects", "quarantine", "dedup_index", "index")
UNFINISHED = "the run did not finish (or is not a curation run)"


def filesystem(uri: str) -> tuple[pafs.FileSystem, str]:
    """(filesystem, path) for a local path or a URI; schemes pyarrow lacks go through fsspec."""
    if "://" not in uri:
        return pafs.LocalFileSystem(), os.path.abspath(uri)
    try:
        return pafs.FileSystem.from_uri(uri)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        import fsspec

        fs, path = fsspec.core.url_to_fs(uri)
        return pafs.PyFileSystem(pafs.FSSpecHandler(fs)), path


def sha256_stream(stream) -> str:
    """The sha256 of what is left in a binary file object, read a MiB at a time: the one file hash of
    the project (sha256_file here, pipelines.outputs.sha256_of for Beam's filesystems, trainer.tokenizer's
    fingerprint)."""
    digest = hashlib.sha256()
    for chunk in iter(lambda: stream.read(CHUNK), b""):
        digest.update(chunk)
    return digest.hexdigest()


def sha256_file(path: str, fs: pafs.FileSystem | None = None) -> str:
    """The sha256 of the file at `path` in `fs`; without `fs`, `path` is a local path or a URI."""
    if fs is None:
        fs, path = filesystem(path)
    with fs.open_input_stream(path) as stream:
        return sha256_stream(stream)


def file_entry(fs: pafs.FileSystem, root: str, relative: str) -> dict:
    """{"path", "bytes", "sha256"} of one file, as a manifest lists it."""
    path = f"{root}/{relative}"
    return {"path": relative, "bytes": fs.get_file_info(path).size, "sha256": sha256_file(path, fs)}


def _safe(relative) -> bool:
    return (isinstance(relative, str) and relative != "" and not relative.startswith("/")
            and posixpath.normpath(relative) == relative and not relative.startswith(".."))


def read_manifest(uri: str, fs: pafs.FileSystem | None = None, root: str | None = None,
                  unfinished: str = UNFINISHED) -> dict:
    """The manifest of the run at `uri`, which must exist, parse and mark the run complete."""
    if fs is None:
        fs, root = filesystem(uri)
    elif root is None:
        root = uri
    kind = fs.get_file_info(root).type
    if kind == pafs.FileType.NotFound:
        raise UsageError(f"{uri} does not exist")
    if kind != pafs.FileType.Directory and "://" not in uri:
        raise UsageError(f"{uri} is not a directory")
    path = f"{root}/{MANIFEST}"
    if fs.get_file_info(path).type != pafs.FileType.File:
        raise IncompleteRun(f"{uri} has no {MANIFEST}: {unfinished}")
    try:
        with fs.open_input_stream(path) as stream:
            manifest = json.loads(stream.read())
    except (ValueError, UnicodeDecodeError) as exc:
        raise IncompleteRun(f"{uri}/{MANIFEST} is unreadable ({exc}): {unfinished}") from None
    if not isinstance(manifest, dict) or manifest.get("complete") is not True \
            or not isinstance(manifest.get("files"), list):
        raise IncompleteRun(f"{uri}/{MANIFEST} does not mark a complete run with its files: {unfinished}")
    return manifest


ALL_KINDS = None  # hash_kinds: hash every listed file


def verify_run(uri: str, fs: pafs.FileSystem | None = None, root: str | None = None, folders=RUN_FOLDERS,
               unfinished: str = UNFINISHED, hash_kinds=("documents",)) -> dict:
    """The manifest of the finished run at `uri` (a local path or URI; or give its `fs` and the `root`
    path in it, `uri` then only names the run in messages), after checking that every file it lists
    is there with its size, that no other Parquet file lies in `folders` ("" is the run's own folder,
    not its sub-folders), and that the files of `hash_kinds` (their manifest `kind`: the kinds the
    caller reads; the default, documents, is what the tokenizer, tokenize and the trainer read) have
    their sha256. `hash_kinds=ALL_KINDS` hashes every file (those without a kind too), `()` none: sizes
    only. Raises IncompleteRun, naming the run and the first file that is wrong, else returns the
    manifest."""
    if fs is None:
        fs, root = filesystem(uri)
    elif root is None:
        root = uri
    root = root.rstrip("/")
    manifest = read_manifest(uri, fs, root, unfinished)
    listed = {}
    for entry in manifest["files"]:
        relative = entry.get("path") if isinstance(entry, dict) else None
        if not _safe(relative) or not isinstance(entry.get("bytes"), int) or not isinstance(entry.get("sha256"), str):
            raise IncompleteRun(f"{uri}/{MANIFEST} lists a file without a plain relative path, size and sha256: "
                                f"{entry!r}")
        listed[relative] = entry
    problems = []
    infos = fs.get_file_info([f"{root}/{relative}" for relative in listed])
    for (relative, entry), info in zip(listed.items(), infos):
        if info.type != pafs.FileType.File:
            problems.append(f"{relative} is listed in {MANIFEST} but missing")
        elif info.size != entry["bytes"]:
            problems.append(f"{relative} is {info.size} bytes, {MANIFEST} says {entry['bytes']}: it is torn or changed")
    for relative in _unlisted_parquet(fs, root, folders, listed):
        problems.append(f"{relative} is not in {MANIFEST} (a file from another run?)")
    if not problems:
        for relative, entry in listed.items():
            if hash_kinds is not ALL_KINDS and entry.get("kind") not in hash_kinds:
                continue
            if sha256_file(f"{root}/{relative}", fs) != entry["sha256"]:
                problems.append(f"{relative} does not match its sha256 in {MANIFEST}: it changed after the run")
                break
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise IncompleteRun(f"{uri}: {problems[0]}{more}")
    return manifest


def _unlisted_parquet(fs: pafs.FileSystem, root: str, folders, listed: dict) -> list[str]:
    found = []
    for folder in folders:
        base = f"{root}/{folder}" if folder else root
        if fs.get_file_info(base).type != pafs.FileType.Directory:
            continue
        for info in fs.get_file_info(pafs.FileSelector(base, recursive=bool(folder))):
            relative = info.path[len(root) + 1:]
            if info.type == pafs.FileType.File and info.path.endswith(".parquet") and relative not in listed:
                found.append(relative)
    return sorted(found)
