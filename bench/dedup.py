"""Near-dedup quality and speed.

    python bench/dedup.py [--data-dir ../shared/data] [--peers-python /tmp/venv-peers/bin/python]
                          [--sizes 10000,100000,1000000] [--skip quality,speed,scale,peers]

1. Quality. Base documents are real text from ../shared/data (Wikipedia, Gutenberg passages,
   WikiText, DCLM and cc_net web pages, the Debian Reference). Each gets two copies, each made one
   way: 1-30% of words substituted (scattered), one contiguous burst of 1-30% of words replaced,
   paragraphs reordered, or a header and footer added. Ground truth is the exact Jaccard
   similarity of copy and base on the same shingles. The pipeline's NearDedup runs on bases and
   copies; a (copy, base) pair is predicted a duplicate when both land in one cluster. Precision and
   recall are for pairs at Jaccard >= 0.8, per configuration: LSH alone, and with verification at
   0.8 (exact Jaccard of the shingle sets, or its estimate from the full signatures).
   Also: the labelled plagiarism answers (cut = near copy, non = independent) against their source.
2. Speed. Signatures per second on one core, same documents: ours (numpy), datasketch's
   per-shingle `update` on the same shingles, and datatrove's MinHash signature stage (its venv).
3. Scale. End-to-end near-dedup (python, Beam in-memory runner, in a child process) on 10k, 100k and
   1M documents of about 100 words cut from real text with near-duplicates mixed in: wall time and
   peak memory.
4. The peers' corpus (../shared/peers: 20k documents with labelled injected copies), side by side in
   one run: our curate CLI end to end (read, normalise, language ID, exact and near dedup, write;
   quality filters and PII off) against datatrove's four MinHash stages, datasketch's MinHashLSH and
   text-dedup, each scored by peers.py's own cluster-aware precision and recall.
"""

import argparse
import ast
import bz2
import csv
import gzip
import json
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from dedup.minhash import MinHasher, jaccard  # noqa: E402
from pipelines.sources import READERS, FileContext  # noqa: E402
from pipelines.extraction.html import html_to_text  # noqa: E402
from pipelines.sources.wikipedia import wikitext_to_text  # noqa: E402

SEED = 1234


# --------------------------------------------------------------------------------------- corpora
def real_texts(data: Path) -> list[str]:
    raw = bz2.decompress(next((data / "enwiki_xml_dump_sample").glob("*.bz2")).read_bytes()).decode()
    texts = [wikitext_to_text(p.split("</text>")[0]) for p in raw.split('<text xml:space="preserve">')[1:]]
    for book in sorted((data / "gutenberg_en").glob("*.txt")):
        with open(book, "rb") as fh:
            text = next(READERS["gutenberg"](fh, FileContext("b", "gutenberg", str(book), book.name)))["text"]
        paras = [p for p in text.split("\n\n") if p.strip()]
        texts += ["\n\n".join(paras[i:i + 12]) for i in range(0, len(paras), 12)]
    for split in ("valid", "test"):
        texts += [a for a in (data / "wikitext2" / f"{split}.txt").read_text(encoding="utf-8").split("\n = ")]
    texts += [json.loads(line)["text"] for line in open(data / "dclm_human_quality_labels" / "agreement_data.jsonl")]
    for path in sorted((data / "ccnet_jsonl_dolma").glob("*.gz")):
        texts += [json.loads(line)["text"] for line in gzip.open(path, "rt")]
    for page in sorted((data / "debian_reference_html" / "en").glob("*.html")):
        texts.append(html_to_text(page.read_bytes())["text"])
    return [t for t in texts if len(t.split()) >= 100]


def _replace_words(words, rate, rng, vocab, burst):
    words = list(words)
    k = max(1, round(len(words) * rate))
    positions = range(start := rng.randrange(0, len(words) - k + 1), start + k) if burst else \
        rng.sample(range(len(words)), k)
    for i in positions:
        words[i] = rng.choice(vocab)
    return words


def make_copy(text: str, rng: random.Random, vocab: list[str]) -> tuple[str, str]:
    kind = rng.choice(["scattered", "burst", "reorder", "header"])
    if kind in ("scattered", "burst"):
        paras = [p.split(" ") for p in text.split("\n\n")]
        rate = rng.uniform(0.01, 0.30)
        flat = [w for p in paras for w in p]
        new = _replace_words(flat, rate, rng, vocab, kind == "burst")
        out, i = [], 0
        for p in paras:
            out.append(" ".join(new[i:i + len(p)]))
            i += len(p)
        return "\n\n".join(out), f"{kind} {rate:.2f}"
    if kind == "reorder":
        paras = text.split("\n\n")
        rng.shuffle(paras)
        return "\n\n".join(paras), kind
    header = " ".join(rng.choice(vocab) for _ in range(rng.randint(5, 20)))
    footer = " ".join(rng.choice(vocab) for _ in range(rng.randint(5, 20)))
    return f"{header}\n\n{text}\n\n{footer}", kind


def quality_corpus(data: Path):
    rng = random.Random(SEED)
    bases = real_texts(data)
    vocab = sorted({w for t in bases[:200] for w in t.split() if w.isalpha()})
    hasher = MinHasher()
    docs, pairs = [], []
    for b, base in enumerate(bases):
        base_id = f"{len(docs):032x}"
        docs.append({"id": base_id, "text": base})
        base_shingles = hasher.shingle_hashes(base)
        for _ in range(2):
            copy, kind = make_copy(base, rng, vocab)
            copy_id = f"{len(docs):032x}"
            docs.append({"id": copy_id, "text": copy})
            pairs.append((copy_id, base_id, jaccard(hasher.shingle_hashes(copy), base_shingles), kind))
    return docs, pairs


def plagiarism_corpus(data: Path):
    folder = data / "plagiarism_short_answers_clough_stevenson"
    docs, pairs = [], []
    for task in "abcde":
        docs.append({"id": f"orig{task}".ljust(32, "0"), "text": _read_any(folder / f"orig_task{task}.txt")})
    with open(folder / "file_information.csv", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            name, task, category = row["File"], row["Task"], row["Category"]
            if category == "orig":
                continue
            doc_id = name.replace("_", "").replace(".txt", "").ljust(32, "0")[:32]
            docs.append({"id": doc_id, "text": _read_any(folder / name)})
            pairs.append((doc_id, f"orig{task}".ljust(32, "0"), category))
    return docs, pairs


def _read_any(path: Path) -> str:
    from pipelines.sources.decoding import decode_text

    return decode_text(path.read_bytes())[0]


# --------------------------------------------------------------------------------------- running
def clusters_of(docs: list[dict], bands: int, rows: int, num_perm: int, verify: str | None = None,
                threshold: float | None = None) -> dict:
    """id -> cluster keeper, from the pipeline's NearDedup on the FnApiRunner."""
    import apache_beam as beam
    from apache_beam.testing import test_pipeline

    from pipelines.transforms.dedup import Decisions
    from pipelines.transforms.dedup import NearDedup

    rows_in = [{**d, "source": "bench", "lang": "en", "dedup_cluster_size": 1, "signals": {}} for d in docs]
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "decisions.txt"
        with test_pipeline.TestPipeline(runner="FnApiRunner") as p:
            kept, rejects = p | beam.Create(rows_in) | NearDedup(MinHasher(num_perm), bands, rows, verify, threshold)
            (kept, rejects) | Decisions() | beam.io.WriteToText(str(out), shard_name_template="")
        decisions = [ast.literal_eval(line) for line in open(out)]  # WriteToText writes each tuple's repr
        return {doc_id: keeper for doc_id, keeper, _, _ in decisions}


def quality(data: Path) -> dict:
    docs, pairs = quality_corpus(data)
    results = {"documents": len(docs), "pairs": len(pairs),
               "positives": sum(j >= 0.8 for _, _, j, _ in pairs)}
    # 9 x 12, 17 x 15 and 89 x 23 are datasketch's balanced choice for J 0.8 at 112, 256 and 2048
    # permutations (--dedup-threshold 0.8 --dedup-num-perm N); 14 x 8 and 25 x 10 its recall-leaning
    # choice (what --dedup-verify picks) at 112 and 256.
    configs = [("14x8 (FineWeb, 112 perms)", 14, 8, 112, None), ("9x12 (112 perms, t=0.8)", 9, 12, 112, None),
               ("17x15 (256 perms, t=0.8)", 17, 15, 256, None), ("89x23 (2048 perms, t=0.8)", 89, 23, 2048, None),
               ("14x8 + exact verify", 14, 8, 112, "exact"), ("14x8 + signature verify", 14, 8, 112, "signature"),
               ("25x10/256 + exact verify", 25, 10, 256, "exact"),
               ("25x10/256 + signature verify", 25, 10, 256, "signature")]
    print(f"\nQuality: {len(docs)} documents, {len(pairs)} (copy, base) pairs, {results['positives']} at J >= 0.8")
    print(f"  {'configuration':28} {'precision':>9} {'recall':>7}  recall by J: <0.5 / 0.5-0.7 / 0.7-0.8 / 0.8-0.9 / >=0.9")
    for label, bands, rows, perms, verify in configs:
        cluster = clusters_of(docs, bands, rows, perms, verify, 0.8 if verify else None)
        same = [(cluster[c] == cluster[b], j) for c, b, j, _ in pairs]
        tp = sum(s and j >= 0.8 for s, j in same)
        predicted = sum(s for s, _ in same)
        precision, recall = tp / predicted if predicted else 1.0, tp / results["positives"]
        buckets = [(0, 0.5), (0.5, 0.7), (0.7, 0.8), (0.8, 0.9), (0.9, 1.01)]
        by_j = [np.mean([s for s, j in same if lo <= j < hi] or [0]) for lo, hi in buckets]
        results[label] = {"precision": precision, "recall": recall, "recall_by_j": by_j}
        print(f"  {label:28} {precision:9.3f} {recall:7.3f}  " + " / ".join(f"{r:.2f}" for r in by_j))
    plag_docs, plag_pairs = plagiarism_corpus(data)
    cluster = clusters_of(plag_docs, 14, 8, 112, None)
    print("\nPlagiarism short answers (14x8): a pair is found when the answer clusters with its source")
    for category in ("cut", "light", "heavy", "non"):
        found = [cluster[a] == cluster[o] for a, o, c in plag_pairs if c == category]
        print(f"  {category:6} {sum(found):3}/{len(found):3} found")
    cut = [cluster[a] == cluster[o] for a, o, c in plag_pairs if c == "cut"]
    non = [cluster[a] == cluster[o] for a, o, c in plag_pairs if c == "non"]
    tp, fp = sum(cut), sum(non)
    results["plagiarism"] = {"precision_cut_vs_non": tp / (tp + fp) if tp + fp else 1.0, "recall_cut": tp / len(cut)}
    print(f"  cut vs non: precision {results['plagiarism']['precision_cut_vs_non']:.3f}, "
          f"recall {results['plagiarism']['recall_cut']:.3f}")
    return results


def speed(peers_python: str | None, corpus: Path) -> dict:
    texts = [json.loads(line)["text"] for line in gzip.open(corpus, "rt")][:3000] if corpus.exists() else None
    if texts is None:
        print("(no peers' corpus: speed skipped)")
        return {}
    hasher = MinHasher()
    start = time.perf_counter()
    for text in texts:
        hasher.signature(text)
    ours = len(texts) / (time.perf_counter() - start)
    wide = MinHasher(2048)  # what pure LSH needs to meet the quality targets without verification
    start = time.perf_counter()
    for text in texts[:1000]:
        wide.signature(text)
    ours_2048 = 1000 / (time.perf_counter() - start)
    sample = texts[:300]
    shingles = [hasher.shingles(t) for t in sample]
    start = time.perf_counter()
    for doc in shingles:
        m = hasher.datasketch()
        for s in doc:
            m.update(s)
    per_shingle = len(sample) / (time.perf_counter() - start)
    start = time.perf_counter()
    for doc in shingles:
        hasher.datasketch().update_batch(doc)
    batch = len(sample) / (time.perf_counter() - start)
    result = {"ours": ours, "ours_2048_perms": ours_2048, "datasketch_update": per_shingle,
              "datasketch_update_batch": batch}
    if peers_python and Path(peers_python).exists():
        with tempfile.TemporaryDirectory() as tmp:
            docs = Path(tmp) / "docs.jsonl"
            docs.write_text("".join(json.dumps({"id": str(i), "text": t}) + "\n" for i, t in enumerate(texts)))
            run = subprocess.run([peers_python, str(REPO / "bench" / "datatrove_minhash.py"), str(docs), tmp],
                                 capture_output=True, text=True)
            if run.returncode:
                raise RuntimeError(run.stderr[-2000:])
            result["datatrove"] = len(texts) / json.loads(run.stdout.strip().splitlines()[-1])["seconds"]
    print(f"\nSignatures per second, one core, {len(texts)} documents of the peers' corpus (~370 words):")
    for name, rate in result.items():
        print(f"  {name:26} {rate:9.1f}   ours / this: {result['ours'] / rate:6.2f}x")
    return result


def scale(sizes: list[int], data: Path) -> dict:
    results = {}
    print("\nEnd-to-end near-dedup (Beam in-memory runner, child process), documents of about 100 words:")
    for size in sizes:
        with tempfile.TemporaryDirectory() as tmp:
            docs = str(Path(tmp) / "docs.parquet")
            script = str(REPO / "bench" / "dedup_scale.py")
            subprocess.run([sys.executable, script, "make", str(data), str(size), docs], check=True,
                           capture_output=True)
            run = subprocess.run([sys.executable, script, "run", docs], capture_output=True, text=True)
            if run.returncode:
                raise RuntimeError(run.stderr[-2000:])
            info = json.loads(run.stdout.strip().splitlines()[-1])
        results[size] = info
        print(f"  {size:>9,} docs: {info['seconds']:8.1f} s ({size / info['seconds']:7.0f} docs/s), "
              f"removed {info['removed']:,}, peak memory {info['peak_rss_mb']:.0f} MB")
    return results


def _load_peers(peers_dir: Path):
    import importlib.util

    spec = importlib.util.spec_from_file_location("peers", peers_dir / "peers.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # its top-level imports are the standard library only
    return module


# Our runs on the peers' corpus: the default, and verification letting the threshold go lower (the
# scattered edits below J 0.7 that every peer misses), at 0.7 like text-dedup's default and at 0.5.
OUR_PEER_RUNS = [("ours: minhash 14x8 (default)", []),
                 ("ours: t=0.7 + exact verify", ["--dedup-threshold", "0.7", "--dedup-verify", "exact"]),
                 ("ours: t=0.5 + exact verify", ["--dedup-threshold", "0.5", "--dedup-verify", "exact"])]


def kept_ids(run_dir: Path) -> set[str]:
    """The peers' ids of the documents a curate run kept (the JSONL reader keeps `id` in metadata)."""
    import pyarrow.parquet as pq

    ids = set()
    for shard in sorted((run_dir / "documents").glob("*/*.parquet")):
        ids.update(str(json.loads(m)["id"]) for m in pq.read_table(shard, columns=["metadata"])["metadata"].to_pylist())
    return ids


def peers_side_by_side(peers_dir: Path, corpus: Path, labels_path: Path, peers_python: str,
                       textdedup_python: str | None) -> dict:
    if not (corpus.exists() and labels_path.exists() and Path(peers_python).exists()):
        print(f"\n(no peers' corpus at {corpus} or no peers' venv: side by side skipped; see {peers_dir}/README.md)")
        return {}
    peers = _load_peers(peers_dir)
    all_ids = {i for i, _ in peers.read_docs(corpus)}
    labels = {(lab := json.loads(line))["id"]: lab for line in open(labels_path)}
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for label, extra in OUR_PEER_RUNS:
            out = Path(tmp) / "ours"
            start = time.perf_counter()
            run = subprocess.run([sys.executable, "-m", "pipelines.curate", "--input", f"peers={corpus}",
                                  "--output", str(out), "--overwrite", "--filters", "none", "--no-pii", *extra],
                                 cwd=REPO, capture_output=True, text=True)
            wall = time.perf_counter() - start
            if run.returncode:
                raise RuntimeError(run.stderr[-2000:])
            kept = kept_ids(out)
            rows.append({"name": label, "wall_s": wall, "kept": len(kept & all_ids),
                         **peers.dedup_scores(all_ids, kept, labels, corpus)})
        only = "minhash_datatrove,minhash_datasketch" + (",minhash_textdedup" if textdedup_python else "")
        command = [peers_python, str(peers_dir / "peers.py"), str(corpus), "--labels", str(labels_path),
                   "--work", str(Path(tmp) / "peers"), "--only", only, "--json", str(Path(tmp) / "peers.json")]
        if textdedup_python:
            command += ["--textdedup-python", textdedup_python]
        run = subprocess.run(command, capture_output=True, text=True)
        if run.returncode:
            raise RuntimeError(run.stderr[-2000:])
        rows += json.loads((Path(tmp) / "peers.json").read_text())["results"]
    base = rows[0]["wall_s"]
    print(f"\nThe peers' corpus ({len(all_ids):,} documents), one core each, scored by peers.py:")
    print(f"  {'run':32} {'wall s':>7} {'vs ours':>8} {'removed':>7} {'precision':>9} {'recall':>6}  pair recall "
          "exact / J>=0.8 / 0.7-0.8 / 0.5-0.7 / <0.5")
    for r in rows:
        if "error" in r:
            print(f"  {r['name']:32} FAILED: {r['error']}")
            continue
        bins = r["pair_recall"]
        print(f"  {r['name']:32} {r['wall_s']:7.1f} {r['wall_s'] / base:7.2f}x {r['removed']:7} {r['precision']:9.3f} "
              f"{r['recall']:6.3f}  " + " / ".join(bins.get(k, "-") for k in ("exact", "J>=0.8", "J 0.7-0.8",
                                                                               "J 0.5-0.7", "J<0.5")))
    return {"rows": rows}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", default=str(REPO.parent / "shared" / "data"))
    parser.add_argument("--peers-python", default="/tmp/venv-peers/bin/python")
    parser.add_argument("--peers-corpus", default="/tmp/bench-corpus/corpus.jsonl.gz")
    parser.add_argument("--peers-labels", default="/tmp/bench-corpus/labels.jsonl")
    parser.add_argument("--peers-dir", default=str(REPO.parent / "shared" / "peers"))
    parser.add_argument("--textdedup-python", default="/tmp/venv-textdedup/bin/python")
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--skip", default="")
    parser.add_argument("--json")
    args = parser.parse_args(argv)
    skip = set(args.skip.split(",")) - {""}
    data = Path(args.data_dir)
    results = {}
    if "quality" not in skip:
        results["quality"] = quality(data)
    if "speed" not in skip:
        results["speed"] = speed(args.peers_python, Path(args.peers_corpus))
    if "scale" not in skip:
        results["scale"] = scale([int(s) for s in args.sizes.split(",")], data)
    if "peers" not in skip:
        textdedup = args.textdedup_python if Path(args.textdedup_python).exists() else None
        results["peers"] = peers_side_by_side(Path(args.peers_dir), Path(args.peers_corpus), Path(args.peers_labels),
                                              args.peers_python, textdedup)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2, default=float))
    return 0


if __name__ == "__main__":
    sys.exit(main())
