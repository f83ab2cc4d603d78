"""Curation throughput and language-ID accuracy, on a corpus built from the shared data folder.

    python bench/curate.py [--data-dir ../shared/data] [--repeat N] [--json out.json]

1. Per stage, single core, in-process: the pure stage functions over every record of the corpus
   (documents per second and MB of text per second), with the peak memory of this process.
2. End to end: `python -m pipelines.curate` on the same corpus, with the in-memory FnApiRunner and
   with two worker processes; wall time, documents per second and the peak memory of the run.
3. Language ID: lid.176 against the UDHR in every language lid.176 knows (whole declarations and
   their first 200 characters), languages matched through ISO 639-3 and macrolanguages.
4. Side by side with datatrove 0.10.1 (`--peers-python`, the venv of ../shared/peers/setup_venvs.sh),
   in the same run on the same inputs: WARC reading, HTML extraction and language ID.

The corpus is every supported-format set of ../shared/data, plus the multilingual fortune files split
into entries (tens of thousands of short documents), `--repeat` times under distinct source names.
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import zipfile
from collections import Counter
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from dedup.exact import content_hash  # noqa: E402
from filters.langid import LanguageIdentifier  # noqa: E402
from filters.normalise import normalise_text  # noqa: E402
from filters.presets import load_preset  # noqa: E402
from pipelines.config import load_recipe  # noqa: E402
from pipelines.sources import READERS, FileContext, glob_base, relative_location  # noqa: E402
from pipelines.extraction.html import charset_from_content_type, html_to_text  # noqa: E402
from pipelines.transforms.read import match_files  # noqa: E402
from pipelines.transforms.write import write_parquet  # noqa: E402
from schemas import DOCUMENT_SCHEMA, to_table  # noqa: E402


def corpus_recipe(data_dir: Path, repeat: int) -> dict:
    base = load_recipe(str(REPO / "configs" / "recipes" / "shared-data.yaml"))["sources"]
    fortunes = {"name": "fortunes", "type": "text", "glob": "${DATA_DIR}/fortunes_multilingual/*/*",
                "options": {"split": "%"}}
    sources = []
    for copy in range(repeat):
        for src in base + [fortunes]:
            sources.append({**src, "name": f"{src['name']}-{copy}",
                            "glob": src["glob"].replace("${DATA_DIR}", str(data_dir))})
    return {"sources": sources, "filters": "gopher", "dedup": "exact"}


def peak_rss_mb(who=resource.RUSAGE_SELF) -> float:
    return resource.getrusage(who).ru_maxrss / 1024


def read_corpus(recipe: dict) -> list[dict]:
    docs = []
    for src in recipe["sources"]:
        for path in match_files(src["glob"]):
            ctx = FileContext(src["name"], src["type"], path, relative_location(path, glob_base(src["glob"])),
                              src.get("options", {}))
            with open(path, "rb") as raw:
                docs += [d for d in READERS[src["type"]](raw, ctx) if isinstance(d, dict)]
    return docs


def timed(label: str, docs: list, fn, results: dict, text_of=lambda d: d.get("text") or "") -> list:
    mb = sum(len(text_of(d).encode("utf-8", "surrogatepass")) for d in docs) / 1e6
    start = time.perf_counter()
    out = [fn(d) for d in docs]
    seconds = time.perf_counter() - start
    results[label] = {"docs": len(docs), "seconds": round(seconds, 3), "docs_per_s": round(len(docs) / seconds, 1),
                      "mb_per_s": round(mb / seconds, 2), "peak_rss_mb": round(peak_rss_mb(), 1)}
    return out


def per_stage(recipe: dict) -> dict:
    results: dict = {}
    start = time.perf_counter()
    docs = read_corpus(recipe)
    seconds = time.perf_counter() - start
    results["read"] = {"docs": len(docs), "seconds": round(seconds, 3), "docs_per_s": round(len(docs) / seconds, 1),
                       "peak_rss_mb": round(peak_rss_mb(), 1)}

    html = [d for d in docs if "content" in d]

    def extract(d):
        d["text"] = html_to_text(d.pop("content"), charset_from_content_type(d.pop("content_type")))["text"]

    timed("extract (html only)", html, extract, results, text_of=lambda d: "")
    timed("normalise", docs, lambda d: d.update(text=normalise_text(d["text"])), results)
    lid = LanguageIdentifier()

    def identify(d):
        d["lang"], d["lang_score"] = lid.identify(d["text"])

    timed("langid", docs, identify, results)
    _, chain = load_preset("gopher")
    decisions = timed("quality (gopher)", docs, chain, results)
    kept = [d for d, decision in zip(docs, decisions) if decision.keep]
    for d, decision in zip(docs, decisions):
        d["signals"] = decision.signals
    timed("dedup hash", kept, lambda d: content_hash(d["text"]), results)
    for d in kept:
        d["dedup_cluster"], d["dedup_cluster_size"] = d["id"], 1
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        write_parquet(os.path.join(tmp, "shard.parquet"), to_table(kept, DOCUMENT_SCHEMA))
        seconds = time.perf_counter() - start
    results["write (zstd parquet)"] = {"docs": len(kept), "seconds": round(seconds, 3),
                                       "docs_per_s": round(len(kept) / seconds, 1)}
    results["_corpus"] = {"documents": len(docs), "html_documents": len(html),
                          "text_mb": round(sum(len(d["text"].encode()) for d in docs) / 1e6, 2),
                          "by_format": dict(Counter(d["format"] for d in docs))}
    return results


def end_to_end(recipe: dict, beam_args: list[str]) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        recipe_path = Path(tmp) / "recipe.yaml"
        recipe_path.write_text(yaml.safe_dump(recipe))
        out = Path(tmp) / "run"
        before = peak_rss_mb(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        cli = subprocess.run([sys.executable, "-m", "pipelines.curate", "--config", str(recipe_path),
                              "--output", str(out), *beam_args], cwd=REPO, capture_output=True, text=True)
        seconds = time.perf_counter() - start
        if cli.returncode:
            raise RuntimeError(cli.stderr[-3000:])
        stats = json.loads((out / "stats.json").read_text())
    records = stats["totals"]["records"]
    return {"args": " ".join(beam_args) or "(in-memory FnApiRunner)", "records": records,
            "kept": stats["totals"]["kept"], "seconds": round(seconds, 2),
            "docs_per_s": round(records / seconds, 1),
            "peak_rss_mb": round(max(peak_rss_mb(resource.RUSAGE_CHILDREN), before), 1)}


def lid_accuracy(data_dir: Path) -> dict:
    import langcodes

    lid = LanguageIdentifier()
    labels = set(lid.labels)
    per_length: dict = {"whole": Counter(), "first_200_chars": Counter(), "whole, score >= 0.65": Counter()}
    misses = []
    with zipfile.ZipFile(data_dir / "udhr2_unicode" / "udhr2.zip") as z:
        for name in sorted(n for n in z.namelist() if n.endswith(".txt")):
            code = name.rsplit("/", 1)[-1][:-4].split("_")[0]
            expected = {code}
            for macro in (True, False):
                try:
                    expected.add(langcodes.standardize_tag(code, macro=macro).split("-")[0])
                except (ValueError, LookupError):
                    pass
            expected &= labels
            if not expected:
                continue
            text = z.read(name).decode("utf-8", errors="replace")
            lines = text.splitlines()
            if lines and "Universal Declaration" in lines[0]:
                text = "\n".join(lines[1:])
            text = normalise_text(" ".join(text.split()))  # as the pipeline sees it
            for key, sample in (("whole", text), ("first_200_chars", text[:200])):
                label, score = lid.identify(sample)
                per_length[key]["total"] += 1
                per_length[key]["correct"] += label in expected
                if key == "whole":
                    if score >= 0.65:  # FineWeb's threshold: what a filtered run keeps
                        per_length["whole, score >= 0.65"]["total"] += 1
                        per_length["whole, score >= 0.65"]["correct"] += label in expected
                    if label not in expected:
                        misses.append(f"{name.rsplit('/', 1)[-1]}: expected {sorted(expected)}, got {label}")
    return {key: {"files": c["total"], "correct": c["correct"], "accuracy": round(c["correct"] / c["total"], 4)}
            for key, c in per_length.items()} | {"misses_whole": misses}


def _build_demo_warc(output: Path) -> Path:
    subprocess.run([sys.executable, "-m", "pipelines.demo_corpus", "--output", str(output)], cwd=REPO,
                   check=True, capture_output=True)
    return output / "pydoc.warc.gz"


def side_by_side(data_dir: Path, peers_python: str, texts: list[str], copies: int = 3) -> dict:
    """Ours and datatrove's on the same WARC files and texts; ratios are ours over theirs in docs/s."""
    from pipelines.extraction.sandbox import ExtractionSandbox

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        warcs = [data_dir / "cc_warc_2020_34_resiliparse" / "warcfile.warc.gz",
                 data_dir / "web_warc_dolma_wget" / "sample-0000.warc.gz",
                 data_dir / "cc_whirlwind_warc_wet_wat" / "whirlwind.warc.gz",
                 _build_demo_warc(tmp / "demo")]
        warc_dir = tmp / "warc"
        warc_dir.mkdir()
        for copy in range(copies):  # several copies, so the timings are not a few milliseconds
            for path in warcs:
                (warc_dir / f"{copy}-{path.name}").symlink_to(path)
        start = time.perf_counter()
        html = []
        for path in sorted(warc_dir.glob("*.warc.gz")):
            ctx = FileContext("bench", "warc", str(path), path.name)
            with open(path, "rb") as raw:
                html += [d for d in READERS["warc"](raw, ctx) if isinstance(d, dict) and "content" in d]
        ours = {"read_warc": {"docs": len(html), "seconds": time.perf_counter() - start}}
        for extractor in ("trafilatura", "resiliparse"):
            sandbox = ExtractionSandbox(10)  # both sides extract in a child process with a time limit
            sandbox.call(b"<p>warm up</p>", None, extractor)
            start = time.perf_counter()
            out = [sandbox.call(d["content"], charset_from_content_type(d["content_type"]), extractor) for d in html]
            ours[f"extract_{extractor}"] = {"docs": len(html), "docs_out": sum(bool(r["text"].strip()) for r in out),
                                            "seconds": time.perf_counter() - start}
            sandbox.close()
        text_file = tmp / "texts.jsonl"
        text_file.write_text("".join(json.dumps({"id": str(i), "text": t}) + "\n" for i, t in enumerate(texts)))
        lid = LanguageIdentifier()
        start = time.perf_counter()
        for text in texts:
            lid.identify(text)
        ours["langid"] = {"docs": len(texts), "seconds": time.perf_counter() - start}
        peer = subprocess.run([peers_python, str(REPO / "bench" / "datatrove_side.py"), "--warc-dir", str(warc_dir),
                               "--texts", str(text_file), "--lid-model", lid.model_path, "--work", str(tmp / "dt")],
                              capture_output=True, text=True)
        if peer.returncode:
            raise RuntimeError(peer.stderr[-3000:])
        theirs = json.loads(peer.stdout.strip().splitlines()[-1])

    def rate(r, key="docs"):
        return r[key] / r["seconds"]

    return {
        "ours": ours, "datatrove": theirs,
        "rows": [
            ("read WARC (warcio both)", rate(ours["read_warc"]), rate(theirs["read_warc"])),
            ("extract: trafilatura both", rate(ours["extract_trafilatura"]),
             rate(theirs["extract_trafilatura"], "docs_in")),
            ("extract: ours resiliparse vs their trafilatura", rate(ours["extract_resiliparse"]),
             rate(theirs["extract_trafilatura"], "docs_in")),
            ("language ID (lid.176.ftz both)", rate(ours["langid"]), rate(theirs["langid"])),
        ],
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", default=str(REPO.parent / "shared" / "data"))
    parser.add_argument("--repeat", type=int, default=1, help="copies of the corpus, as distinct sources")
    parser.add_argument("--json", help="also write the results here")
    parser.add_argument("--peers-python", default="/tmp/venv-peers/bin/python",
                        help="interpreter of the peers' venv (../shared/peers/setup_venvs.sh); skipped if missing")
    args = parser.parse_args(argv)
    data_dir = Path(args.data_dir).resolve()
    recipe = corpus_recipe(data_dir, args.repeat)

    results = {"machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]}}
    results["per_stage"] = per_stage(recipe)
    results["end_to_end"] = [end_to_end(recipe, []),
                             end_to_end(recipe, ["--direct_num_workers=2", "--direct_running_mode=multi_processing"])]
    results["lid_udhr"] = lid_accuracy(data_dir)
    if Path(args.peers_python).exists():
        texts = [d["text"] for d in read_corpus(recipe) if "text" in d]
        results["side_by_side"] = side_by_side(data_dir, args.peers_python, texts)

    corpus = results["per_stage"].pop("_corpus")
    print(f"Corpus: {corpus['documents']} documents ({corpus['html_documents']} HTML), "
          f"{corpus['text_mb']} MB of text; {corpus['by_format']}")
    print(f"\nPer stage, one core, in-process ({results['machine']['cpus']} CPUs here)")
    print(f"{'stage':24} {'docs':>7} {'seconds':>8} {'docs/s':>10} {'MB/s':>7} {'peak MB':>8}")
    for stage, r in results["per_stage"].items():
        print(f"{stage:24} {r['docs']:>7} {r['seconds']:>8} {r['docs_per_s']:>10} {r.get('mb_per_s', ''):>7} "
              f"{r.get('peak_rss_mb', ''):>8}")
    print("\nEnd to end (python -m pipelines.curate, read to manifest)")
    for r in results["end_to_end"]:
        print(f"  {r['args']:58} {r['records']} records, {r['seconds']} s, {r['docs_per_s']} docs/s, "
              f"peak {r['peak_rss_mb']} MB")
    base, multi = results["end_to_end"]
    print(f"  two processes vs one: {base['seconds'] / multi['seconds']:.2f}x")
    lid = results["lid_udhr"]
    print(f"\nLanguage ID on the UDHR ({lid['whole']['files']} files in languages lid.176 knows)")
    for key in ("whole", "first_200_chars", "whole, score >= 0.65"):
        print(f"  {key:22} accuracy {lid[key]['accuracy']:.4f} ({lid[key]['correct']}/{lid[key]['files']})")
    print("  misses (whole):", "; ".join(lid["misses_whole"]) or "none")
    if "side_by_side" in results:
        sbs = results["side_by_side"]
        print("\nSide by side with datatrove 0.10.1, same inputs, one process each (docs/s)")
        print(f"  {'':48} {'ours':>9} {'datatrove':>10} {'ratio':>7}")
        for label, ours, theirs in sbs["rows"]:
            print(f"  {label:48} {ours:9.1f} {theirs:10.1f} {ours / theirs:6.2f}x")
        print(f"  documents: ours {sbs['ours']['read_warc']['docs']} HTML responses, datatrove "
              f"{sbs['datatrove']['read_warc']['docs']} (it drops non-HTML, undecodable and error records "
              f"silently); {sbs['ours']['langid']['docs']} texts for language ID")
    else:
        print(f"\n(no side-by-side: {args.peers_python} not found; run ../shared/peers/setup_venvs.sh)")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
