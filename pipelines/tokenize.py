"""Tokenise a curation run into token shards for the trainer (docs/design.md section 5).

    python -m pipelines.tokenize --input RUN_DIR --tokenizer tokenizer.json --output DIR [beam options]

Reads the run's kept documents, tokenises them (pipelines.transforms.tokenize), and writes
`DIR/train/` and `DIR/heldout/` zstd Parquet shards (schemas.tokens), sorted by id, the dataset card
`DIR/README.md` (schemas.dataset_card: `datasets.load_dataset(DIR)` gives the splits train and
validation, the held-out one), then `DIR/manifest.json` last: the tokenizer's fingerprint, the curation run's fingerprint, and every
file with its rows, tokens and sha256. The run fails, with no manifest, unless every kept document of
the curation run is in exactly one split, the training split is not empty, and the held-out split is
not empty when a held-out share was asked for.
"""

import datetime
import sys
import time

from pipelines.options import beam_options  # first: it quiets a warning Beam logs on import
import apache_beam as beam
import pyarrow.compute as pc
import pyarrow.parquet as pq
from apache_beam.io.filesystems import FileSystems

from pipelines import outputs
from pipelines.config import absolute
from pipelines.transforms.metrics import query_counters
from pipelines.transforms.tokenize import SPLITS, Tokenize
from pipelines.transforms.write import WriteShards, by_id, no_partition
from schemas.dataset_card import token_card
from schemas.errors import OneLineParser, cli_main
from schemas.run_manifest import filesystem, verify_run
from schemas.tokens import FORMAT, token_schema
from trainer.tokenizer import load_tokenizer

class TokenizeFailed(RuntimeError):
    pass


def _token_bytes(row):
    return 4 * row["n_tokens"] + 64


def build(pipeline, run_dir: str, output: str, tokenizer_json: str, vocab_size: int, heldout_fraction: float,
          shard_bytes: int) -> None:
    docs = pipeline | "ReadDocuments" >> beam.io.ReadFromParquet(
        FileSystems.join(run_dir, "documents", "*", "*.parquet"), columns=["id", "text", "source"])
    splits = docs | "Tokenize" >> Tokenize(tokenizer_json, vocab_size, heldout_fraction)
    schema = token_schema(vocab_size)
    for split in SPLITS:
        splits[split] | f"Write_{split}" >> WriteShards(output, split, schema, no_partition, by_id, shard_bytes,
                                                         row_bytes=_token_bytes)


def list_token_files(output: str, schema) -> dict:
    """split -> [{"path", "rows", "tokens", "bytes", "sha256"}], read back from the files themselves."""
    files = outputs.list_outputs(output, {split: f"{split}/*.parquet" for split in SPLITS},
                                 dict.fromkeys(SPLITS, schema))
    fs, root = filesystem(output)
    for f in files:
        f["tokens"] = _token_count(fs, f"{root}/{f['path']}")
    splits = {}
    for split in SPLITS:
        mine = [{key: f[key] for key in ("path", "rows", "tokens", "bytes", "sha256")}
                for f in files if f["kind"] == split]
        splits[split] = {"rows": sum(f["rows"] for f in mine), "tokens": sum(f["tokens"] for f in mine),
                         "files": mine}
    return splits


def _token_count(fs, path: str) -> int:
    """The file's tokens, read through Arrow's own file and on this thread only (no pre-buffering on
    Arrow's I/O pool, no decoding on its CPU pool). Read through a Python file object (Beam's
    FileSystems.open), the pages were Python-owned buffers that Arrow's threads read and released,
    each release taking the GIL; this is the last read before the command exits, and an Arrow thread
    still waiting for the GIL when the interpreter finalised was ended by pthread_exit inside a C++
    destructor: std::terminate, exit code 134 after the manifest was written."""
    with fs.open_input_file(path) as source:
        table = pq.ParquetFile(source, pre_buffer=False).read(columns=["n_tokens"], use_threads=False)
    return int(pc.sum(table["n_tokens"]).as_py() or 0)


def check(kept: int, counted: dict, splits: dict, heldout_fraction: float) -> list[str]:
    problems = []
    if sum(counted.values()) != kept:
        problems.append(f"the curation run kept {kept} documents but {sum(counted.values())} were tokenised")
    for split in SPLITS:
        if splits[split]["rows"] != counted.get(split, 0):
            problems.append(f"{split}: {splits[split]['rows']} rows in the files, {counted.get(split, 0)} counted")
    if not splits["train"]["tokens"]:
        problems.append("the training split has no tokens")
    if heldout_fraction > 0 and not splits["heldout"]["rows"]:
        problems.append(f"the held-out split is empty at --heldout-fraction {heldout_fraction}: raise it")
    return problems


def fingerprint(tokenizer_fingerprint: str, splits: dict) -> str:
    """The run's (outputs.fingerprint over every file), with the tokenizer as one more entry."""
    files = [f for split in SPLITS for f in splits[split]["files"]]
    return outputs.fingerprint(files + [{"path": "tokenizer.json", "sha256": tokenizer_fingerprint}])


def run(argv: list[str] | None = None) -> dict:
    parser = OneLineParser(prog="python -m pipelines.tokenize", allow_abbrev=False,
                           description="Tokenise a curation run into token shards. Unrecognised options go to Beam.")
    parser.add_argument("--input", required=True, help="finished curation run directory (with manifest.json)")
    parser.add_argument("--tokenizer", required=True, help="tokenizer JSON from python -m trainer.tokenizer")
    parser.add_argument("--output", required=True, help="token shard directory (local path or gs:// prefix)")
    parser.add_argument("--heldout-fraction", type=float, default=0.02, help="share of documents held out (by id hash)")
    parser.add_argument("--shard-bytes", type=int, default=256 << 20, help="target token bytes per shard")
    parser.add_argument("--overwrite", action="store_true", help="replace an earlier token-shard directory")
    args, beam_args = parser.parse_known_args(argv)
    args.input, args.output, args.tokenizer = absolute(args.input), absolute(args.output), absolute(args.tokenizer)
    if not 0 <= args.heldout_fraction < 1:
        parser.error(f"--heldout-fraction {args.heldout_fraction}: must be in [0, 1)")
    if args.shard_bytes < 1:
        parser.error(f"--shard-bytes {args.shard_bytes}: must be a positive number of bytes")

    curated = verify_run(args.input)  # a finished curation run, its files as its manifest lists them
    tokenizer, info = load_tokenizer(args.tokenizer)
    options = beam_options(beam_args)
    outputs.prepare_output(args.output, args.overwrite, layout=outputs.TOKENS)

    started = time.time()
    pipeline = beam.Pipeline(options=options)
    build(pipeline, args.input, args.output, tokenizer.to_str(), info["vocab_size"], args.heldout_fraction,
          args.shard_bytes)
    result = pipeline.run()
    result.wait_until_finish()
    seconds = time.time() - started
    outputs.remove_temporaries(args.output, outputs.TOKENS)

    counted = {}
    for event, labels, value in query_counters(result):
        if event == "tokenized":
            counted[labels["split"]] = counted.get(labels["split"], 0) + value
    outputs.close_shard_gaps(args.output, [f"{split}/part-*.parquet" for split in SPLITS])
    splits = list_token_files(args.output, token_schema(info["vocab_size"]))
    problems = check(curated["totals"]["kept"], counted, splits, args.heldout_fraction)
    if problems:
        raise TokenizeFailed("; ".join(problems))
    manifest = {
        "format": FORMAT,
        "fingerprint": fingerprint(info["fingerprint"], splits),
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(),
        "seconds": round(seconds, 3),
        "argv": sys.argv if argv is None else argv,
        "input": {"run": args.input, "fingerprint": curated["fingerprint"], "documents": curated["totals"]["kept"]},
        "tokenizer": {"path": args.tokenizer, **info},
        "heldout_fraction": args.heldout_fraction,
        "splits": splits,
        "card": outputs.write_card(args.output, token_card(splits)),  # README.md: train and validation for datasets
    }
    outputs.write_json(args.output, "manifest.json", manifest)
    for split in SPLITS:
        print(f"{split:8} {splits[split]['rows']:>9,} documents {splits[split]['tokens']:>12,} tokens "
              f"in {len(splits[split]['files'])} files")
    print(f"{args.output}: fingerprint {manifest['fingerprint'][:16]} ({seconds:.1f} s)")
    return manifest


@cli_main()
def main(argv: list[str] | None = None) -> int:
    try:
        run(argv)
    except TokenizeFailed as e:
        print(f"tokenize failed: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
