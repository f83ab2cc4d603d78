"""Extraction quality against human ground truth: every extractor setting side by side, one run.

    .venv/bin/python bench/extraction.py [--data-dir ../shared/data] [--sets wcxb_dev,aeb,trafilatura]
                                         [--settings NAME,...] [--per-page FILE.jsonl] [--limit N]

Reads `web_pages_raw/` of the data folder (its SOURCES.md describes it): 1,661 real pages in WARCs.

- WCXB dev (572 pages, 2025-26 English web, seven page types) and the article-extraction benchmark
  (AEB, 181 news and blog articles) have the full main text. Each page is scored on words: the
  multiset of lowercased words (`\\w+`, Unicode) of the kept text against that of the ground truth,
  precision = common / kept, recall = common / truth, F1 their harmonic mean; a page with no text
  (the pipeline rejects it as `no_text`) scores 0. The 4 WCXB pages whose ground truth is empty (a
  listing with no main text, and so on) are left out. Mean and median F1 per set, per WCXB page type
  and per language (`<html lang>`), and the pages at F1 0.
- trafilatura's evaluation set (866 pages with ground truth, mostly German) has only snippets, 3-8
  words each, that a correct extraction must include (`with`) or must leave out (`without`): scored
  as hit rates (case and white space folded), and their harmonic mean.

Each setting runs in this process, one page after the other, timed from the HTML bytes to the text
(decoding included): pages per second of this process's CPU time (steadier than wall time on a shared
machine), on one core. The settings (see docs/extraction.md):

- `cascade`          the project's default: pipelines.extraction.html, extractor "cascade"
- `resiliparse`      the project's `--extractor resiliparse`: DCLM's options (the default until issue 16)
- `trafilatura`      the project's `--extractor trafilatura`: FineWeb's options
- `resiliparse-lib`  resiliparse alone, main_content=True and its defaults otherwise
- `trafilatura-lib`  trafilatura alone, `trafilatura.extract(html)` with its defaults
"""

import argparse
import gzip
import json
import re
import statistics
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from fastwarc.warc import ArchiveIterator, WarcRecordType  # noqa: E402

from pipelines.extraction.html import charset_from_content_type, decode_html, html_to_text  # noqa: E402

FULL_TEXT_SETS = ("wcxb_dev", "aeb")
SNIPPET_SETS = ("trafilatura",)
WARCS = {"wcxb_dev": "wcxb_dev_sample.warc.gz", "aeb": "aeb_articles.warc.gz",
         "trafilatura": "trafilatura_eval.warc.gz"}
TRUTH = {"wcxb_dev": "ground_truth_wcxb_dev.json.gz", "aeb": "ground_truth_aeb.json.gz",
         "trafilatura": "ground_truth_trafilatura.json.gz"}

_WORD = re.compile(r"\w+")
_SPACE = re.compile(r"\s+")


# --- the settings -------------------------------------------------------------------------------

def _project(extractor):
    def run(content: bytes, charset: str | None) -> str:
        return html_to_text(content, charset, extractor)["text"]
    return run


def _resiliparse_lib(content: bytes, charset: str | None) -> str:
    from resiliparse.extract.html2text import extract_plain_text
    from resiliparse.parse.html import HTMLTree

    return extract_plain_text(HTMLTree.parse(decode_html(content, charset)[0]), main_content=True)


def _trafilatura_lib(content: bytes, charset: str | None) -> str:
    import trafilatura

    return trafilatura.extract(decode_html(content, charset)[0]) or ""


SETTINGS = {
    "cascade": ("the project's default (cascade)", _project("cascade")),
    "resiliparse": ("the project, --extractor resiliparse (DCLM options)", _project("resiliparse")),
    "trafilatura": ("the project, --extractor trafilatura (FineWeb options)", _project("trafilatura")),
    "resiliparse-lib": ("resiliparse alone, main_content=True, defaults", _resiliparse_lib),
    "trafilatura-lib": ("trafilatura alone, defaults", _trafilatura_lib),
}


# --- the pages ----------------------------------------------------------------------------------

def load_pages(folder: Path, sets) -> list[dict]:
    """Pages with ground truth: {set, url, content, charset, lang, page_type, truth}."""
    index = {}
    with open(folder / "index.jsonl", encoding="utf-8") as f:
        for line in f:
            entry = json.loads(line)
            index[entry["record_id"]] = entry
    pages, skipped = [], Counter()
    for name in sets:
        if not (folder / WARCS[name]).exists():  # tests/data holds a few WCXB pages only
            print(f"{name}: no {WARCS[name]} in {folder}, left out", file=sys.stderr)
            continue
        with gzip.open(folder / TRUTH[name], "rt", encoding="utf-8") as f:
            truth = {entry["_record"]["record_id"]: entry for entry in json.load(f).values()}
        with open(folder / WARCS[name], "rb") as f:
            for record in ArchiveIterator(f, record_types=WarcRecordType.response):
                record_id = record.headers["WARC-Record-ID"]
                if record_id not in truth:
                    continue
                entry, meta = truth[record_id], index.get(record_id, {})
                if name == "wcxb_dev":
                    gold = {"text": entry["ground_truth"]["main_content"] or ""}
                elif name == "aeb":
                    gold = {"text": entry["articleBody"]}
                else:
                    gold = {"with": entry.get("with") or [], "without": entry.get("without") or []}
                if "text" in gold and not _WORD.search(gold["text"]):
                    skipped[name] += 1  # no main text to find: left out of the means
                    continue
                pages.append({
                    "set": name, "url": record.headers["WARC-Target-URI"],
                    "content": record.reader.read(),
                    "charset": charset_from_content_type(record.http_headers.get("Content-Type")),
                    "lang": (meta.get("html_lang") or "none").lower().replace("_", "-").split("-")[0] or "none",
                    "page_type": meta.get("page_type"), "truth": gold,
                })
    for name, n in skipped.items():
        print(f"{name}: {n} pages whose ground truth has no words are left out", file=sys.stderr)
    return pages


# --- the scores ---------------------------------------------------------------------------------

def words(text: str) -> Counter:
    return Counter(_WORD.findall(text.lower()))


def prf(text: str, truth: str) -> tuple[float, float, float]:
    kept, gold = words(text), words(truth)
    common = sum((kept & gold).values())
    if not common:
        return 0.0, 0.0, 0.0
    precision, recall = common / sum(kept.values()), common / sum(gold.values())
    return precision, recall, 2 * precision * recall / (precision + recall)


def _fold(text: str) -> str:
    return _SPACE.sub(" ", text).strip().lower()


def snippets(text: str, truth: dict) -> tuple[int, int, int, int]:
    """(with found, with total, without absent, without total)."""
    folded = _fold(text)
    found = sum(_fold(s) in folded for s in truth["with"])
    absent = sum(_fold(s) not in folded for s in truth["without"])
    return found, len(truth["with"]), absent, len(truth["without"])


def score(page: dict, text: str) -> dict:
    if "text" in page["truth"]:
        p, r, f = prf(text, page["truth"]["text"])
        return {"p": p, "r": r, "f1": f}
    found, n_with, absent, n_without = snippets(text, page["truth"])
    return {"with": found, "n_with": n_with, "without": absent, "n_without": n_without}


# --- the run ------------------------------------------------------------------------------------

def run_setting(function, pages) -> tuple[list[str], float]:
    texts, start = [], time.process_time()
    for page in pages:
        texts.append(function(page["content"], page["charset"]) or "")
    return texts, time.process_time() - start


def _full_row(scores: list[dict]) -> dict:
    f1 = [s["f1"] for s in scores]
    return {"pages": len(scores), "p": statistics.fmean(s["p"] for s in scores),
            "r": statistics.fmean(s["r"] for s in scores), "f1": statistics.fmean(f1),
            "median": statistics.median(f1), "zero": sum(f == 0 for f in f1)}


def _snippet_row(scores: list[dict]) -> dict:
    found, n_with = sum(s["with"] for s in scores), sum(s["n_with"] for s in scores)
    absent, n_without = sum(s["without"] for s in scores), sum(s["n_without"] for s in scores)
    hit, clean = found / max(n_with, 1), absent / max(n_without, 1)
    return {"pages": len(scores), "with": hit, "without": clean,
            "hm": 2 * hit * clean / (hit + clean) if hit + clean else 0.0}


def summarise(pages, scores) -> dict:
    """Groups of pages -> their row: per set, per WCXB page type, per language."""
    groups = defaultdict(list)
    for page, s in zip(pages, scores):
        groups[("set", page["set"])].append(s)
        if page["set"] in FULL_TEXT_SETS:
            groups[("full", "wcxb_dev+aeb")].append(s)
            groups[("lang", page["lang"])].append(s)
        if page["page_type"]:
            groups[("type", page["page_type"])].append(s)
    return {key: (_full_row(v) if "f1" in v[0] else _snippet_row(v)) for key, v in groups.items()}


def _table(title, header, rows):
    print(f"\n{title}\n")
    print("| " + " | ".join(header) + " |")
    print("|" + "|".join("---" if i == 0 else "---:" for i in range(len(header))) + "|")
    for row in rows:
        print("| " + " | ".join(row) + " |")


def report(results: dict, pages) -> None:
    names = list(results)
    counts = Counter(page["set"] for page in pages)
    for key in [("full", "wcxb_dev+aeb"), ("set", "wcxb_dev"), ("set", "aeb")]:
        if not any(key in r["summary"] for r in results.values()):
            continue
        rows = []
        for name in names:
            row = results[name]["summary"].get(key)
            if row:
                rows.append([f"`{name}`", f"{row['p']:.3f}", f"{row['r']:.3f}", f"{row['f1']:.3f}",
                             f"{row['median']:.3f}", f"{row['zero']} ({100 * row['zero'] / row['pages']:.1f}%)",
                             f"{results[name]['pages_s']:.1f}"])
        _table(f"{key[1]}: {row['pages']} pages, word P/R/F1 (means)",
               ["setting", "P", "R", "F1", "median F1", "pages at F1 0", "pages/s (all sets)"], rows)
    if counts.get("trafilatura"):
        rows = []
        for name in names:
            row = results[name]["summary"].get(("set", "trafilatura"))
            rows.append([f"`{name}`", f"{row['with']:.3f}", f"{row['without']:.3f}", f"{row['hm']:.3f}"])
        _table(f"trafilatura eval set: {counts['trafilatura']} pages, snippet hit rates",
               ["setting", "`with` found", "`without` left out", "harmonic mean"], rows)
    for kind, label in (("type", "WCXB dev by page type"), ("lang", "WCXB dev + AEB by language")):
        keys = sorted({k for r in results.values() for k in r["summary"] if k[0] == kind},
                      key=lambda k: -results[names[0]]["summary"][k]["pages"])
        if not keys:
            continue
        header = ["setting"] + [f"{k[1]} ({results[names[0]]['summary'][k]['pages']})" for k in keys]
        rows = [[f"`{name}`"] + [f"{results[name]['summary'][k]['f1']:.3f} / {results[name]['summary'][k]['zero']}"
                                 for k in keys] for name in names]
        _table(f"{label}: mean F1 / pages at F1 0", header, rows)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", default="../shared/data", type=Path)
    parser.add_argument("--sets", default="wcxb_dev,aeb,trafilatura")
    parser.add_argument("--settings", default=",".join(SETTINGS), help=f"of {', '.join(SETTINGS)}")
    parser.add_argument("--limit", type=int, help="the first N pages of each set only (a quick look)")
    parser.add_argument("--per-page", type=Path, help="write each page's scores to this JSON-lines file")
    parser.add_argument("--json", type=Path, help="write the summary to this JSON file")
    args = parser.parse_args(argv)
    folder = args.data_dir / "web_pages_raw"
    if not (folder / "index.jsonl").exists():
        parser.error(f"no web_pages_raw/index.jsonl under {args.data_dir}")
    sets = [s for s in args.sets.split(",") if s]
    settings = [s for s in args.settings.split(",") if s]
    for name in sets:
        if name not in WARCS:
            parser.error(f"--sets: {name!r} is not one of {', '.join(WARCS)}")
    for name in settings:
        if name not in SETTINGS:
            parser.error(f"--settings: {name!r} is not one of {', '.join(SETTINGS)}")
    pages = load_pages(folder, sets)
    if args.limit:
        kept = Counter()
        pages = [p for p in pages if (kept.update([p["set"]]) or kept[p["set"]] <= args.limit)]
    print(f"{len(pages)} pages with ground truth: " + ", ".join(f"{k} {v}" for k, v in Counter(p['set'] for p in pages).items()))
    for name in settings:  # import and warm up each library outside the timing
        SETTINGS[name][1](b"<html><body><p>warm up</p></body></html>", None)
    results, per_page = {}, []
    for name in settings:
        label, function = SETTINGS[name]
        texts, seconds = run_setting(function, pages)
        scores = [score(page, text) for page, text in zip(pages, texts)]
        results[name] = {"label": label, "seconds": seconds, "pages_s": len(pages) / seconds,
                         "summary": summarise(pages, scores)}
        print(f"  {name}: {len(pages) / seconds:.1f} pages/s ({label})", file=sys.stderr)
        for page, text, s in zip(pages, texts, scores):
            per_page.append({"setting": name, "set": page["set"], "url": page["url"], "page_type": page["page_type"],
                             "lang": page["lang"], "words": sum(words(text).values()), **s})
    print("\nSettings: " + "; ".join(f"`{n}` = {r['label']}" for n, r in results.items()))
    report(results, pages)
    if args.per_page:
        with open(args.per_page, "w", encoding="utf-8") as f:
            for row in per_page:
                f.write(json.dumps(row) + "\n")
    if args.json:
        args.json.write_text(json.dumps({n: {"label": r["label"], "pages_s": r["pages_s"],
                                             "summary": {f"{k[0]}:{k[1]}": v for k, v in r["summary"].items()}}
                                         for n, r in results.items()}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
