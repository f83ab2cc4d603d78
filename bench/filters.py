"""Our quality-filter presets beside datatrove's: agreement of decisions, and speed, in one run.

    python bench/filters.py [--data-dir ../shared/data] [--peers-python /tmp/venv-peers/bin/python]
                            [--peers-corpus /tmp/bench-corpus/corpus.jsonl.gz] [--limit N] [--json OUT]

Corpora: English documents built from ../shared/data (Wikipedia, Gutenberg passages, WikiText,
cc_net JSONL, the DCLM-labelled web pages, WARC and HTML pages, GSM8K, Shakespeare), normalised as
the pipeline normalises; and, when present, the peers' 20k-document corpus (../shared/peers).
For each preset, both sides judge every document (datatrove configured as the preset, in its own
venv via bench/datatrove_filters.py); the script prints the share of equal keep/drop decisions,
each disagreement with both sides' reasons, and documents per second per core.
"""

import argparse
import gzip
import json
import subprocess
import sys
from dataclasses import replace
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from filters.langid import LanguageIdentifier  # noqa: E402
from filters.normalise import normalise_text  # noqa: E402
from filters.base import FilterChain  # noqa: E402
from filters.presets import load_preset  # noqa: E402
from pipelines.sources import READERS, FileContext  # noqa: E402
from pipelines.extraction.html import charset_from_content_type, html_to_text  # noqa: E402

PRESETS = ("gopher", "c4-tfds", "c4-datatrove", "fineweb")
# Where a preset is knowingly not datatrove's rule: the setting that makes it datatrove's, and why.
KNOWN_DIFFERENCES = {
    "c4-tfds": [("datatrove also takes ' as a line's end mark (TFDS: . ? ! \" only)", {"end_marks": ".?!\"'"}),
                ("datatrove counts a line's words before cutting citation markers", {"words_after_citations": False})],
}


def _read(path: Path, fmt: str, **options) -> list[dict]:
    ctx = FileContext("bench", fmt, str(path), path.name, options)
    with open(path, "rb") as raw:
        return [d for d in READERS[fmt](raw, ctx) if isinstance(d, dict)]


def _passages(text: str, words: int = 400) -> list[str]:
    """Consecutive paragraphs grouped into passages of about `words` words."""
    out, current, count = [], [], 0
    for para in text.split("\n\n"):
        current.append(para)
        count += len(para.split())
        if count >= words:
            out.append("\n\n".join(current))
            current, count = [], 0
    if current:
        out.append("\n\n".join(current))
    return out


def shared_corpus(data: Path) -> list[dict]:
    texts: list[tuple[str, str]] = []
    for d in _read(next((data / "enwiki_xml_dump_sample").glob("*.bz2")), "wikipedia"):
        texts.append(("wikipedia", d["text"]))
    for path in sorted((data / "gutenberg_en").glob("*.txt")):
        texts += [("gutenberg", p) for p in _passages(_read(path, "gutenberg")[0]["text"])]
    for split in ("valid", "test"):
        article = []
        for line in (data / "wikitext2" / f"{split}.txt").read_text(encoding="utf-8").splitlines():
            if line.startswith(" = ") and not line.startswith(" = = ") and article:
                texts.append(("wikitext", "\n".join(article)))
                article = []
            if line.strip():
                article.append(line.strip())
        if article:
            texts.append(("wikitext", "\n".join(article)))
    for path in sorted((data / "ccnet_jsonl_dolma").glob("*.jsonl.gz")):
        texts += [("ccnet", d["text"]) for d in _read(path, "jsonl")]
    for line in open(data / "dclm_human_quality_labels" / "agreement_data.jsonl", encoding="utf-8"):
        texts.append(("dclm", json.loads(line)["text"]))
    pages = _read(data / "web_warc_dolma_wget" / "sample-0000.warc.gz", "warc")
    pages += _read(data / "cc_warc_2020_34_resiliparse" / "warcfile.warc.gz", "warc")
    pages += [d for p in sorted((data / "debian_reference_html" / "en").glob("*.html")) for d in _read(p, "html")]
    for d in pages:
        texts.append(("web", html_to_text(d["content"], charset_from_content_type(d["content_type"]))["text"]))
    for line in open(data / "gsm8k_test" / "test.jsonl", encoding="utf-8"):
        row = json.loads(line)
        texts.append(("gsm8k", row["question"] + "\n" + row["answer"]))
    lines = (data / "tinyshakespeare" / "input.txt").read_text(encoding="utf-8").splitlines()
    texts += [("shakespeare", "\n".join(lines[i:i + 60])) for i in range(0, len(lines), 60)]
    lid = LanguageIdentifier()
    docs = []
    for source, text in texts:
        text = normalise_text(text)
        if text and lid.identify(text)[0] == "en":
            docs.append({"id": str(len(docs)), "source": source, "text": text, "lang": "en"})
    return docs


def peers_corpus(path: Path, limit: int | None) -> list[dict]:
    docs = []
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        for line in fh:
            row = json.loads(line)
            docs.append({"id": str(row["id"]), "source": "peers", "text": row["text"], "lang": "en"})
            if limit and len(docs) >= limit:
                break
    return docs


def ours(docs: list[dict]) -> dict:
    results = {}
    for name in PRESETS:
        _, chain = load_preset(name)
        start = time.perf_counter()
        decisions = []
        for doc in docs:
            d = chain(doc)
            decisions.append("kept" if d.keep else f"{d.reason} ({d.detail})")
        results[name] = {"seconds": time.perf_counter() - start, "decisions": decisions}
    return results


def theirs(docs: list[dict], peers_python: str) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        docs_file, out_file = Path(tmp) / "docs.jsonl", Path(tmp) / "out.json"
        docs_file.write_text("".join(json.dumps({"id": d["id"], "text": d["text"]}) + "\n" for d in docs))
        run = subprocess.run([peers_python, str(REPO / "bench" / "datatrove_filters.py"), str(docs_file),
                              str(out_file)], capture_output=True, text=True)
        if run.returncode:
            raise RuntimeError(run.stderr[-3000:])
        return json.loads(out_file.read_text())


def explain(preset: str, doc: dict, theirs_kept: bool) -> str:
    """The known difference that accounts for a disagreement, or 'unexplained'."""
    _, chain = load_preset(preset)
    for why, change in KNOWN_DIFFERENCES.get(preset, []):
        variant = FilterChain([replace(f, **{k: v for k, v in change.items() if hasattr(f, k)}) for f in chain.filters])
        if variant(doc).keep == theirs_kept:
            return why
    return "unexplained"


def compare(label: str, docs: list[dict], mine: dict, peer: dict, show: int) -> dict:
    print(f"\n== {label}: {len(docs)} documents ==")
    print(f"{'preset':14} {'agree':>8} {'kept ours':>10} {'kept dt':>8} {'ours docs/s':>12} {'dt docs/s':>10} {'speed':>7}")
    summary = {}
    for name in PRESETS:
        a, b = mine[name]["decisions"], peer[name]["decisions"]
        disagree = [i for i, (x, y) in enumerate(zip(a, b)) if (x == "kept") != (y == "kept")]
        agree = 1 - len(disagree) / len(docs)
        rate_ours, rate_dt = len(docs) / mine[name]["seconds"], len(docs) / peer[name]["seconds"]
        print(f"{name:14} {agree:8.2%} {a.count('kept'):>10} {b.count('kept'):>8} {rate_ours:12.1f} "
              f"{rate_dt:10.1f} {rate_ours / rate_dt:6.2f}x")
        summary[name] = {"agreement": agree, "disagreements": len(disagree), "ours_docs_per_s": rate_ours,
                         "datatrove_docs_per_s": rate_dt, "kept_ours": a.count("kept"), "kept_datatrove": b.count("kept"),
                         "examples": [{"id": docs[i]["id"], "source": docs[i]["source"], "ours": a[i],
                                       "datatrove": b[i], "cause": explain(name, docs[i], b[i] == "kept")}
                                      for i in disagree]}
    for name in PRESETS:
        rows = summary[name]["examples"]
        if rows:
            print(f"\n  {name}: {len(rows)} disagreements" + (f" (first {show})" if len(rows) > show else ""))
            causes = {}
            for row in rows:
                causes[row["cause"]] = causes.get(row["cause"], 0) + 1
            for cause, n in sorted(causes.items(), key=lambda kv: -kv[1]):
                print(f"    {n:5}  cause: {cause}")
            for row in rows[:show]:
                print(f"    doc {row['id']} [{row['source']}]: ours {row['ours']} | datatrove {row['datatrove']}"
                      f" | {row['cause']}")
    return summary


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", default=str(REPO.parent / "shared" / "data"))
    parser.add_argument("--peers-python", default="/tmp/venv-peers/bin/python")
    parser.add_argument("--peers-corpus", default="/tmp/bench-corpus/corpus.jsonl.gz")
    parser.add_argument("--limit", type=int, help="use the first N documents of the peers' corpus")
    parser.add_argument("--show", type=int, default=15, help="disagreements to list per preset")
    parser.add_argument("--json")
    args = parser.parse_args(argv)
    if not Path(args.peers_python).exists():
        print(f"{args.peers_python} not found: run `make peers-venv`")
        return 2
    results = {}
    corpora = [("shared data", shared_corpus(Path(args.data_dir)))]
    if Path(args.peers_corpus).exists():
        corpora.append(("peers' corpus", peers_corpus(Path(args.peers_corpus), args.limit)))
    else:
        print(f"(no {args.peers_corpus}: see ../shared/peers/README.md to build it)")
    for label, docs in corpora:
        # Both sides start cold: the first preset of each side pays for its tokenizer's warm-up.
        results[label] = compare(label, docs, ours(docs), theirs(docs, args.peers_python), args.show)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
