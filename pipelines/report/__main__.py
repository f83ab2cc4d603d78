"""python -m pipelines.report RUN_DIR [--tokens DIR] [--train DIR]   -> RUN_DIR/report.html, summary.json
python -m pipelines.report --compare A_DIR B_DIR                   -> the differences per stage and reason

The token shards and the training run default to RUN_DIR-tokens and RUN_DIR-train when they exist
(what make demo writes). The report reads the run's documents and rejects, so it checks their sha256
against the manifest; --compare prints counts from each run's summary.json or stats.json and reads no
shard, so it checks only that each run finished with its files there at their listed sizes (no
hashing).
"""

import json
import sys
from pathlib import Path

from pipelines.report import ablation
from pipelines.report.compare import compare
from pipelines.report.page import render
from pipelines.report.plots import draw_all
from pipelines.report.summary import build_summary
from schemas.errors import OneLineParser, UsageError, cli_main
from schemas.tokens import FORMAT
from schemas.run_manifest import verify_run

PLOTS = "report"  # the folder beside report.html


def write_report(run: Path, tokens: Path | None = None, train: Path | None = None) -> Path:
    tokens = tokens or (run.parent / f"{run.name}-tokens")
    train = train or (run.parent / f"{run.name}-train")
    summary = build_summary(run, tokens if tokens.exists() else None, train if train.exists() else None)
    plots = draw_all(summary, run / PLOTS)
    found = ablation.find(run)  # a variant of an ablation (pipelines.ablation): the Ablation section
    if found:
        summary["ablation"] = found
    (run / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    page = run / "report.html"
    page.write_text(render(summary, PLOTS, plots), encoding="utf-8")
    return page


def check_given(tokens: str | None, train: str | None) -> None:
    """--tokens and --train, when given, must be what they say: the defaults are used only if they
    exist, but a path the user typed is never skipped silently."""
    for flag, path, marker, what in (("--tokens", tokens, "manifest.json", "token shards (python -m pipelines.tokenize)"),
                                     ("--train", train, "log.jsonl", "a training run (python -m trainer.train)")):
        if path is None:
            continue
        if not Path(path).is_dir():
            raise UsageError(f"{flag} {path} " + ("is not a directory" if Path(path).exists() else "does not exist"))
        if not (Path(path) / marker).is_file():
            raise UsageError(f"{flag} {path} has no {marker}: not {what}")
    if tokens is not None:
        try:
            found = json.loads((Path(tokens) / "manifest.json").read_text()).get("format")
        except (ValueError, AttributeError):
            found = None
        if found != FORMAT:
            raise UsageError(f"--tokens {tokens}: its manifest.json is not of token shards ({FORMAT}), "
                             f"format {found!r}")


@cli_main()
def main(argv=None) -> int:
    parser = OneLineParser(prog="python -m pipelines.report", description=__doc__.split("\n")[0])
    parser.add_argument("run", nargs="?", help="curation run directory")
    parser.add_argument("--tokens", help="its token shards (default RUN-tokens if it exists)")
    parser.add_argument("--train", help="its training run (default RUN-train if it exists)")
    parser.add_argument("--compare", nargs=2, metavar=("A", "B"), help="print two runs' differences")
    args = parser.parse_args(argv)
    if args.compare:
        for run in args.compare:
            verify_run(run, hash_kinds=())  # finished runs, files at their sizes (else IncompleteRun, one line)
        print(compare(Path(args.compare[0]), Path(args.compare[1])))
        return 0
    if not args.run:
        parser.error("give a run directory, or --compare A B")
    check_given(args.tokens, args.train)
    page = write_report(Path(args.run), Path(args.tokens) if args.tokens else None,
                        Path(args.train) if args.train else None)
    print(f"report: {page}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
