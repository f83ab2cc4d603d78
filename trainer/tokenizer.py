"""Train the tokenizer on a sample of a curation run's shards (HF `tokenizers`).

    python -m trainer.tokenizer --input RUN_DIR --vocab-size 32000 --output tokenizer.json [--kind wordpiece]

`bpe` (default): byte-level BPE as GPT-2 (every byte is in the alphabet, so nothing is ever unknown).
`wordpiece`: BERT's WordPiece, for the masked-LM objective if you want BERT's exact setup.
Both get the special tokens both objectives need, at fixed ids 0-5 (SPECIAL_TOKENS). No normaliser:
the curation run has already normalised the text (NFC, ftfy), and no post-processor: the trainer's
packer places separators.

The sample is every document whose id hashes below `sample_bytes / total text bytes` (ids are hashes,
so this is an unbiased, order-free sample that any rerun picks again). The tokenizer's fingerprint is
the sha256 of its JSON file; `<output>.meta.json` records it with the sample and settings.
"""

import json
import sys
from pathlib import Path

import pyarrow.parquet as pq
import xxhash
from pyarrow import fs as pafs

from schemas.errors import OneLineParser, UsageError, cli_main
from schemas.run_manifest import sha256_file
from trainer.data.shards import SEPARATOR, run_documents
from trainer.data.shards import filesystem as shard_filesystem

SPECIAL_TOKENS = [SEPARATOR, "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
KINDS = ("bpe", "wordpiece")
# The smallest vocabulary each kind can have: byte-level BPE starts from all 256 bytes, both add the
# special tokens (a smaller --vocab-size would silently give this many tokens anyway).
MIN_VOCAB_SIZE = {"bpe": 256 + len(SPECIAL_TOKENS), "wordpiece": len(SPECIAL_TOKENS) + 1}


def document_files(run_dir: str) -> tuple[pafs.FileSystem, list[str]]:
    """The kept-document shards of a finished curation run (local path or object-store URI), sorted;
    a run without its manifest, or whose files differ from it, is refused (schemas.errors.IncompleteRun)."""
    filesystem, root = shard_filesystem(run_dir)
    files = run_documents(filesystem, root, run_dir)
    if not files:
        raise UsageError(f"{run_dir} kept no documents to train a tokenizer on")
    return filesystem, files


def _text_bytes(filesystem, path: str) -> int:
    meta = pq.ParquetFile(filesystem.open_input_file(path)).metadata
    column = meta.schema.to_arrow_schema().get_field_index("text")
    return sum(meta.row_group(g).column(column).total_uncompressed_size for g in range(meta.num_row_groups))


def in_sample(doc_id: str, fraction: float) -> bool:
    return xxhash.xxh64_intdigest(doc_id.encode()) < fraction * 2**64


def sample_texts(run_dir: str, sample_bytes: int):
    """Yield the texts of the sample, in file then id order."""
    filesystem, files = document_files(run_dir)
    total = sum(_text_bytes(filesystem, f) for f in files)
    fraction = min(1.0, sample_bytes / max(1, total))
    for path in files:
        parquet = pq.ParquetFile(filesystem.open_input_file(path))
        for group in range(parquet.num_row_groups):
            table = parquet.read_row_group(group, columns=["id", "text"])
            for doc_id, text in zip(table["id"].to_pylist(), table["text"].to_pylist()):
                if fraction >= 1.0 or in_sample(doc_id, fraction):
                    yield text


def new_tokenizer(kind: str, vocab_size: int):
    """An untrained tokenizer and its trainer."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    if kind == "bpe":
        tokenizer = Tokenizer(models.BPE())
        tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tokenizer.decoder = decoders.ByteLevel()
        trainer = trainers.BpeTrainer(vocab_size=vocab_size, min_frequency=2, special_tokens=SPECIAL_TOKENS,
                                      initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    elif kind == "wordpiece":
        tokenizer = Tokenizer(models.WordPiece(unk_token="[UNK]"))
        tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
        tokenizer.decoder = decoders.WordPiece()
        trainer = trainers.WordPieceTrainer(vocab_size=vocab_size, min_frequency=2, special_tokens=SPECIAL_TOKENS,
                                            show_progress=False)
    else:
        raise ValueError(f"tokenizer kind {kind!r}: choose from {KINDS}")
    return tokenizer, trainer


def train_tokenizer(texts, kind: str = "bpe", vocab_size: int = 32000):
    tokenizer, trainer = new_tokenizer(kind, vocab_size)
    tokenizer.train_from_iterator(texts, trainer)
    for i, token in enumerate(SPECIAL_TOKENS):
        assert tokenizer.token_to_id(token) == i, f"special token {token} is not id {i}"
    return tokenizer


def fingerprint_of(path: str | Path) -> str:
    """The tokenizer's fingerprint: the sha256 of its JSON file (a local path or a URI)."""
    return sha256_file(str(path))


def load_tokenizer(path: str | Path):
    """(Tokenizer, info): info has the fingerprint, vocab size and the special tokens' ids."""
    from tokenizers import Tokenizer

    if not Path(path).is_file():
        raise UsageError(f"tokenizer {path} " + ("is not a file" if Path(path).exists() else "does not exist"))
    try:
        tokenizer = Tokenizer.from_file(str(path))
    except Exception as exc:  # tokenizers raises a bare Exception for a file it cannot parse
        raise UsageError(f"tokenizer {path} is not a tokenizer JSON ({exc})") from None
    specials = {token: tokenizer.token_to_id(token) for token in SPECIAL_TOKENS}
    missing = [t for t, i in specials.items() if i is None]
    if missing:
        raise UsageError(f"{path}: tokenizer lacks the special tokens {missing}; train it with trainer.tokenizer")
    return tokenizer, {"fingerprint": fingerprint_of(path), "vocab_size": tokenizer.get_vocab_size(),
                       "special_tokens": specials}


def check_args(args) -> None:
    """The numbers and the output path, before the input is read."""
    least = MIN_VOCAB_SIZE[args.kind]
    if args.vocab_size < least:
        why = f"256 bytes + {len(SPECIAL_TOKENS)} special tokens" if args.kind == "bpe" else \
            f"{len(SPECIAL_TOKENS)} special tokens and at least one more"
        raise UsageError(f"--vocab-size {args.vocab_size}: a {args.kind} tokenizer needs at least {least} ({why})")
    if args.sample_bytes < 1:
        raise UsageError(f"--sample-bytes {args.sample_bytes}: must be a positive number of bytes")
    output = Path(args.output)
    if output.is_dir():
        raise UsageError(f"--output {output} is a directory; give the tokenizer JSON file to write")
    blocked = next((p for p in output.parents if p.exists() and not p.is_dir()), None)
    if blocked is not None:
        raise UsageError(f"--output {output}: {blocked} is a file, not a directory")


@cli_main()
def main(argv=None) -> int:
    parser = OneLineParser(prog="python -m trainer.tokenizer",
                           description="Train a tokenizer on a sample of a curation run's documents.")
    parser.add_argument("--input", required=True, help="finished curation run directory (its documents/ shards)")
    parser.add_argument("--output", required=True, help="tokenizer JSON to write")
    parser.add_argument("--vocab-size", type=int, default=32000)
    parser.add_argument("--kind", choices=KINDS, default="bpe")
    parser.add_argument("--sample-bytes", type=int, default=1 << 30, help="text to train on (default 1 GiB)")
    args = parser.parse_args(argv)
    check_args(args)
    counted = {"documents": 0, "bytes": 0}

    def texts():
        for text in sample_texts(args.input, args.sample_bytes):
            counted["documents"] += 1
            counted["bytes"] += len(text.encode("utf-8"))
            yield text

    tokenizer = train_tokenizer(texts(), args.kind, args.vocab_size)
    if counted["documents"] == 0:
        raise UsageError(f"the sample of {args.input} holds no documents: raise --sample-bytes")
    output = Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    tokenizer.save(str(output))
    info = {"fingerprint": fingerprint_of(output), "kind": args.kind, "vocab_size": tokenizer.get_vocab_size(),
            "requested_vocab_size": args.vocab_size, "special_tokens": SPECIAL_TOKENS, "input": args.input,
            "sample": {**counted, "sample_bytes": args.sample_bytes}}
    Path(f"{output}.meta.json").write_text(json.dumps(info, indent=2) + "\n")
    print(f"{output}: {args.kind}, {info['vocab_size']} tokens, trained on {counted['documents']} documents "
          f"({counted['bytes'] / 1e6:.1f} MB), fingerprint {info['fingerprint'][:16]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
