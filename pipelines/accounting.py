"""stats.json from the run's Beam counters, the checks that every record is accounted for, and the
funnel printed at the end of a run."""

from collections import defaultdict

STAGES = ("read", "extract", "normalise", "langid", "quality", "decontaminate", "exact_dedup", "near_dedup",
          "boilerplate", "pii")
# Stage names of runs made before a stage was renamed: what readers of old runs take them for.
RENAMED_STAGES = {"dedup": "exact_dedup"}


def stage_name(name: str) -> str:
    """The stage's name today, for a name read from a run's stats, rejects or report."""
    return RENAMED_STAGES.get(name, name)


def current_stats(stats: dict) -> dict:
    """A run's stats.json (or summary.json) with its stages under today's names."""
    return {**stats, "stages": [{**s, "stage": stage_name(s["stage"])} for s in stats["stages"]]}


def build_stats(counters: list[tuple[str, dict, int]], stages_run: tuple[str, ...] = STAGES) -> dict:
    """Counts per source, per stage of `stages_run` (in pipeline order) and per language."""
    sources: dict = defaultdict(lambda: defaultdict(int))
    stages: dict = {s: {"in": 0, "out": 0, "out_bytes": 0, "rejected": defaultdict(int),
                        "quarantined": defaultdict(int)} for s in stages_run}
    records_bytes = 0
    languages: dict = defaultdict(lambda: {"documents": 0, "bytes": 0})
    identified: dict = defaultdict(lambda: {"documents": 0, "bytes": 0})
    unconverged = 0
    for event, labels, value in counters:
        source, stage = labels.get("source"), labels.get("stage")
        if event == "records":
            sources[source]["records"] += value
            stages["read"]["in"] += value
        elif event == "records_bytes":
            records_bytes += value
        elif event == "stage_out_bytes":
            stages[stage]["out_bytes"] += value
        elif event in ("identified", "identified_bytes"):
            identified[labels["lang"]]["documents" if event == "identified" else "bytes"] += value
        elif event == "files":
            sources[source]["files"] += value
        elif event == "stage_in":
            stages[stage]["in"] += value
        elif event == "stage_out":
            stages[stage]["out"] += value
        elif event == "rejected":
            sources[source]["rejected"] += value
            stages[stage]["rejected"][labels["reason"]] += value
        elif event == "quarantined":
            sources[source]["quarantined"] += value
            stages[stage]["quarantined"][labels["error"]] += value
        elif event == "kept":
            sources[source]["kept"] += value
            languages[labels["lang"]]["documents"] += value
        elif event == "kept_bytes":
            languages[labels["lang"]]["bytes"] += value
        elif event == "cc_unconverged":
            unconverged += value
    # Stages form a chain: what enters one is what left the one before (the read stage: what the
    # readers produced), so the bytes in are not counted twice.
    bytes_in = records_bytes
    for counts in stages.values():
        counts["in_bytes"], bytes_in = bytes_in, counts["out_bytes"]
    for counts in sources.values():
        for key in ("files", "records", "kept", "rejected", "quarantined"):
            counts.setdefault(key, 0)
    totals = {key: sum(s[key] for s in sources.values()) for key in ("files", "records", "kept", "rejected", "quarantined")}
    return {
        "totals": totals,
        "sources": {name: dict(counts) for name, counts in sorted(sources.items())},
        "stages": [{"stage": name, "in": s["in"], "out": s["out"], "in_bytes": s["in_bytes"],
                    "out_bytes": s["out_bytes"],
                    "rejected": dict(sorted(s["rejected"].items())),
                    "quarantined": dict(sorted(s["quarantined"].items()))}
                   for name, s in stages.items()],
        "languages": dict(sorted(languages.items(), key=lambda kv: (-kv[1]["documents"], kv[0]))),
        # after language ID, before the quality filters (empty when language ID did not run)
        "languages_identified": dict(sorted(identified.items(), key=lambda kv: (-kv[1]["documents"], kv[0]))),
        "components_unconverged_edges": unconverged,
    }


def check_stats(stats: dict, allow_empty: bool = False) -> list[str]:
    """Problems that make the run a failure (an empty list when all is well)."""
    problems = []
    for name, s in stats["sources"].items():
        if s["records"] != s["kept"] + s["rejected"] + s["quarantined"]:
            problems.append(f"source {name}: {s['records']} records read != {s['kept']} kept + "
                            f"{s['rejected']} rejected + {s['quarantined']} quarantined")
    for s in stats["stages"]:
        dropped = sum(s["rejected"].values()) + sum(s["quarantined"].values())
        if s["in"] != s["out"] + dropped:
            problems.append(f"stage {s['stage']}: {s['in']} in != {s['out']} out + {dropped} dropped")
        if s["in"] and not s["out"] and not allow_empty:
            problems.append(f"stage {s['stage']} produced no documents from {s['in']} "
                            f"(rejected {s['rejected']}, quarantined {s['quarantined']}); "
                            f"pass --allow-empty if that is expected")
    for before, after in zip(stats["stages"], stats["stages"][1:]):  # the chain that in_bytes is derived from
        if after["in"] != before["out"]:
            problems.append(f"stage {after['stage']}: {after['in']} in != {before['out']} out of {before['stage']}")
    if stats.get("components_unconverged_edges"):
        problems.append(f"near-dedup components did not converge: the last star round still changed "
                        f"{stats['components_unconverged_edges']} edges; raise dedup_rounds")
    if not stats["totals"]["records"] and not allow_empty:
        problems.append("no records were read from any source")
    return problems


def check_files(stats: dict, files: list[dict]) -> list[str]:
    """The shards hold exactly what the counters say."""
    rows: dict = defaultdict(int)
    for f in files:
        if f["kind"] != "dedup_index":  # band keys of kept documents, not documents
            rows[(f["kind"], f["partition"])] += f["rows"]
    problems = []
    for lang, counts in stats["languages"].items():
        if rows.pop(("documents", f"lang={lang}"), 0) != counts["documents"]:
            problems.append(f"documents/{lang}: shard rows differ from the {counts['documents']} counted")
    for s in stats["stages"]:
        n = sum(s["rejected"].values())
        if n and rows.pop(("rejects", f"stage={s['stage']}"), 0) != n:
            problems.append(f"rejects/{s['stage']}: shard rows differ from the {n} counted")
    quarantined = stats["totals"]["quarantined"]
    if quarantined and rows.pop(("quarantine", None), 0) != quarantined:
        problems.append(f"quarantine: rows differ from the {quarantined} counted")
    problems += [f"{kind}/{part.partition('=')[2]}: {n} rows that no counter accounts for" if part
                 else f"{kind}: {n} rows that no counter accounts for" for (kind, part), n in rows.items() if n]
    return problems


def _table(headers: list[str], rows: list[list]) -> list[str]:
    """Plain-text table: the first and last columns are text (left-aligned), the rest counts."""
    widths = [max(len(str(x)) for x in col) for col in zip(headers, *rows)]
    last = len(headers) - 1

    def fmt(row):
        cells = [str(x).ljust(w) if i in (0, last) else str(x).rjust(w) for i, (x, w) in enumerate(zip(row, widths))]
        return "  ".join(cells).rstrip()

    return [fmt(headers), fmt(["-" * w for w in widths])] + [fmt(r) for r in rows]


def funnel_text(stats: dict) -> str:
    lines = ["Sources"]
    lines += _table(["source", "files", "records", "kept", "rejected", "quarantined"],
                    [[n, s["files"], s["records"], s["kept"], s["rejected"], s["quarantined"]]
                     for n, s in stats["sources"].items()]
                    + [["TOTAL"] + [stats["totals"][k] for k in ("files", "records", "kept", "rejected", "quarantined")]])
    lines += ["", "Stages (documents and MB in -> out; dropped by reason, most first)"]
    rows = []
    for s in stats["stages"]:
        drops = [(n, reason) for reason, n in s["rejected"].items()]
        drops += [(n, f"quarantined:{error}") for error, n in s["quarantined"].items()]
        drops = [f"{n:>6}  {reason}" for n, reason in sorted(drops, key=lambda d: (-d[0], d[1]))] or ["-"]
        rows.append([s["stage"], s["in"], s["out"], f"{s.get('in_bytes', 0) / 1e6:.2f}",
                     f"{s.get('out_bytes', 0) / 1e6:.2f}", drops[0]])
        rows += [["", "", "", "", "", more] for more in drops[1:]]
    lines += _table(["stage", "in", "out", "MB in", "MB out", "dropped"], rows)
    lines += ["", "Kept, by language"]
    lines += _table(["lang", "documents", "MB"],
                    [[lang, c["documents"], f"{c['bytes'] / 1e6:.2f}"] for lang, c in stats["languages"].items()])
    return "\n".join(lines)
