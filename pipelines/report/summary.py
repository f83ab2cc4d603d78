"""A run's figures, from its own files: stats.json, manifest.json, shards, rejects, token manifest,
training log.

Columns are read with pyarrow a file at a time and reduced at once (histograms, counts, the first
rows by id), so memory follows the largest file, not the run, and summary.json stays small: signals
are stored as histograms, never as values. Samples of documents are the first ids in sort order (ids
are hashes, so that is an unbiased sample that a rerun picks again).
"""

import json
import re
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from pipelines.accounting import RENAMED_STAGES, STAGES, current_stats, stage_name
from schemas.run_manifest import verify_run
from schemas.signals import SIGNALS

TEXT_SAMPLE_CHARS = 600
BINS = 40
_DETAIL = re.compile(r"^(\w+)=(\S+) ([<>]=?) (\S+)$")  # filters.rules: "signal=value op threshold"
_QUALITY_ON = STAGES[STAGES.index("quality"):]  # the stages after the filters ran
_DEDUP = ("exact_dedup", "near_dedup")


def _table(path: Path, columns: list[str]) -> pa.Table:
    """Those of `columns` the file has; stage names as they are today (an old run's `dedup` is
    `exact_dedup`)."""
    names = pq.read_schema(path).names
    table = pq.read_table(path, columns=[c for c in columns if c in names])
    if "stage" in table.column_names:
        stage = table["stage"]
        for old, new in RENAMED_STAGES.items():
            stage = pc.if_else(pc.equal(stage, old), new, stage)
        table = table.set_column(table.column_names.index("stage"), "stage", stage)
    return table


def _clip(text: str | None) -> str:
    text = text or ""
    return text if len(text) <= TEXT_SAMPLE_CHARS else text[:TEXT_SAMPLE_CHARS] + " [...]"


def _of_stages(reject_files, stages) -> list[Path]:
    """The reject shards of these stages (rejects are partitioned `NAME/`; `stage=NAME/` in runs from before)."""
    return [path for path in reject_files if stage_name(path.parent.name.removeprefix("stage=")) in stages]


def _texts(paths, ids: set[str]) -> dict[str, str]:
    """The texts of these ids; shards are sorted by id, so the filter skips most row groups unread."""
    found = {}
    if not ids:
        return found
    for path in paths:
        table = pq.read_table(path, columns=["id", "text"], filters=[("id", "in", sorted(ids))])
        found.update(zip(table["id"].to_pylist(), table["text"].to_pylist()))
    return found


def _signal_columns(doc_files, reject_files):
    """Per file, the signals struct of the documents the quality filters saw (kept, or rejected by
    the quality stage or a later one)."""
    for path in doc_files:
        yield _table(path, ["signals"])["signals"].combine_chunks()
    for path in _of_stages(reject_files, _QUALITY_ON):
        table = _table(path, ["stage", "signals"])
        table = table.filter(pc.is_in(table["stage"], value_set=pa.array(_QUALITY_ON)))
        if table.num_rows:
            yield table["signals"].combine_chunks()


def _values(struct, name: str) -> np.ndarray:
    if struct.type.get_field_index(name) < 0:  # a run written before this signal existed
        return np.zeros(0)
    return pc.drop_null(struct.field(name)).to_numpy(zero_copy_only=False).astype(np.float64)


def signal_figures(doc_files, reject_files, quality_in: int) -> dict:
    """Per signal: a histogram of its values over every document the quality filters saw, the
    thresholds applied (from the rejects' details) and the share of those documents each removed.
    Two passes over the signal columns: the range, then the counts."""
    low, high, seen = {}, {}, Counter()
    for struct in _signal_columns(doc_files, reject_files):
        for name in SIGNALS:
            values = _values(struct, name)
            if len(values):
                low[name] = min(low.get(name, np.inf), values.min())
                high[name] = max(high.get(name, -np.inf), values.max())
                seen[name] += len(values)
    edges = {name: np.linspace(low[name], high[name] if high[name] > low[name] else low[name] + 1, BINS + 1)
             for name in seen}
    counts = {name: np.zeros(BINS, np.int64) for name in seen}
    for struct in _signal_columns(doc_files, reject_files):
        for name in seen:
            counts[name] += np.histogram(_values(struct, name), bins=edges[name])[0]
    thresholds = defaultdict(dict)
    for path in _of_stages(reject_files, ["quality"]):
        table = _table(path, ["stage", "reason", "detail"])
        table = table.filter(pc.equal(table["stage"], "quality"))
        groups = table.group_by("reason", use_threads=False)  # "first" needs ordered, one-thread grouping
        for row in groups.aggregate([("detail", "first"), ("reason", "count")]).to_pylist():
            match = _DETAIL.match(row["detail_first"] or "")
            if match:
                signal, _, op, threshold = match.groups()
                entry = thresholds[signal].setdefault(row["reason"], {"op": op, "threshold": threshold, "removed": 0})
                entry["removed"] += row["reason_count"]
    return {name: {"meaning": SIGNALS[name][1], "documents": seen[name], "edges": edges[name].tolist(),
                   "counts": counts[name].tolist(),
                   "thresholds": [{"reason": reason, **t, "share_removed": round(t["removed"] / max(1, quality_in), 4)}
                                  for reason, t in sorted(thresholds.get(name, {}).items())]}
            for name in SIGNALS if name in seen}


def _dedup_rejects(path: Path) -> pa.Table:
    table = _table(path, ["id", "stage", "duplicate_of"])
    return table.filter(pc.and_(pc.is_in(table["stage"], value_set=pa.array(_DEDUP)),
                                pc.is_valid(table["duplicate_of"])))


def dedup_figures(doc_files, reject_files, stages: dict, clusters: int) -> dict:
    sizes = Counter()
    for path in doc_files:
        column = _table(path, ["dedup_cluster_size"])["dedup_cluster_size"]
        for row in pc.value_counts(pc.fill_null(column, 1)).to_pylist():
            sizes[int(row["values"])] += row["counts"]
    removed_by_keeper, chosen = Counter(), {}
    reject_files = _of_stages(reject_files, _DEDUP)
    for path in reject_files:
        table = _dedup_rejects(path)
        for row in table.group_by(["stage", "duplicate_of"]).aggregate([("id", "count")]).to_pylist():
            removed_by_keeper[(row["stage"], row["duplicate_of"])] += row["id_count"]
    # The largest near-duplicate clusters first (exact ones when there are none), ties by kept id.
    ranked = sorted(removed_by_keeper.items(), key=lambda kv: (kv[0][0] != "near_dedup", -kv[1], kv[0][1]))
    for (stage, keeper), _ in ranked[:clusters]:
        chosen[keeper] = []
    for path in reject_files:
        table = _dedup_rejects(path)
        table = table.filter(pc.is_in(table["duplicate_of"], value_set=pa.array(sorted(chosen), pa.string())))
        for doc_id, keeper in zip(table["id"].to_pylist(), table["duplicate_of"].to_pylist()):
            chosen[keeper].append(doc_id)
    shown = [(stage, keeper, [keeper] + sorted(chosen[keeper])[:2], n + 1)
             for (stage, keeper), n in ranked[:clusters]]
    wanted = {i for _, _, ids, _ in shown for i in ids}
    texts = {**_texts(doc_files, wanted), **_texts(reject_files, wanted)}
    entering = stages.get("exact_dedup", {}).get("in", 0)
    removed = {s: sum(stages.get(s, {}).get("rejected", {}).values()) for s in _DEDUP}
    return {"cluster_sizes": {str(k): v for k, v in sorted(sizes.items())}, "entering": entering,
            "removed": removed, "share_removed": round(sum(removed.values()) / max(1, entering), 4),
            "sample_clusters": [{"stage": stage, "keeper": keeper, "size": size,
                                 "documents": [{"id": i, "role": "kept" if i == keeper else "removed",
                                                "text": _clip(texts.get(i))} for i in ids]}
                                for stage, keeper, ids, size in shown]}


def reject_samples(reject_files, per_reason: int) -> list[dict]:
    """Per (stage, reason): the count and the first `per_reason` rejects by id."""
    counts, first = Counter(), defaultdict(list)
    columns = ["id", "source", "url", "stage", "reason", "detail"]
    for path in reject_files:
        table = _table(path, columns)
        for row in table.group_by(["stage", "reason"]).aggregate([("id", "count")]).to_pylist():
            key = (row["stage"], row["reason"])
            counts[key] += row["id_count"]
            rows = table.filter(pc.and_(pc.equal(table["stage"], key[0]), pc.equal(table["reason"], key[1])))
            rows = rows.sort_by("id").slice(0, per_reason).to_pylist()
            first[key] = sorted(first[key] + rows, key=lambda r: r["id"])[:per_reason]
    texts = _texts(reject_files, {r["id"] for rows in first.values() for r in rows})
    return [{"stage": stage, "reason": reason, "count": counts[(stage, reason)],
             "samples": [{"id": r["id"], "source": r.get("source"), "url": r.get("url"), "detail": r.get("detail"),
                          "text": _clip(texts.get(r["id"]))} for r in first[(stage, reason)]]}
            for stage, reason in sorted(first)]


def token_figures(tokens: Path | None) -> dict | None:
    if not tokens or not (tokens / "manifest.json").exists():
        return None
    manifest = json.loads((tokens / "manifest.json").read_text())
    return {"dir": str(tokens), "fingerprint": manifest["fingerprint"],
            "tokenizer": {k: manifest["tokenizer"].get(k) for k in ("fingerprint", "vocab_size")},
            "splits": {name: {"rows": s["rows"], "tokens": s["tokens"],
                              "files": [{k: f[k] for k in ("path", "rows", "tokens", "bytes")} for f in s["files"]]}
                       for name, s in manifest["splits"].items()}}


def training_figures(train: Path | None) -> dict | None:
    if not train or not (train / "log.jsonl").exists():
        return None
    records = [json.loads(line) for line in (train / "log.jsonl").read_text().splitlines() if line.strip()]
    configs = [r for r in records if r.get("event") == "config"]
    steps = [r for r in records if "loss" in r]
    evals = [r for r in records if any(k.startswith("eval_") for k in r)]
    return {"dir": str(train), "config": configs[-1] if configs else None, "steps": steps, "evals": evals}


def build_summary(run: Path, tokens: Path | None = None, train: Path | None = None, per_reason: int = 3,
                  clusters: int = 3) -> dict:
    # A finished run, its files there at their sizes and the documents and rejects read here with their
    # sha256 (else IncompleteRun); the files read are those its manifest lists.
    manifest = verify_run(str(run), hash_kinds=("documents", "rejects"))
    stats = current_stats(json.loads((run / "stats.json").read_text()))
    listed = sorted(manifest["files"], key=lambda f: f["path"])
    doc_files = [run / f["path"] for f in listed if f.get("kind") == "documents"]
    reject_files = [run / f["path"] for f in listed if f.get("kind") == "rejects"]
    stages = {s["stage"]: s for s in stats["stages"]}
    return {
        "run": str(run),
        "fingerprint": manifest["fingerprint"],
        "created": manifest.get("created"),
        "totals": stats["totals"],
        "sources": stats["sources"],
        "stages": stats["stages"],
        "languages": {"identified": stats.get("languages_identified", {}), "kept": stats["languages"]},
        "signals": signal_figures(doc_files, reject_files, stages.get("quality", {}).get("in", 0)),
        "dedup": dedup_figures(doc_files, reject_files, stages, clusters),
        "rejects": reject_samples(reject_files, per_reason),
        "shards": [{k: f[k] for k in ("path", "kind", "rows", "bytes")} for f in manifest["files"]],
        "tokens": token_figures(tokens),
        "training": training_figures(train),
    }
