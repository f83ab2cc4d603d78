"""The report's PNG plots, drawn from the summary alone (matplotlib, no display)."""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

_STYLE = {"figsize": (7.5, 3.6), "dpi": 90}


def _save(fig, folder: Path, name: str) -> str:
    fig.tight_layout()
    fig.savefig(folder / name)
    plt.close(fig)
    return name


def funnel(summary: dict, folder: Path) -> str:
    stages = summary["stages"]
    names = [s["stage"] for s in stages]
    fig, (docs, size) = plt.subplots(1, 2, **{**_STYLE, "figsize": (11, 3.6)})
    x = range(len(names))
    docs.bar([i - 0.2 for i in x], [s["in"] for s in stages], 0.4, label="in")
    docs.bar([i + 0.2 for i in x], [s["out"] for s in stages], 0.4, label="out")
    docs.set_title("documents per stage")
    size.bar([i - 0.2 for i in x], [s.get("in_bytes", 0) / 1e6 for s in stages], 0.4, label="in")
    size.bar([i + 0.2 for i in x], [s.get("out_bytes", 0) / 1e6 for s in stages], 0.4, label="out")
    size.set_title("MB per stage")
    for ax in (docs, size):
        ax.set_xticks(list(x), names, rotation=30, ha="right")
        ax.legend()
    return _save(fig, folder, "funnel.png")


def languages(summary: dict, folder: Path, top: int = 12) -> str:
    identified, kept = summary["languages"]["identified"], summary["languages"]["kept"]
    names = sorted(set(identified) | set(kept), key=lambda k: -identified.get(k, kept.get(k, {})).get("documents", 0))[:top]
    fig, (docs, size) = plt.subplots(1, 2, **{**_STYLE, "figsize": (11, 3.6)})
    x = range(len(names))
    for ax, key, scale, title in ((docs, "documents", 1, "documents"), (size, "bytes", 1e6, "MB")):
        ax.bar([i - 0.2 for i in x], [identified.get(n, {}).get(key, 0) / scale for n in names], 0.4,
               label="after language ID")
        ax.bar([i + 0.2 for i in x], [kept.get(n, {}).get(key, 0) / scale for n in names], 0.4, label="kept")
        ax.set_xticks(list(x), names)
        ax.set_title(f"{title} by language")
        ax.legend()
    return _save(fig, folder, "languages.png")


def signal(name: str, figures: dict, folder: Path) -> str:
    fig, ax = plt.subplots(figsize=(4.4, 2.8), dpi=90)
    ax.stairs(figures["counts"], figures["edges"], fill=True, color="#4c72b0")
    for t in figures["thresholds"]:
        try:
            value = float(t["threshold"])
        except ValueError:
            continue
        ax.axvline(value, color="#c44e52", linestyle="--")
        ax.annotate(f"{t['op']} {t['threshold']}: {100 * t['share_removed']:.1f}%", (value, 0.92),
                    xycoords=("data", "axes fraction"), color="#c44e52", fontsize=7, ha="left")
    ax.set_title(f"{name} ({figures['documents']} documents)", fontsize=9)
    ax.tick_params(labelsize=8)
    return _save(fig, folder, f"signal_{name}.png")


def cluster_sizes(summary: dict, folder: Path) -> str:
    sizes = summary["dedup"]["cluster_sizes"]
    fig, ax = plt.subplots(**_STYLE)
    ax.bar([str(k) for k in sizes], list(sizes.values()), color="#55a868")
    if max(sizes.values(), default=0) > 100:
        ax.set_yscale("log")
    ax.set_xlabel("documents in the cluster (kept one + removed copies)")
    ax.set_title("kept documents by cluster size")
    return _save(fig, folder, "dedup_clusters.png")


def training(summary: dict, folder: Path) -> list[str]:
    t = summary["training"]
    steps, evals = t["steps"], t["evals"]
    names = []
    fig, ax = plt.subplots(**_STYLE)
    ax.plot([s["tokens"] for s in steps], [s["loss"] for s in steps], label="training loss")
    key = "eval_loss" if any("eval_loss" in e for e in evals) else "eval_mlm_loss"
    ax.plot([e["tokens"] for e in evals if key in e], [e[key] for e in evals if key in e], "o-", label="held-out loss")
    ax.set_xlabel("tokens")
    ax.legend()
    ax.set_title("loss")
    names.append(_save(fig, folder, "train_loss.png"))
    fig, (lr, speed) = plt.subplots(1, 2, **{**_STYLE, "figsize": (11, 3.6)})
    lr.plot([s["step"] for s in steps], [s["lr"] for s in steps])
    lr.set_title("learning rate")
    speed.plot([s["step"] for s in steps], [s.get("tokens_per_s", 0) for s in steps], label="tokens/s")
    speed.set_title("tokens per second" + (" and MFU" if any("mfu" in s for s in steps) else ""))
    if any("mfu" in s for s in steps):
        mfu = speed.twinx()
        mfu.plot([s["step"] for s in steps], [s.get("mfu", 0) for s in steps], color="#c44e52", label="MFU")
    for ax in (lr, speed):
        ax.set_xlabel("step")
    names.append(_save(fig, folder, "train_lr_speed.png"))
    return names


def draw_all(summary: dict, folder: Path) -> dict:
    folder.mkdir(parents=True, exist_ok=True)
    drawn = {"funnel": funnel(summary, folder), "languages": languages(summary, folder),
             "signals": {name: signal(name, fig, folder) for name, fig in summary["signals"].items()},
             "dedup": cluster_sizes(summary, folder)}
    if summary["training"] and summary["training"]["steps"]:
        drawn["training"] = training(summary, folder)
    return drawn
