"""The Ablation section of the run report, its plots, and the ablation's own page (pipelines.ablation).

`find(run)` gives the ablation a curation run is a variant of (RUN/../ablation.json naming RUN's folder
as a variant), or None; `section(ablation, images)` is its HTML; `draw` makes OUT/ablation.png (bits per
byte by variant, the seed spread as bars from min to max, every seed a dot) and OUT/ablation-curves.png
(bits per byte against training tokens, mean over seeds, every seed faint); `write_page` writes
OUT/report.html with the section alone. Every number shown is in ablation.json.
"""

import json
from pathlib import Path

from pipelines.report.page import _CSS, _table, esc

PLOT, CURVES = "ablation.png", "ablation-curves.png"


def find(run: Path) -> dict | None:
    file = Path(run).parent / "ablation.json"
    if not file.is_file():
        return None
    try:
        data = json.loads(file.read_text())
    except ValueError:
        return None
    if Path(run).name not in data.get("variants", {}):
        return None
    return {**data, "this_variant": Path(run).name, "images": ".."}


def draw(result: dict, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names, sets = result["variants_order"], result["eval_sets"] + ["mean"]
    fig, axes = plt.subplots(1, len(sets), figsize=(4.2 * len(sets), 4.2), squeeze=False)
    for ax, metric in zip(axes[0], sets):
        for i, n in enumerate(names):
            s = result["variants"][n]["bits_per_byte"][metric]
            verdict = result["variants"][n]["vs_raw"][metric]["verdict"]
            color = {"better than raw": "tab:green", "worse than raw": "tab:red", "base": "black"}.get(verdict, "tab:gray")
            ax.errorbar([i], [s["mean"]], yerr=[[s["mean"] - s["min"]], [s["max"] - s["mean"]]], fmt="o",
                        color=color, capsize=5)
            ax.scatter([i] * len(s["seeds"]), s["seeds"], s=10, color=color, alpha=0.5)
        base = result["variants"][result["base"]]["bits_per_byte"][metric]
        ax.axhspan(base["min"], base["max"], color="black", alpha=0.08)
        ax.set_xticks(range(len(names)), names, rotation=40, ha="right")
        ax.set_title(f"{metric}: bits per byte (lower is better)", fontsize=9)
    fig.suptitle("Bits per byte by variant; bars: min-max over seeds; band: the base's spread; "
                 "green/red: beyond the spread", fontsize=9)
    fig.tight_layout()
    fig.savefig(out / PLOT, dpi=90)
    plt.close(fig)

    fig, axes = plt.subplots(1, len(result["eval_sets"]), figsize=(5 * len(result["eval_sets"]), 4), squeeze=False)
    for ax, metric in zip(axes[0], result["eval_sets"]):
        for i, n in enumerate(names):
            runs = [r for r in result["runs"] if r["variant"] == n]
            color = f"C{i % 10}"
            for r in runs:
                ax.plot([p["tokens"] for p in r["curve"]], [p[metric] for p in r["curve"]], color=color, alpha=0.25, lw=1)
            points = len(runs[0]["curve"])
            ax.plot([runs[0]["curve"][k]["tokens"] for k in range(points)],
                    [sum(r["curve"][k][metric] for r in runs) / len(runs) for k in range(points)], color=color,
                    marker="o", ms=3, label=n)
        ax.set_xlabel("training tokens")
        ax.set_ylabel("bits per byte")
        ax.set_title(metric, fontsize=9)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out / CURVES, dpi=90)
    plt.close(fig)


def _f(x, digits=4) -> str:
    return "-" if x is None else f"{x:.{digits}f}"


def section(a: dict | None, images: str | None = None) -> str:
    if not a:
        return ""
    images = images or a.get("images", ".")
    sets = a["eval_sets"] + ["mean"]
    rows, attrs = [], []
    for n in a["variants_order"]:
        v = a["variants"][n]
        cells = []
        for m in sets:
            s, d = v["bits_per_byte"][m], v["vs_raw"][m]
            cells.append(f"{_f(s['mean'])} [{_f(s['min'])}, {_f(s['max'])}]"
                         + ("" if n == a["base"] else f"<br>{d['diff']:+.4f} (spread {_f(d['spread'])})"))
        name = f"<b>{esc(n)}</b>" if n == a.get("this_variant") else esc(n)
        rows.append([name, v["documents"], f"{v['train_tokens']:,}", _f(v["epochs"], 2), v["decontaminated"], *cells,
                     esc(v["vs_raw"]["mean"]["verdict"])])
        attrs.append(f' data-variant="{esc(n)}" data-verdict="{esc(v["vs_raw"]["mean"]["verdict"])}"')
    t = a["train"]
    return ("<h2>Ablation</h2>"
            f"<p id=\"ablation-summary\">{esc(a['summary'])}</p>"
            f"<p class=\"muted\">Every variant: the same {t['parameters']:,}-parameter model ({esc(t['config'])}), "
            f"{t['tokens']:,} training tokens ({t['steps']} steps of {t['tokens_per_step']:,}), seeds "
            f"{esc(', '.join(map(str, t['seeds'])))}, one tokenizer ({esc(t['tokenizer_fingerprint'][:16])}). "
            f"Evaluated on the same bytes: "
            + esc(", ".join(f"{s} {a['eval_bytes'][s]:,} bytes in {a['eval_documents'][s]} documents" for s in a["eval_sets"]))
            + f". {esc(a['metric'])}. Cells: mean [min, max] over seeds, then the difference from {esc(a['base'])} "
              f"and the spread. {esc(a['spread_rule'])}.</p>"
            + _table(["variant", "documents", "train tokens", "epochs", "decontaminated", *sets, "verdict (mean)"],
                     rows, attrs)
            + f'<img src="{esc(images)}/{PLOT}" alt="bits per byte by variant">'
            + f'<img src="{esc(images)}/{CURVES}" alt="learning curves">')


def write_page(result: dict, out: Path) -> Path:
    page = out / "report.html"
    page.write_text("<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">"
                    "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; img-src 'self' file:; "
                    f"style-src 'unsafe-inline'\"><title>Ablation</title><style>{_CSS}</style></head><body>"
                    "<h1>Ablation: does curation make a better model?</h1>" + section(result, ".") + "</body></html>\n",
                    encoding="utf-8")
    return page
