"""Curation: raw sources -> zstd Parquet shards by language, with rejects, quarantine, stats, manifest.

    python -m pipelines.curate --config RECIPE --output DIR [options] [Beam options]
    python -m pipelines.curate --input GLOB [--input GLOB ...] --output DIR [options] [Beam options]

Flow (docs/scale.md): read -> extract -> normalise -> langid -> quality [-> decontaminate] -> dedup ->
boilerplate lines -> pii -> write.
Standard Beam options pass through (`--runner DataflowRunner --project ... --temp_location gs://...`);
without `--runner` the local FnApiRunner is used.
"""

import datetime
import hashlib
import importlib.metadata
import json
import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass

from pipelines.options import UnknownOptions, beam_options  # first: it quiets a warning Beam logs on import
import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.options.pipeline_options import DirectOptions, PipelineOptions, StandardOptions

from filters.langid import ModelNotFound, check_languages, default_model_path
from filters.presets import load_preset
from pipelines import accounting, outputs
from pipelines.config import ConfigError, CurateConfig, absolute, build_config, load_recipe
from pipelines.option_fields import add_arguments, given
from pipelines.progress import report_progress
from dedup.minhash import RECALL_WEIGHTS, MinHasher, lsh_params
from pipelines.transforms.boilerplate import StripBoilerplate
from pipelines.transforms.deduplicate import Deduplicate, stages_of as dedup_stages
from pipelines.transforms.materialise import INDEX, ApplyDecisions, MergeShards
from pipelines.transforms.near_dedup import NearClusters
from pipelines.transforms.metrics import query_counters
from pipelines.transforms.read import ReadSources, match_files
from pipelines.transforms.spill import (EVIDENCE, FILES, NODES, SIZES, SUMMARIES, DedupPlan, Sketcher,
                                       SpillDocuments, SpillRows)
from filters.pii import PiiRedactor
from pipelines.transforms.stages import Decontaminate, Extract, LanguageId, Normalise, Quality, RedactPii, apply_stage
from pipelines.transforms.write import WriteShards, by_id, no_partition
from schemas import DOCUMENT_SCHEMA, INDEX_SCHEMA, QUARANTINE_SCHEMA, REJECT_SCHEMA, SCHEMA_VERSION
from schemas.dataset_card import curation_card
from schemas.errors import IncompleteRun, OneLineParser, UsageError, cli_main
from schemas.run_manifest import ALL_KINDS, verify_run


def _stage_partition(row):
    return f"stage={row['stage']}"


def stages_run(config: CurateConfig) -> tuple[str, ...]:
    """The run's stages, in order (accounting.STAGES lists them all)."""
    skipped = {"boilerplate": not config.boilerplate_lines, "exact_dedup": config.dedup == "none",
               "near_dedup": config.dedup != "minhash", "pii": not config.pii, "decontaminate": not config.decontaminate}
    return tuple(s for s in accounting.STAGES if not skipped.get(s, False))


def _spread_records(options: PipelineOptions, sources) -> bool:
    """Whether records are spread across workers after reading (when --no-reshuffle is not given).
    A distributed runner: yes, so a few large files still use every worker (its shuffle is on disk).
    The local runner: only with more than one worker and too few files to spread those instead, since
    its shuffle holds every record in memory."""
    direct = options.view_as(DirectOptions)
    if str(options.view_as(StandardOptions).runner) not in ("FnApiRunner", "DirectRunner", "None"):
        return True
    workers = direct.direct_num_workers or 1
    if workers == 1 or direct.direct_running_mode in (None, "in_memory"):
        return False
    return sum(len(match_files(spec.glob)) for spec in sources) < 8 * workers


def build(pipeline: beam.Pipeline, config: CurateConfig, filter_chain, chains_by_source=None,
          index: list[str] = ()) -> None:
    """The curation graph on `pipeline`; all outputs are files under config.output. `index`: the files
    of the dedup index's parts to dedup against, as index_files found them before the output was
    prepared.

    Documents cross no shuffle: the per-document stages spill them (and every reject and quarantine
    row) to row files; dedup decides on compact records; the decisions meet the rows once per
    spill file, where boilerplate lines and PII are removed; the shards are merged from sorted pieces
    (pipelines.transforms.spill, deduplicate, materialise)."""
    out = config.output
    reshuffle = config.reshuffle
    if reshuffle is None:
        reshuffle = _spread_records(pipeline.options, config.sources)
    docs, rejects, quarantine = pipeline | "Read" >> ReadSources(list(config.sources), config.max_doc_bytes,
                                                                 reshuffle)
    files, sizes = [], []

    def spill(rows, kind: str, label: str):
        """Rows of rejects or quarantine, straight to row files where they are made."""
        partition = _stage_partition if kind == "rejects" else (lambda row: None)
        written = rows | f"Spill{label}" >> beam.ParDo(SpillRows(out, kind, partition)).with_outputs(FILES, SIZES)
        files.append(written[FILES])
        sizes.append(written[SIZES])

    spill(rejects, "rejects", "ReadRejects")
    spill(quarantine, "quarantine", "ReadQuarantine")
    stages = [
        Extract(config.extractor, config.extract_timeout_s),
        Normalise(),
        LanguageId(config.lid_model, config.languages, config.min_lang_score),
        Quality(filter_chain, chains_by_source),
    ] + ([Decontaminate(_decontamination_files(config), config.decontaminate_ngram)] if config.decontaminate else [])
    for stage in stages:
        docs, rejected, quarantined = apply_stage(docs, stage)
        label = stage.name.capitalize()
        spill(rejected, "rejects", f"{label}Rejects")
        spill(quarantined, "quarantine", f"{label}Quarantine")

    near, sketcher, plan = None, Sketcher(), None
    if config.dedup == "minhash":
        params = dedup_params(config)
        near = NearClusters(FileSystems.join(out, outputs.WORK), params["bands"], params["rows"], config.dedup_verify,
                            params["verify_threshold"], config.dedup_components, config.dedup_rounds,
                            config.dedup_fanout, index_files=list(index))
        sketcher = Sketcher(MinHasher(config.dedup_num_perm, config.dedup_ngram), params["bands"], params["rows"],
                            keep_signature=config.dedup_verify is not None or bool(config.dedup_index),
                            keep_shingles=config.dedup_verify == "exact")
    if config.dedup != "none" or config.boilerplate_lines:
        plan = DedupPlan(sketcher, lines=bool(config.boilerplate_lines), verify=config.dedup_verify is not None,
                         by_text=config.dedup != "none")
    spilled = docs | "SpillDocuments" >> beam.ParDo(SpillDocuments(out, plan)).with_outputs(
        FILES, SIZES, SUMMARIES, NODES, EVIDENCE)
    files.append(spilled[FILES])
    sizes.append(spilled[SIZES])
    clusters = common = None
    if plan is not None:
        decided = ((spilled[SUMMARIES], spilled[NODES], spilled[EVIDENCE])
                   | "Deduplicate" >> Deduplicate(config.dedup, near, config.boilerplate_lines))
        sizes.append(decided.sizes)
        clusters, common = decided.clusters, decided.common_lines

    # After dedup: a line's count is of distinct documents, so a page with N mirrors or near copies
    # does not make its own lines "common" and lose them all.
    after = ([StripBoilerplate()] if config.boilerplate_lines else []) + ([RedactPii(PiiRedactor())] if config.pii else [])
    write_index = config.dedup == "minhash" and bool(config.dedup_index)
    partition_sizes = sizes | "AllSizes" >> beam.Flatten() | "PartitionSizes" >> beam.CombinePerKey(sum)
    applied = (files
               | "AllSpillFiles" >> beam.Flatten()
               | "SpreadSpillFiles" >> beam.Reshuffle()
               | "ApplyDecisions" >> beam.ParDo(
                   ApplyDecisions(out, config.shard_bytes, dedup_stages(config.dedup), after,
                                  plan if config.dedup != "none" else None, sketcher if write_index else None),
                   sizes=beam.pvalue.AsDict(partition_sizes), common=beam.pvalue.AsDict(_or_empty(pipeline, common, "Common")),
                   clusters=beam.pvalue.AsDict(_or_empty(pipeline, clusters, "Clusters"))).with_outputs(INDEX, main="pieces"))
    (applied.pieces
     | "PiecesPerShard" >> beam.GroupByKey()
     | "MergeShards" >> beam.ParDo(MergeShards(out, {"documents": DOCUMENT_SCHEMA, "rejects": REJECT_SCHEMA,
                                                     "quarantine": QUARANTINE_SCHEMA})))
    if write_index:  # into the run first; the driver adds them to the index if the run succeeds
        applied[INDEX] | "WriteIndex" >> WriteShards(out, "dedup_index", INDEX_SCHEMA, no_partition, by_id, config.shard_bytes)


def _decontamination_files(config: CurateConfig) -> tuple[str, ...]:
    """The evaluation files the decontaminate globs match, each once, sorted."""
    return tuple(sorted({path for glob in config.decontaminate for path in match_files(glob)}))


def _or_empty(pipeline, pcoll, label: str):
    return pcoll if pcoll is not None else pipeline | f"No{label}" >> beam.Create([])


_INDEX_PARAMS = ("num_perm", "bands", "rows", "ngram", "char_ngram", "seed", "scheme", "shingle_hash", "band_hash")


def _index_run(config: CurateConfig) -> str:
    """The index folder of this run's documents: named after the output, so a rerun replaces it."""
    return "run=" + hashlib.sha256(config.output.encode()).hexdigest()[:12]


def _inside(path: str, folder: str) -> bool:
    """`path` is `folder` or lies under it (local paths resolved, links too; URIs by prefix)."""
    if "://" not in path and "://" not in folder:
        path, folder = os.path.realpath(path), os.path.realpath(folder)
    return path.rstrip("/") == folder.rstrip("/") or path.startswith(folder.rstrip("/") + "/")


_PART_UNFINISHED = (
    "a part copied into the index before parts had a manifest, or one whose copying did not finish. "
    "Seal it from the run that added it (the folder is run=<first 12 hex digits of the sha256 of that "
    "run's absolute output path>): `python -m pipelines.curate --output RUN --seal-index-part` checks the "
    "part's files against RUN's manifest.json and writes the part's; or rerun RUN with --overwrite; or "
    "delete the folder (its documents are then no longer deduplicated against)")


def _index_parts(index_dir: str) -> list[str]:
    pattern = FileSystems.join(index_dir, "parts", "*", "*")
    return sorted({m.path.rsplit("/", 1)[0] for m in FileSystems.match([pattern])[0].metadata_list})


def _read_params(index_dir: str) -> dict | None:
    path = FileSystems.join(index_dir, "params.json")
    if not FileSystems.exists(path):
        return None
    with FileSystems.open(path) as fh:
        try:
            return json.loads(fh.read())
        except ValueError as exc:
            raise ConfigError(f"{path} is not JSON ({exc}): the index's settings are unknown") from None


def index_files(config: CurateConfig, params: dict) -> list[str]:
    """The files of the dedup index's parts this run dedups against: every part but its own (a rerun
    replaces that one). Called before the output folder is touched, it reads and writes nothing else:
    the index must not lie in the output folder, must be built with the same MinHash settings
    (params.json), and each part must be whole: its manifest.json (written last by publish_index)
    lists every file, with its size and sha256, and nothing else lies beside them. Else ConfigError or
    IncompleteRun, naming the index or the part. A new index (no params.json yet) gives no files;
    publish_index writes its settings once the run has succeeded."""
    index_dir, output = config.dedup_index, config.output
    if _inside(index_dir, output):
        raise ConfigError(f"--dedup-index {index_dir} lies inside the output {output}: --overwrite would "
                          f"delete it, and it would mix with the run's own dedup_index/ shards; keep it apart")
    parts = [p for p in _index_parts(index_dir) if p != FileSystems.join(index_dir, "parts", _index_run(config))]
    saved = _read_params(index_dir)
    if saved is None:
        if parts:
            raise ConfigError(f"{index_dir} has parts but no params.json: the MinHash settings they were built "
                              f"with are unknown")
        return []
    settings = {k: params[k] for k in _INDEX_PARAMS}
    if saved != settings:
        raise ConfigError(f"{index_dir} was built with other MinHash settings: {saved} != {settings}")
    files = []
    for part in parts:  # NearDedup reads every file of every part: each is hashed
        manifest = verify_run(part, folders=("",), unfinished=_PART_UNFINISHED, hash_kinds=ALL_KINDS)
        files += [FileSystems.join(part, f["path"]) for f in manifest["files"]]
    return sorted(files)


def _part_entries(files: list[dict]) -> list[dict]:
    """An index part's manifest entries: the run's index shards (`files`: its manifest entries), by name."""
    return [{"path": f["path"].rsplit("/", 1)[1], **{k: f[k] for k in ("rows", "bytes", "sha256")}}
            for f in files if f["kind"] == "dedup_index"]


def publish_index(config: CurateConfig, files: list[dict]) -> list[str]:
    """Copy the run's index parts (`files`: the run's manifest entries) into the index, replacing this
    run's earlier ones; a new index gets its settings (params.json) first. The part's manifest.json
    goes first and comes back last, listing each file's size and sha256, so a reader (index_files)
    never takes a part whose copying did not finish."""
    if _read_params(config.dedup_index) is None:
        params = dedup_params(config)
        outputs.write_json(config.dedup_index, "params.json", {k: params[k] for k in _INDEX_PARAMS})
    target = FileSystems.join(config.dedup_index, "parts", _index_run(config))
    manifest = FileSystems.join(target, "manifest.json")
    if FileSystems.exists(manifest):
        FileSystems.delete([manifest])
    old = FileSystems.match([FileSystems.join(target, "part-*.parquet")])[0].metadata_list
    if old:
        FileSystems.delete([m.path for m in old])
    entries = _part_entries(files)
    sources = [FileSystems.join(config.output, f["path"]) for f in files if f["kind"] == "dedup_index"]
    destinations = [FileSystems.join(target, entry["path"]) for entry in entries]
    if sources:
        if not FileSystems.exists(target):
            FileSystems.mkdirs(target)  # a no-op on object stores; local copies need the folder
        FileSystems.copy(sources, destinations)
        outputs.write_json(target, "manifest.json", {"complete": True, "run": config.output, "files": entries})
    return destinations


def seal_index_part(run: str, index_dir: str | None = None) -> str:
    """Write the manifest.json of the dedup-index part that the finished run at `run` added (in
    `index_dir`, else the index its manifest names), once the part's files are checked against the
    run's manifest: every index shard it lists, with its size and sha256, and no other. For parts
    copied before parts had a manifest, which index_files refuses. Returns the part's folder; one
    already sealed is checked, not written again."""
    run = absolute(run)
    manifest = verify_run(run, hash_kinds=())  # the part's files are hashed against it below
    added = (manifest.get("dedup_index") or {}).get("added") or []
    folders = {path.rsplit("/", 1)[0] for path in added}
    if len(folders) != 1:
        raise UsageError(f"{run} added {'no part' if not folders else 'several parts'} to a dedup index "
                         f"(its manifest.json lists {len(added)} files added): nothing to seal")
    part = folders.pop()
    if index_dir:
        part = FileSystems.join(index_dir, "parts", part.rsplit("/", 1)[1])
    if not FileSystems.match([FileSystems.join(part, "part-*.parquet")])[0].metadata_list:
        raise UsageError(f"{part} holds none of the index files {run} added: nothing to seal")
    if not FileSystems.exists(FileSystems.join(part, "manifest.json")):
        written_by = manifest.get("config", {}).get("output", run)
        outputs.write_json(part, "manifest.json", {"complete": True, "run": written_by,
                                                   "files": _part_entries(manifest["files"]), "sealed": True})
        try:
            verify_run(part, folders=("",), hash_kinds=ALL_KINDS)
        except IncompleteRun as exc:
            FileSystems.delete([FileSystems.join(part, "manifest.json")])
            raise IncompleteRun(f"{exc}; its files are not those {run} added: rerun {run} with --overwrite, "
                                f"or delete {part}") from None
    else:
        verify_run(part, folders=("",), hash_kinds=ALL_KINDS)
    return part


def dedup_params(config: CurateConfig) -> dict:
    """Everything that determines the near-dedup clusters, for the graph and the manifest."""
    if config.dedup_threshold:
        # Verification removes false positives afterwards, so the bands then lean to recall.
        weights = RECALL_WEIGHTS if config.dedup_verify else (0.5, 0.5)
        bands, rows = lsh_params(config.dedup_threshold, config.dedup_num_perm, weights)
    else:
        bands, rows = 14, 8  # FineWeb's
        if bands * rows > config.dedup_num_perm:
            raise ConfigError("14 bands x 8 rows need dedup_num_perm >= 112 (or set dedup_threshold)")
    threshold = config.dedup_threshold or (1 / bands) ** (1 / rows)
    hasher = MinHasher(config.dedup_num_perm, config.dedup_ngram)
    return {"mode": config.dedup, "num_perm": config.dedup_num_perm, "bands": bands, "rows": rows,
            "threshold": round(threshold, 4), "verify": config.dedup_verify,
            "verify_threshold": threshold if config.dedup_verify else None,
            "ngram": config.dedup_ngram, "char_ngram": hasher.char_ngram, "seed": hasher.seed,
            "scheme": "datasketch affine32", "shingle_hash": "xxh32 of each unit, combined mod 2**32",
            "band_hash": "xxh3_64 of the band's rows, seeded with the band index",
            "components": config.dedup_components, "rounds": config.dedup_rounds}


@dataclass
class RunResult:
    config: CurateConfig
    stats: dict
    manifest: dict | None
    problems: list[str]


def _check_beam_args(beam_args: list[str]) -> PipelineOptions:
    try:
        return beam_options(beam_args)
    except UnknownOptions as e:
        raise ConfigError(str(e)) from None


def _check_language_model(path: str, languages: tuple[str, ...]) -> None:
    """The model loads, and knows every language asked for. One on an object store (gs://...) is fetched
    to check it, as the workers fetch it."""
    if "://" not in path:
        check_languages(languages, path)
        return
    try:
        exists = FileSystems.exists(path)
    except ValueError as exc:  # no filesystem for the scheme: its Beam extra is not installed
        raise ConfigError(f"language model {path} cannot be read: {exc}") from None
    if not exists:
        raise ConfigError(f"language model {path} does not exist")
    with tempfile.TemporaryDirectory(prefix="lid-check-") as folder:
        local = os.path.join(folder, path.rsplit("/", 1)[-1])
        with FileSystems.open(path, compression_type="uncompressed") as src, open(local, "wb") as dst:
            shutil.copyfileobj(src, dst)
        try:
            check_languages(languages, local)
        except ModelNotFound as exc:
            raise ConfigError(str(exc).replace(local, path)) from None


def _check_sources(config: CurateConfig) -> list[dict]:
    """Every glob must match at least one file, the sources' and the evaluation texts'."""
    for path in config.decontaminate:
        if not match_files(path):
            raise ConfigError(f"decontaminate: {path!r} matches no files")
    matched = []
    for spec in config.sources:
        paths = match_files(spec.glob)
        if not paths:
            raise ConfigError(f"source {spec.name!r}: {spec.glob!r} matches no files")
        matched.append({"name": spec.name, "type": spec.type, "glob": spec.glob, "files": len(paths)})
    return matched


def run(argv: list[str] | None = None) -> RunResult:
    args, beam_args = parse_args(argv)
    recipe = load_recipe(args.config) if args.config else None
    overrides = given(args, CurateConfig)
    config = build_config(recipe, args.input or [], args.output, overrides)
    return run_config(config, beam_args, argv=sys.argv if argv is None else argv, progress=not args.quiet)


def run_config(config: CurateConfig, beam_args: list[str] | None = None, argv: list[str] | None = None,
               progress: bool = False) -> RunResult:
    """progress: report reading progress on stderr while the pipeline runs (pipelines.progress)."""
    options = _check_beam_args(list(beam_args or []))
    preset, chain = load_preset(config.filters)
    source_presets = {s.name: load_preset(s.filters) for s in config.sources if s.filters}
    lid_model = config.lid_model or default_model_path()
    _check_language_model(lid_model, config.languages)
    matched = _check_sources(config)
    index = index_files(config, dedup_params(config)) if config.dedup == "minhash" and config.dedup_index else []
    outputs.prepare_output(config.output, config.overwrite, [spec.glob for spec in config.sources])

    started = time.time()
    pipeline = beam.Pipeline(options=options)
    build(pipeline, config, chain, {name: c for name, (_, c) in source_presets.items()}, index)
    with report_progress(config, options, enabled=progress):
        result = pipeline.run()
        result.wait_until_finish()
    finished = time.time()
    outputs.remove_temporaries(config.output)  # of bundles that failed and were retried
    outputs.remove_work(config.output)

    stats = accounting.build_stats(query_counters(result), stages_run(config))
    stats["seconds"] = round(finished - started, 3)
    outputs.write_json(config.output, "stats.json", stats)
    outputs.close_shard_gaps(config.output)
    files = outputs.list_outputs(config.output)
    problems = accounting.check_stats(stats, config.allow_empty) + accounting.check_files(stats, files)
    manifest = None
    if not problems:
        manifest = {
            "schema_version": SCHEMA_VERSION,
            "complete": True,
            "fingerprint": outputs.fingerprint(files),
            "created": datetime.datetime.fromtimestamp(finished, datetime.timezone.utc).isoformat(),
            "seconds": round(finished - started, 3),
            "argv": argv,
            "runner": str(options.view_as(StandardOptions).runner),
            "versions": _versions("apache-beam", "pyarrow", "fasttext", "resiliparse", "trafilatura", "ftfy",
                                  "warcio", "mwparserfromhell"),
            "config": config.to_json(),
            "dedup": dedup_params(config) if config.dedup == "minhash" else {"mode": config.dedup},
            "filters": preset,
            "source_filters": {name: spec for name, (spec, _) in source_presets.items()},
            "lid_model": {"path": lid_model, "sha256": outputs.sha256_of(lid_model)},
            "sources": matched,
            "totals": stats["totals"],
            "files": files,
        }
        if config.dedup == "minhash" and config.dedup_index:
            manifest["dedup_index"] = {"dir": config.dedup_index, "added": publish_index(config, files)}
        manifest["card"] = outputs.write_card(config.output, curation_card(files))  # README.md: configs for datasets
        outputs.write_json(config.output, "manifest.json", manifest)
    return RunResult(config=config, stats=stats, manifest=manifest, problems=problems)


def _versions(*packages: str) -> dict:
    out = {}
    for package in packages:
        try:
            out[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            out[package] = None
    return out


def parse_args(argv: list[str] | None):
    parser = OneLineParser(
        prog="python -m pipelines.curate", allow_abbrev=False,
        description="Curate raw text sources into zstd Parquet shards. Unrecognised options go to Beam.")
    parser.add_argument("--config", help="YAML recipe naming the sources (see configs/recipes/)")
    parser.add_argument("--input", action="append", metavar="[NAME=]GLOB",
                        help="a source in quick form, type inferred from file names (repeatable)")
    parser.add_argument("--output", required=True, help="run directory (local path or gs:// prefix)")
    add_arguments(parser, CurateConfig)  # the run options, declared once on CurateConfig
    parser.add_argument("--quiet", action="store_true", help="no progress report while the run reads its input")
    parser.add_argument("--seal-index-part", action="store_true",
                        help="run nothing: write the manifest.json of the dedup-index part that the finished run "
                             "in --output added (in --dedup-index DIR if given), after checking its files against "
                             "the run's manifest; for parts copied before parts had one")
    return parser.parse_known_args(argv)


@cli_main(outputs.OutputNotEmpty)
def main(argv: list[str] | None = None) -> int:
    """Mistakes in the command line or the recipe (schemas.errors.UsageError) are one line on stderr and
    exit code 2, found before any output folder is created or cleared; a run that fails its checks
    exits 1."""
    args, _ = parse_args(argv)
    if args.seal_index_part:
        part = seal_index_part(args.output, absolute(args.dedup_index) if args.dedup_index else None)
        print(f"{part}: sealed (manifest.json lists the files {args.output} added)")
        return 0
    result = run(argv)
    print(accounting.funnel_text(result.stats))
    if result.problems:
        print("\nRun FAILED; manifest.json not written:", file=sys.stderr)
        for problem in result.problems:
            print(f"  - {problem}", file=sys.stderr)
        return 1
    print(f"\n{len(result.manifest['files'])} files in {result.config.output} "
          f"(fingerprint {result.manifest['fingerprint'][:16]}, {result.manifest['seconds']:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
