"""Train the DCLM-style fastText quality classifier (filters.quality_classifier).

    python -m pipelines.train_quality_classifier --run RUN_DIR [--data-dir ../shared/data] \
        --output models/quality_fasttext.bin
    make quality-classifier

Positives are reference-quality text from the data folder: Wikipedia articles and Project Gutenberg
books (WikiText is left out: its tokenised spelling, " @-@ " and spaced commas, would be learnt as a
mark of quality). Negatives are web text from a curation run: every WARC, WET and JSONL
document it read far enough to have text, kept or rejected. Documents are cut into passages of
about 200 words, the larger class is subsampled to the smaller, and fastText trains on one thread
with a fixed seed, so the same inputs give the same model. The web passages' scores give the
thresholds for `keep_top_fraction`, written with counts and settings to OUTPUT.json. The DCLM
human labels are never used for training; bench/quality_labels.py evaluates against them.
"""

import hashlib
import json
import random
import subprocess
import sys
import tempfile
from pathlib import Path

import pyarrow.parquet as pq

from filters.normalise import normalise_text
from filters.quality_classifier import NEGATIVE, POSITIVE, QualityClassifier, model_input
from pipelines.sources import READERS, FileContext
from schemas.errors import OneLineParser, UsageError, cli_main
from schemas.run_manifest import verify_run

WEB_FORMATS = ("warc", "wet", "jsonl")
TOP_FRACTIONS = (0.05, 0.1, 0.2, 0.3, 0.5)
PARAMS = {"epoch": 5, "lr": 0.1, "wordNgrams": 2, "dim": 64, "bucket": 100_000, "minCount": 1,
          "thread": 1, "seed": 1, "loss": "softmax"}


def passages(text: str, words: int = 200) -> list[str]:
    tokens = text.split()
    return [" ".join(tokens[i:i + words]) for i in range(0, len(tokens), words) if len(tokens[i:i + words]) >= 30]


def reference_files(data_dir: Path) -> tuple[Path, list[Path]]:
    """(the Wikipedia dump, the Gutenberg books) in the data folder; UsageError if either is missing."""
    dump = next(iter(sorted((data_dir / "enwiki_xml_dump_sample").glob("*.bz2"))), None)
    books = sorted((data_dir / "gutenberg_en").glob("*.txt"))
    if dump is None or not books:
        raise UsageError(f"--data-dir {data_dir} lacks the reference text: enwiki_xml_dump_sample/*.bz2 and "
                         f"gutenberg_en/*.txt")
    return dump, books


def reference_texts(data_dir: Path) -> list[str]:
    texts = []
    dump, books = reference_files(data_dir)
    with open(dump, "rb") as raw:
        texts += [d["text"] for d in READERS["wikipedia"](raw, FileContext("wiki", "wikipedia", str(dump), dump.name))
                  if isinstance(d, dict)]
    for book in books:
        with open(book, "rb") as raw:
            texts += [d["text"] for d in READERS["gutenberg"](raw, FileContext("pg", "gutenberg", str(book), book.name))]
    return [normalise_text(t) for t in texts]


def web_files(run: Path) -> list[Path]:
    """The run's document then reject shards, as its manifest lists them, once schemas.run_manifest.verify_run
    has found the run finished and those files with their sha256 (else IncompleteRun)."""
    manifest = verify_run(str(run), hash_kinds=("documents", "rejects"))
    listed = sorted(manifest["files"], key=lambda f: f["path"])
    return [run / f["path"] for kind in ("documents", "rejects") for f in listed if f.get("kind") == kind]


def web_texts(run: Path) -> list[str]:
    texts = []
    for path in web_files(run):
        table = pq.read_table(path, columns=["text", "format"])
        texts += [t for t, f in zip(table.column("text").to_pylist(), table.column("format").to_pylist())
                  if f in WEB_FORMATS and t]
    return texts


def train(run: Path, data_dir: Path, output: Path, seed: int = 1) -> dict:
    rng = random.Random(seed)
    negative = [p for t in web_texts(run) for p in passages(t)]  # first: the run is checked before the slow part
    positive = [p for t in reference_texts(data_dir) for p in passages(t)]
    if not positive or not negative:
        raise UsageError(f"need both classes: {len(positive)} reference and {len(negative)} web passages "
                         f"(web text: WARC, WET and JSONL documents of {run})")
    n = min(len(positive), len(negative))
    positive, negative_sample = rng.sample(positive, n), rng.sample(negative, n)
    lines = [f"{POSITIVE} {model_input(p)}" for p in positive] + [f"{NEGATIVE} {model_input(p)}" for p in negative_sample]
    rng.shuffle(lines)
    output.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        train_file = Path(tmp) / "quality_classifier_train.txt"
        train_file.write_text("\n".join(lines) + "\n", encoding="utf-8")
        # fastText 0.9.3 keeps state between trainings in one process (a third training on the same
        # file here ends in "Encountered NaN"); each training gets a fresh process.
        subprocess.run([sys.executable, "-m", "pipelines.train_quality_classifier", "--fit", str(train_file), str(output)],
                       check=True)

    scorer = QualityClassifier(model=str(output))
    pool = sorted(scorer.score(p) for p in negative)
    thresholds = {f"{f:g}": pool[min(len(pool) - 1, int(len(pool) * (1 - f)))] for f in TOP_FRACTIONS}
    meta = {
        "model": str(output), "sha256": hashlib.sha256(output.read_bytes()).hexdigest(),
        "params": PARAMS, "seed": seed, "run": str(run), "data_dir": str(data_dir),
        "passages": {"reference": len(positive), "web_pool": len(negative), "web_used": n},
        "calibration": {"pool": "web passages of the run", "top_fraction_thresholds": thresholds},
    }
    Path(str(output) + ".json").write_text(json.dumps(meta, indent=2))
    return meta


def _fit(train_file: str, output: str) -> None:
    import fasttext

    fasttext.FastText.eprint = lambda *args, **kwargs: None
    fasttext.train_supervised(input=train_file, verbose=0, **PARAMS).save_model(output)


@cli_main()
def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--fit"]:  # internal: one training in this fresh process
        _fit(*argv[1:3])
        return 0
    parser = OneLineParser(prog="python -m pipelines.train_quality_classifier", description=__doc__.split("\n")[0])
    parser.add_argument("--run", required=True, help="a curation run directory (negatives: its web text)")
    parser.add_argument("--data-dir", default="../shared/data", help="reference text (Wikipedia, books)")
    parser.add_argument("--output", default="models/quality_fasttext.bin")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    if Path(args.output).is_dir():
        raise UsageError(f"--output {args.output} is a directory; give the model file to write")
    reference_files(Path(args.data_dir))
    meta = train(Path(args.run), Path(args.data_dir), Path(args.output), args.seed)
    print(json.dumps({k: meta[k] for k in ("model", "passages", "calibration")}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
