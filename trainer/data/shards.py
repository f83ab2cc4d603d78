"""Token shards: the manifest, the per-document index, and reading documents' tokens (pyarrow).

Two kinds of dataset directory (local path or object-store URI: anything `pyarrow.fs.FileSystem.from_uri`
opens, else anything fsspec does):

- Token shards, written by `pipelines.tokenize`: `manifest.json` ("token-shards/1": tokenizer with its
  special tokens, per split the files with rows and tokens, a fingerprint) and `<split>/*.parquet` with
  `id`, `source`, `input_ids` (list<uint16>, or list<uint32> past 65,536 ids) and `n_tokens`.
- Text shards, as a curation run writes them (`documents/*/*.parquet`, or any directory of Parquet files
  with `id`, `text`, `source`): documents are tokenised on the fly with the tokenizer given. A curation run
  (a folder with `documents/` or `manifest.json`) is read only once `schemas.run_manifest.verify_run` has
  found its manifest, every file at its listed size and the documents' sha256 as listed: a killed or changed
  run is refused (IncompleteRun). Under a process group of several ranks, rank 0 alone hashes the documents
  and tells the others its verdict, so every rank must open the run (as trainer.train's do).
  Opening one makes an indexing pass that tokenises every document once to learn its n_tokens, and builds
  the same in-memory manifest, so the order contract is the same; each later read tokenises its row group
  again. Tokens are taken without the tokenizer's template (`add_special_tokens=False`), as the shards hold
  them: the packer places separators.

The index (row groups per file, n_tokens and source per document) comes from the Parquet footers and the
`n_tokens` and `source` columns, and must agree with the manifest's rows and tokens per file.
"""

import hashlib
import json
import os
import sys

import numpy as np
import pyarrow.parquet as pq
from pyarrow import fs as pafs

from schemas.errors import IncompleteRun
from schemas.run_manifest import filesystem, verify_run
from schemas.tokens import FORMAT, id_type
from trainer.data.order import LRUCache

SEPARATOR = "<|endoftext|>"


def _read_bytes(fs: pafs.FileSystem, path: str) -> bytes:
    with fs.open_input_stream(path) as f:
        return f.read()


def _sha256(obj) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()


def parquet_files(fs: pafs.FileSystem, root: str) -> list[str]:
    """Every .parquet file under `root`, recursively, sorted."""
    infos = fs.get_file_info(pafs.FileSelector(root, recursive=True))
    return sorted(i.path for i in infos if i.type == pafs.FileType.File and i.path.endswith(".parquet"))


def is_curation_run(fs: pafs.FileSystem, root: str) -> bool:
    """A folder with documents/ or a manifest.json is a curation run (finished or not)."""
    return (fs.get_file_info(f"{root}/documents").type == pafs.FileType.Directory
            or fs.get_file_info(f"{root}/manifest.json").type == pafs.FileType.File)


def _process_group():
    """torch.distributed when a process group of several ranks is up, else None. Looked up among the modules
    already imported, never imported here: without torch.distributed loaded, no group can be up."""
    dist = sys.modules.get("torch.distributed")
    if dist is None or not dist.is_available() or not dist.is_initialized() or dist.get_world_size() < 2:
        return None
    return dist


def _verify_documents(fs: pafs.FileSystem, root: str, uri: str) -> dict:
    """verify_run, hashing the documents (all a reader of the run reads). Under a process group of several
    ranks, every rank checks the manifest and the sizes, rank 0 alone hashes, and every rank learns every
    rank's verdict (all_gather), so all stop if any fails: every rank must call this (a collective)."""
    dist = _process_group()
    if dist is None:
        return verify_run(uri, fs, root, hash_kinds=("documents",))
    rank0 = dist.get_rank() == 0
    manifest, error = None, None
    try:
        manifest = verify_run(uri, fs, root, hash_kinds=("documents",) if rank0 else ())
    except Exception as exc:  # every rank must reach the all_gather, whatever went wrong
        error = exc
    verdicts = [None] * dist.get_world_size()
    dist.all_gather_object(verdicts, None if error is None else (isinstance(error, IncompleteRun), str(error)))
    if error is not None:
        raise error
    failed = [(rank, verdict) for rank, verdict in enumerate(verdicts) if verdict is not None]
    if failed:
        rank, (incomplete, message) = failed[0]
        if incomplete:
            raise IncompleteRun(message)
        raise RuntimeError(f"rank {rank} could not check {uri}: {message}")
    return manifest


def run_documents(fs: pafs.FileSystem, root: str, uri: str) -> list[str]:
    """The kept-document shards of the curation run at `root`, sorted, once schemas.run_manifest.verify_run
    has found the run finished, its files at their listed sizes and the documents with their sha256 (else
    IncompleteRun). Under a process group of several ranks, a collective: see _verify_documents."""
    manifest = _verify_documents(fs, root, uri)
    return sorted(f"{root}/{f['path']}" for f in manifest["files"] if f.get("kind") == "documents")


def _load_tokenizer(tokenizer) -> tuple:
    """(Tokenizer, fingerprint, path or None). The fingerprint of a JSON file is the sha256 of its bytes, as
    trainer.tokenizer's; of a Tokenizer object, the sha256 of its to_str()."""
    from tokenizers import Tokenizer

    if isinstance(tokenizer, Tokenizer):
        return tokenizer, hashlib.sha256(tokenizer.to_str().encode()).hexdigest(), None
    fs, path = filesystem(str(tokenizer))
    raw = _read_bytes(fs, path)
    return Tokenizer.from_str(raw.decode()), hashlib.sha256(raw).hexdigest(), str(tokenizer)


class TokenShards:
    """One split of a dataset, indexed, with its documents' tokens on demand.

    `tokenizer`: a tokenizers.Tokenizer or the path/URI of its JSON; needed for text shards; for token shards,
    a path given is checked against the manifest's tokenizer fingerprint. `cache_row_groups`: decoded row groups
    kept per process; keep it above the dataset's block_size, so a block's row groups stay hot.

    Documents are numbered 0..n-1 in (file, row group, row) order. Attributes: `fingerprint` (the manifest's,
    or for text shards the sha256 of the file list with rows and tokens and the tokenizer fingerprint),
    `tokenizer` (fingerprint, vocab_size, special_tokens), `separator_id`, `files` (paths relative to the
    dataset), `row_group_starts` (first document of each row group, then the total), `row_group_refs` ((file,
    row group in file) each), `doc_tokens` (int32), `doc_source` (codes into `sources`).
    """

    def __init__(self, uri: str, split: str = "train", tokenizer=None, cache_row_groups: int = 32):
        self.uri, self.split = uri, split
        self._fs, self._root = filesystem(uri)
        self._cache_size = cache_row_groups
        manifest_path = f"{self._root}/manifest.json"
        manifest = None
        if self._fs.get_file_info(manifest_path).type == pafs.FileType.File:
            try:
                manifest = json.loads(_read_bytes(self._fs, manifest_path))
            except ValueError:  # torn: a curation run's is refused by verify_run, a token manifest by its format
                manifest = {}
            if "format" not in manifest and tokenizer is not None:
                manifest = None  # a curation run's manifest: its text is read with the tokenizer
        if manifest is not None:
            self._text = None
            self._index_tokens(manifest)
            if tokenizer is not None and not hasattr(tokenizer, "encode_batch"):
                given = _load_tokenizer(tokenizer)[1]
                if given != self.tokenizer["fingerprint"]:
                    raise ValueError(f"{tokenizer} (fingerprint {given[:16]}) is not the tokenizer of {uri} "
                                     f"({self.tokenizer['fingerprint'][:16]})")
        else:
            if tokenizer is None:
                raise ValueError(f"{uri} has no token-shard manifest.json: text shards need a tokenizer "
                                 "(object or JSON path)")
            if split != "train":
                raise ValueError(f"{uri}: text shards have one split, 'train', not {split!r}")
            self._text, token_fingerprint, path = _load_tokenizer(tokenizer)
            self._index_text(token_fingerprint, path)
        self.separator_id = self.tokenizer["special_tokens"].get(SEPARATOR)
        if self.separator_id is None:
            raise ValueError(f"{uri}: the tokenizer has no {SEPARATOR} token to separate documents")
        self._pid, self._groups, self._handles = None, None, None

    # --- indexing ---------------------------------------------------------------------------------------

    def _index_tokens(self, manifest: dict) -> None:
        if manifest.get("format") != FORMAT:
            raise ValueError(f"{self.uri}: manifest format {manifest.get('format')!r}, expected {FORMAT!r}")
        if self.split not in manifest["splits"]:
            raise ValueError(f"{self.uri}: no split {self.split!r} (has {sorted(manifest['splits'])})")
        self.tokenizer, self.fingerprint = manifest["tokenizer"], manifest["fingerprint"]
        entries = manifest["splits"][self.split]["files"]
        expected_type = id_type(self.tokenizer["vocab_size"])
        per_file = []
        for entry in entries:
            parquet = pq.ParquetFile(self._fs.open_input_file(f"{self._root}/{entry['path']}"))
            found_type = parquet.schema_arrow.field("input_ids").type.value_type
            if found_type != expected_type:
                raise ValueError(f"{entry['path']}: input_ids are {found_type}, vocab_size "
                                 f"{self.tokenizer['vocab_size']} wants {expected_type}")
            table = parquet.read(columns=["n_tokens", "source"])
            tokens = table["n_tokens"].to_numpy().astype(np.int32)
            if len(tokens) != entry["rows"] or int(tokens.sum(dtype=np.int64)) != entry["tokens"]:
                raise ValueError(f"{entry['path']}: {len(tokens)} rows, {int(tokens.sum())} tokens; the manifest "
                                 f"says {entry['rows']} and {entry['tokens']}: shards changed after the manifest")
            per_file.append((entry["path"], parquet.metadata, tokens, table["source"].to_pylist()))
        self._build_index(per_file)

    def _index_text(self, tokenizer_fingerprint: str, tokenizer_path: str | None) -> None:
        if is_curation_run(self._fs, self._root):  # its kept documents, not rejects or quarantine
            paths = run_documents(self._fs, self._root, self.uri)
        else:
            paths = parquet_files(self._fs, self._root)
        if not paths:
            raise FileNotFoundError(f"no Parquet files under {self.uri}")
        per_file = []
        for path in paths:
            parquet = pq.ParquetFile(self._fs.open_input_file(path))
            tokens, sources = [], []
            for group in range(parquet.num_row_groups):
                table = parquet.read_row_group(group, columns=["text", "source"])
                tokens += [len(e.ids) for e in self._encode(table["text"].to_pylist())]
                sources += table["source"].to_pylist()
            per_file.append((path[len(self._root) + 1:], parquet.metadata, np.array(tokens, np.int32), sources))
        vocab = self._text.get_vocab()
        specials = [t.content for t in self._text.get_added_tokens_decoder().values() if t.special]
        self.tokenizer = {"fingerprint": tokenizer_fingerprint, "vocab_size": self._text.get_vocab_size(),
                          "special_tokens": {t: vocab[t] for t in specials}}
        if tokenizer_path:
            self.tokenizer["path"] = tokenizer_path
        self.fingerprint = _sha256({"files": [{"path": p, "rows": len(t), "tokens": int(t.sum(dtype=np.int64))}
                                              for p, _, t, _ in per_file], "tokenizer": tokenizer_fingerprint})
        self._build_index(per_file)

    def _encode(self, texts: list[str]):
        return self._text.encode_batch(texts, add_special_tokens=False)

    def _build_index(self, per_file: list) -> None:
        self.files = [p for p, _, _, _ in per_file]
        self.row_group_refs = [(f, g) for f, (_, meta, _, _) in enumerate(per_file) for g in range(meta.num_row_groups)]
        rows = [meta.row_group(g).num_rows for _, meta, _, _ in per_file for g in range(meta.num_row_groups)]
        self.row_group_starts = np.concatenate([[0], np.cumsum(rows, dtype=np.int64)]).astype(np.int64)
        self.doc_tokens = np.concatenate([t for _, _, t, _ in per_file]) if per_file else np.zeros(0, np.int32)
        names = [s for _, _, _, sources in per_file for s in sources]
        self.sources = sorted(set(names))
        code = {s: i for i, s in enumerate(self.sources)}
        self.doc_source = np.array([code[s] for s in names], dtype=np.int32)
        assert len(self.doc_tokens) == self.row_group_starts[-1] == len(self.doc_source)

    # --- reading ----------------------------------------------------------------------------------------

    def _caches(self) -> tuple[LRUCache, LRUCache]:
        # Open files and decoded row groups stay in the process that made them: a forked DataLoader worker
        # starts its own.
        if self._pid != os.getpid():
            self._pid, self._groups, self._handles = os.getpid(), LRUCache(self._cache_size), LRUCache(16)
        return self._groups, self._handles

    def row_group(self, g: int) -> tuple[np.ndarray, np.ndarray]:
        """(values, offsets) of row group g's token lists: document row i is values[offsets[i]:offsets[i + 1]].
        Zero-copy views of the Arrow buffers for token shards; cached (LRU, per process)."""
        groups, handles = self._caches()

        def read():
            f, group = self.row_group_refs[g]
            parquet = handles.get(f, lambda: pq.ParquetFile(self._fs.open_input_file(f"{self._root}/{self.files[f]}")))
            if self._text is not None:
                texts = parquet.read_row_group(group, columns=["text"])["text"].to_pylist()
                ids = [e.ids for e in self._encode(texts)]
                offsets = np.concatenate([[0], np.cumsum([len(i) for i in ids])]).astype(np.int64)
                values = np.fromiter((t for i in ids for t in i), np.uint32, int(offsets[-1]))
            else:
                column = parquet.read_row_group(group, columns=["input_ids"])["input_ids"]
                lists = column.combine_chunks() if column.num_chunks != 1 else column.chunk(0)
                values = lists.values.to_numpy(zero_copy_only=True)
                offsets = lists.offsets.to_numpy(zero_copy_only=True)
            expected = self.doc_tokens[self.row_group_starts[g]:self.row_group_starts[g + 1]]
            if not np.array_equal(np.diff(offsets), expected):
                raise ValueError(f"{self.files[f]} row group {group}: token counts differ from the index "
                                 "(shards changed, or a different tokenizer)")
            return values, offsets
        return groups.get(g, read)

    def document(self, doc: int) -> np.ndarray:
        """The tokens of document `doc` (a view into its row group)."""
        g = int(np.searchsorted(self.row_group_starts, doc, side="right")) - 1
        values, offsets = self.row_group(g)
        row = doc - int(self.row_group_starts[g])
        return values[offsets[row]:offsets[row + 1]]
