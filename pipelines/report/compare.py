"""Two runs side by side: documents per stage and per drop reason, and what changed."""

import json
from pathlib import Path

from pipelines.accounting import current_stats


def load_counts(run: Path) -> dict:
    """The counts to compare, from the run's summary.json, else its stats.json."""
    path = run / "summary.json" if (run / "summary.json").exists() else run / "stats.json"
    data = current_stats(json.loads(path.read_text()))
    counts = {("total", key): value for key, value in data["totals"].items()}
    for stage in data["stages"]:
        counts[(stage["stage"], "in")] = stage["in"]
        counts[(stage["stage"], "out")] = stage["out"]
        for reason, n in {**stage["rejected"], **{f"quarantined:{k}": v for k, v in stage["quarantined"].items()}}.items():
            counts[(stage["stage"], reason)] = n
    languages = data["languages"]["kept"] if "kept" in data.get("languages", {}) else data["languages"]
    for lang, c in languages.items():
        counts[("kept language", lang)] = c["documents"]
    return counts


def compare(a: Path, b: Path) -> str:
    ca, cb = load_counts(a), load_counts(b)
    order = list(dict.fromkeys([*ca, *cb]))
    width = max(len(f"{k[0]} {k[1]}") for k in order)
    lines = [f"A: {a}", f"B: {b}", "", f"{'stage / reason':{width}}  {'A':>9}  {'B':>9}  {'B - A':>8}"]
    changed = 0
    for key in order:
        va, vb = ca.get(key, 0), cb.get(key, 0)
        mark = "" if va == vb else "  *"
        changed += va != vb
        lines.append(f"{key[0] + ' ' + key[1]:{width}}  {va:9}  {vb:9}  {vb - va:+8}{mark}")
    lines += ["", f"{changed} of {len(order)} counts differ (*)"]
    return "\n".join(lines)
