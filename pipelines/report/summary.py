"""A run's figures, from its own files: stats.json, manifest.json, shards, rejects, token manifest,
training log. Samples of documents are chosen by id (ids are hashes, so the first ids by sort order
are an unbiased, repeatable sample)."""

import json
import re
from collections import Counter, defaultdict
from pathlib import Path

import pyarrow.parquet as pq

from schemas.signals import SIGNALS

TEXT_SAMPLE_CHARS = 600
_DETAIL = re.compile(r"^(\w+)=(\S+) ([<>]=?) (\S+)$")  # filters.rules: "signal=value op threshold"
_QUALITY_ON = ("quality", "boilerplate", "dedup", "near_dedup", "pii")  # stages after the filters ran


def _read(paths, columns) -> list[dict]:
    rows = []
    for path in paths:
        table = pq.read_table(path, columns=[c for c in columns if c in pq.read_schema(path).names])
        rows += table.to_pylist()
    return rows


def _texts(paths, ids: set[str]) -> dict[str, str]:
    found = {}
    for path in paths:
        table = pq.read_table(path, columns=["id", "text"])
        for doc_id, text in zip(table["id"].to_pylist(), table["text"].to_pylist()):
            if doc_id in ids:
                found[doc_id] = text
    return found


def _clip(text: str | None) -> str:
    text = text or ""
    return text if len(text) <= TEXT_SAMPLE_CHARS else text[:TEXT_SAMPLE_CHARS] + " [...]"


def signal_figures(docs: list[dict], rejects: list[dict], quality_in: int) -> dict:
    """Per signal: its values over every document the quality filters saw, the thresholds applied
    (from the rejects' details), and the share of those documents each threshold removed."""
    seen = [d.get("signals") or {} for d in docs] + [r.get("signals") or {} for r in rejects
                                                       if r["stage"] in _QUALITY_ON]
    thresholds: dict = defaultdict(dict)
    for r in rejects:
        match = _DETAIL.match(r.get("detail") or "") if r["stage"] == "quality" else None
        if match:
            signal, _, op, threshold = match.groups()
            entry = thresholds[signal].setdefault(r["reason"], {"op": op, "threshold": threshold, "removed": 0})
            entry["removed"] += 1
    out = {}
    for name in SIGNALS:
        values = [s.get(name) for s in seen if s.get(name) is not None]
        if not values:
            continue
        values = [float(v) for v in values]
        out[name] = {"meaning": SIGNALS[name][1], "documents": len(values), "values": values,
                     "thresholds": [{"reason": reason, **t, "share_removed": round(t["removed"] / max(1, quality_in), 4)}
                                    for reason, t in sorted(thresholds.get(name, {}).items())]}
    return out


def dedup_figures(docs: list[dict], rejects: list[dict], stages: dict, doc_files, reject_files,
                  clusters: int) -> dict:
    sizes = Counter(int(d.get("dedup_cluster_size") or 1) for d in docs)
    entering = stages.get("dedup", {}).get("in", 0)
    removed = {s: sum(stages.get(s, {}).get("rejected", {}).values()) for s in ("dedup", "near_dedup")}
    members = defaultdict(list)
    for r in rejects:
        if r["stage"] in ("near_dedup", "dedup") and r.get("duplicate_of"):
            members[(r["stage"], r["duplicate_of"])].append(r["id"])
    # The largest near-duplicate clusters first (exact ones when there are none), ties by keeper id.
    ranked = sorted(members.items(), key=lambda kv: (kv[0][0] != "near_dedup", -len(kv[1]), kv[0][1]))[:clusters]
    wanted = {keeper for (_, keeper), _ in ranked} | {m for _, ids in ranked for m in sorted(ids)[:2]}
    texts = {**_texts(doc_files, wanted), **_texts(reject_files, wanted)}
    samples = [{"stage": stage, "keeper": keeper, "size": len(ids) + 1,
                "documents": [{"id": i, "role": "kept" if i == keeper else "removed", "text": _clip(texts.get(i))}
                              for i in [keeper] + sorted(ids)[:2]]}
               for (stage, keeper), ids in ranked]
    return {"cluster_sizes": {str(k): v for k, v in sorted(sizes.items())}, "entering": entering,
            "removed": removed, "share_removed": round(sum(removed.values()) / max(1, entering), 4),
            "sample_clusters": samples}


def reject_samples(rejects: list[dict], reject_files, per_reason: int) -> list[dict]:
    by_reason = defaultdict(list)
    for r in rejects:
        by_reason[(r["stage"], r["reason"])].append(r)
    chosen = {key: sorted(rows, key=lambda r: r["id"])[:per_reason] for key, rows in by_reason.items()}
    texts = _texts(reject_files, {r["id"] for rows in chosen.values() for r in rows})
    return [{"stage": stage, "reason": reason, "count": len(by_reason[(stage, reason)]),
             "samples": [{"id": r["id"], "source": r.get("source"), "url": r.get("url"), "detail": r.get("detail"),
                          "text": _clip(texts.get(r["id"]))} for r in rows]}
            for (stage, reason), rows in sorted(chosen.items())]


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
    stats = json.loads((run / "stats.json").read_text())
    manifest = json.loads((run / "manifest.json").read_text())
    doc_files = sorted(run.glob("documents/*/*.parquet"))
    reject_files = sorted(run.glob("rejects/*/*.parquet"))
    docs = _read(doc_files, ["id", "signals", "dedup_cluster_size"])
    rejects = _read(reject_files, ["id", "source", "url", "stage", "reason", "detail", "signals", "duplicate_of"])
    stages = {s["stage"]: s for s in stats["stages"]}
    return {
        "run": str(run),
        "fingerprint": manifest["fingerprint"],
        "created": manifest.get("created"),
        "totals": stats["totals"],
        "sources": stats["sources"],
        "stages": stats["stages"],
        "languages": {"identified": stats.get("languages_identified", {}), "kept": stats["languages"]},
        "signals": signal_figures(docs, rejects, stages.get("quality", {}).get("in", 0)),
        "dedup": dedup_figures(docs, rejects, stages, doc_files, reject_files, clusters),
        "rejects": reject_samples(rejects, reject_files, per_reason),
        "shards": [{k: f[k] for k in ("path", "kind", "rows", "bytes")} for f in manifest["files"]],
        "tokens": token_figures(tokens),
        "training": training_figures(train),
    }
