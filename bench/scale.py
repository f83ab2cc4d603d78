"""Scale: the whole default chain, and dedup alone, on generated corpora of 100k and 1M documents.

    python bench/scale.py [--data-dir ../shared/data] [--work /tmp/scale-work]
                          [--sizes 100000,1000000] [--modes chain,dedup] [--workers 1,2]
                          [--baseline CHECKOUT] [--peers-corpus /tmp/bench-corpus/corpus.jsonl.gz]
                          [--peers-python /tmp/venv-peers/bin/python] [--json out.json]
    make bench-scale                      # the same, with the Makefile's DATA_DIR and PEERS_VENV

1. Corpus (deterministic, `--seed`): N documents of about 300 words, each a few runs of consecutive
   sentences taken from random places in real prose of the data folder (WikiText-2, the Gutenberg
   books, the Wikipedia dump sample), one run per paragraph; 10% are near copies of an earlier
   document (1-4 words changed, so MinHash at FineWeb's 14x8 bands catches nearly all) and 2% exact
   copies. Written streaming as `--shards` zstd JSONL files under --work, reused while the
   parameters (and this generator's version) are the same.
2. Runs: `python -m pipelines.curate --input 'scale=SHARDS' --output DIR --overwrite --runner
   FnApiRunner`, mode `chain` (the defaults: fineweb filters, language ID, MinHash dedup, PII) or
   `dedup` (`--filters none --no-pii`), with one worker or N (`--direct_num_workers=N
   --direct_running_mode=multi_processing`). Each run is a child process; it reports documents/s,
   wall and CPU seconds, the peak RSS of the whole process tree (polled from /proc every 0.5 s, the
   workers being processes of their own), ru_maxrss of the main process, kept/rejected from the
   run's stats.json, the peak size of its output folder, and the bytes that went into shuffles
   (GroupByKey inputs: element count x mean sampled size, from FnApiRunner's monitoring infos,
   which the CLI does not print: the child runs the CLI module under a hook on Beam's runner), and
   where the wall time went: before the first bundle, in each bundle (its wall time and the CPU of the
   controller and of each worker process over it), after the last; and the critical path, the sum over
   bundles of the busiest process's CPU, which says what a run would take with a free core per process.
   Each timed run follows an untimed warm-up: the same command on 500 documents (datatrove's chain
   on the first 500 of the peers' corpus), so that the disk reads of a cold start, which depend on
   what else filled the page cache, are not in the figures; `--cold` leaves it out.
   Beside each run of N > 1 workers (unless `--no-ceiling`): N one-worker runs at once, each on every
   Nth file of the corpus. That is the most this machine gives for perfectly independent work (on a
   VM the cores may share caches, memory bandwidth or a physical core), so the N-worker figure is
   printed against it as well as against one worker. `--rounds R` repeats one worker, N and the
   ceiling R times one after another and prints N workers vs one round by round, with the median:
   a host whose speed drifts compares only runs made close together.
3. `--baseline CHECKOUT` runs each command also with another checkout (e.g. `git worktree add
   /tmp/scale-baseline 507c4a0`; same interpreter, cwd and PYTHONPATH there) and prints new/old.
   `--checkout` measures another checkout than this one alone (e.g. a commit while the tree is mid-edit).
4. `--peers-corpus`: the default chain on the peers' 20k corpus (../shared/peers, one worker); with
   `--peers-python` also datatrove 0.10.1's chain on it (bench/datatrove_chain.py, in its venv).

The machine's other load shows in every figure: on a shared machine they are approximate.
"""

import argparse
import bz2
import gzip
import hashlib
import html
import json
import os
import random
import re
import runpy
import signal
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
GENERATOR_VERSION = 1  # bump when the corpus a seed gives changes
NEAR_FRACTION, EXACT_FRACTION = 0.10, 0.02
RESERVOIR = 4096  # earlier documents a copy is drawn from (reservoir sample, bounded memory)


# --------------------------------------------------------------------------------------- prose
_BAD_CHARS = re.compile(r"[{}\[\]|<>=*_#@\\^~/`$%&+]|\(\)|\( |https?:|www\.|\.\.|lorem|ipsum|javascript|"
                        r"cookie|privacy policy|terms of use", re.IGNORECASE)
_SENTENCE_END = re.compile(r"(?:(?<=[.!?])|(?<=[.!?][\"”’)]))\s+(?=[\"“(]?[A-Z])")


def clean_sentences(paragraph: str) -> list[str]:
    """The sentences of a paragraph that read as plain prose (markup leftovers and fragments dropped)."""
    out = []
    for sentence in _SENTENCE_END.split(" ".join(paragraph.split())):
        words = sentence.split()
        ends = sentence.rstrip("\"”’)")[-1:]
        if 6 <= len(words) <= 60 and ends in (".", "!", "?") and not _BAD_CHARS.search(sentence):
            out.append(sentence)
    return out


def _detokenize_wikitext(line: str) -> str:
    """WikiText-2's tokenised form back to ordinary text (` @-@ ` -> `-`, ` , ` -> `, `, quotes)."""
    line = re.sub(r" @(.)@ ", r"\1", line).replace(" ’ ", "’")
    parts = line.split(' " ')
    line = "".join(p + (' "' if i % 2 == 0 else '" ') for i, p in enumerate(parts[:-1])) + parts[-1]
    line = re.sub(r" ([,.;:!?)%]|'s|n't|'re|'ve|'ll|'d)", r"\1", line)
    return re.sub(r"([($]) ", r"\1", line)


def wikitext_paragraphs(folder: Path) -> list[str]:
    paras = []
    for split in ("valid", "test", "train"):
        path = folder / f"{split}.txt"
        if path.exists():
            paras += [_detokenize_wikitext(line.strip()) for line in path.read_text(encoding="utf-8").splitlines()
                      if line.strip() and not line.strip().startswith("=")]
    return paras


def gutenberg_paragraphs(folder: Path) -> list[str]:
    paras = []
    for book in sorted(folder.glob("*.txt")):
        text = book.read_text(encoding="utf-8-sig")
        start, end = text.find("*** START OF"), text.find("*** END OF")
        body = text[text.find("\n", start) + 1 if start >= 0 else 0:end if end >= 0 else None]
        paras += [" ".join(p.split()).replace("_", "") for p in re.split(r"\n\s*\n", body)]
    return paras


def _strip_wikitext(text: str) -> str:
    text = re.sub(r"<!--.*?-->|<ref[^>/]*/>|<ref[^>]*>.*?</ref>", "", html.unescape(text), flags=re.DOTALL)
    while True:  # templates and tables, innermost first
        stripped = re.sub(r"\{\{[^{}]*\}\}|\{\|[^{}]*?\|\}", "", text)
        if stripped == text:
            break
        text = stripped
    text = re.sub(r"\[\[(?:File|Image|Category|[a-z-]{2,12}):[^\[\]]*(?:\[\[[^\[\]]*\]\][^\[\]]*)*\]\]", "", text)
    text = re.sub(r"\[\[(?:[^|\]]*\|)?([^\]]*)\]\]", r"\1", text)
    text = re.sub(r"\[https?://\S+ ([^\]]*)\]", r"\1", text)
    return re.sub(r"'{2,}|<[^>]+>", "", text)


def wikipedia_paragraphs(folder: Path) -> list[str]:
    paras = []
    for dump in sorted(folder.glob("*.bz2")):
        for page in bz2.decompress(dump.read_bytes()).decode("utf-8").split("<text")[1:]:
            body = _strip_wikitext(page.split(">", 1)[1].split("</text>")[0])
            paras += [line for line in body.splitlines() if line and line[0] not in "=*#:;|!{} "]
    return paras


def prose_runs(data_dir: Path) -> list[list[str]]:
    """Paragraphs of clean sentences, in reading order, from every prose source found in the folder."""
    sources = [("wikitext2", wikitext_paragraphs), ("gutenberg_en", gutenberg_paragraphs),
               ("enwiki_xml_dump_sample", wikipedia_paragraphs)]
    paragraphs = []
    for folder, read in sources:
        if (data_dir / folder).is_dir():
            paragraphs += [s for s in map(clean_sentences, read(data_dir / folder)) if s]
    if not paragraphs:
        raise SystemExit(f"no prose found under {data_dir} (wikitext2, gutenberg_en, enwiki_xml_dump_sample)")
    return paragraphs


# --------------------------------------------------------------------------------------- corpus
def base_document(sentences: list[str], rng: random.Random) -> str:
    """About 300 words: paragraphs, each a run of consecutive sentences (40-120 words) from a random place."""
    target, words, paragraphs = rng.randint(220, 380), 0, []
    while words < target:
        start, run, run_words, run_target = rng.randrange(len(sentences)), [], 0, rng.randint(40, 120)
        while run_words < run_target and words + run_words < target:
            sentence = sentences[(start + len(run)) % len(sentences)]
            run.append(sentence)
            run_words += sentence.count(" ") + 1
        paragraphs.append(" ".join(run))
        words += run_words
    return "\n".join(paragraphs)


def near_copy(text: str, rng: random.Random) -> str:
    """The text with 1-4 words replaced by other words of the same text (paragraphs kept)."""
    lines = [line.split(" ") for line in text.split("\n")]
    for _ in range(rng.randint(1, 4)):
        line = rng.choice(lines)
        line[rng.randrange(len(line))] = rng.choice(rng.choice(lines))
    return "\n".join(" ".join(line) for line in lines)


def documents(sentences: list[str], n: int, seed: int):
    """(kind, text) for N documents: base, near (copy of an earlier one, a few words changed) or exact."""
    rng, earlier = random.Random(seed), []
    for i in range(n):
        draw = rng.random()
        if earlier and draw < NEAR_FRACTION:
            yield "near", near_copy(rng.choice(earlier), rng)
        elif earlier and draw < NEAR_FRACTION + EXACT_FRACTION:
            yield "exact", rng.choice(earlier)
        else:
            text = base_document(sentences, rng)
            if len(earlier) < RESERVOIR:  # reservoir sample of the base documents so far
                earlier.append(text)
            elif (slot := rng.randrange(i + 1)) < RESERVOIR:
                earlier[slot] = text
            yield "base", text


def corpus_dir(work: Path, data_dir: Path, n: int, seed: int, shards: int) -> tuple[Path, list[str]]:
    """The corpus folder for these parameters (named by their digest and the prose's) and the sentences."""
    sentences = [s for paragraph in prose_runs(data_dir) for s in paragraph]
    digest = hashlib.sha256(json.dumps([GENERATOR_VERSION, n, seed, shards, NEAR_FRACTION, EXACT_FRACTION,
                                        RESERVOIR, sentences]).encode()).hexdigest()[:12]
    return work / "corpus" / f"n{n}-seed{seed}-{digest}", sentences


def make_corpus(work: Path, data_dir: Path, n: int, seed: int, shards: int) -> dict:
    """Writes the corpus (zstd JSONL shards, streaming) unless it is already there; returns its meta.json."""
    import zstandard

    folder, sentences = corpus_dir(work, data_dir, n, seed, shards)
    meta_path = folder / "meta.json"
    if meta_path.exists():
        return json.loads(meta_path.read_text())
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    start, kinds, text_bytes, shard, out = time.perf_counter(), {"base": 0, "near": 0, "exact": 0}, 0, -1, None
    for i, (kind, text) in enumerate(documents(sentences, n, seed)):
        if i * shards // n != shard:
            if out:
                out.close()
            shard = i * shards // n
            out = zstandard.ZstdCompressor(level=3).stream_writer(open(folder / f"part-{shard:05d}.jsonl.zst", "wb"))
        out.write((json.dumps({"id": f"doc-{i:09d}", "text": text}, ensure_ascii=False) + "\n").encode())
        kinds[kind] += 1
        text_bytes += len(text.encode())
    out.close()
    meta = {"documents": n, "seed": seed, "shards": shards, "kinds": kinds, "text_bytes": text_bytes,
            "sentences": len(sentences), "glob": str(folder / "part-*.jsonl.zst"),
            "disk_bytes": sum(p.stat().st_size for p in folder.glob("part-*")),
            "seconds": round(time.perf_counter() - start, 1)}
    meta_path.write_text(json.dumps(meta, indent=1))  # last: marks the corpus complete
    return meta


# --------------------------------------------------------------------------------------- the child
GBK_URN = "beam:transform:group_by_key:v1"


def shuffle_bytes(pipeline_proto, monitoring_infos) -> dict:
    """Per GroupByKey: elements in and their bytes (element count x mean sampled size, as FnApiRunner
    measures the coded elements of each PCollection written by a stage)."""
    from apache_beam.metrics import monitoring_infos as mi

    counts, sampled = {}, {}
    for info in monitoring_infos:
        pcoll = info.labels.get("PCOLLECTION")
        if pcoll and info.urn == mi.ELEMENT_COUNT_URN:
            counts[pcoll] = counts.get(pcoll, 0) + mi.extract_counter_value(info)
        elif pcoll and info.urn == mi.SAMPLED_BYTE_SIZE_URN:
            n, total = mi.extract_distribution(info)[:2]
            before = sampled.get(pcoll, (0, 0))
            sampled[pcoll] = (before[0] + n, before[1] + total)
    shuffles = []
    for transform in pipeline_proto.components.transforms.values():
        if transform.spec.urn == GBK_URN:
            for pcoll in transform.inputs.values():
                n, total = sampled.get(pcoll, (0, 0))
                elements = counts.get(pcoll)  # none: a producer with several outputs reports no counts
                shuffles.append({"transform": transform.unique_name, "elements": elements,
                                 "bytes": round(elements * total / n) if n else 0 if elements == 0 else None})
    return {"shuffles": sorted(shuffles, key=lambda s: -(s["bytes"] or 0)),
            "bytes": sum(s["bytes"] or 0 for s in shuffles),
            "unmeasured": [s["transform"] for s in shuffles if s["bytes"] is None]}


def hooked_cli(report: str, checkout: str, argv: list[str]) -> None:
    """`python -m pipelines.curate ARGV` from CHECKOUT, run in this process with a hook on Beam's
    FnApiRunner that writes the shuffle figures of its monitoring infos to REPORT (the CLI does not
    print them). Only Beam is hooked: the pipeline itself is driven through its CLI alone."""
    import resource

    sys.path.insert(0, checkout)
    from apache_beam.runners.portability.fn_api_runner import fn_runner

    run, execute = fn_runner.FnApiRunner.run_via_runner_api, fn_runner.FnApiRunner._execute_bundle
    with open("/proc/self/stat") as stat, open("/proc/uptime") as uptime:  # times from the process's start
        age = float(uptime.read().split()[0]) - int(stat.read().rsplit(")", 1)[1].split()[19]) / os.sysconf("SC_CLK_TCK")
    start, bundles = time.perf_counter() - age, []

    def own_cpu() -> float:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime + usage.ru_stime

    def timed(self, context, manager, bundle_input):
        """One bundle of one fused stage (a stage's input, split over the workers): its wall time, the
        controller's CPU and each worker process's CPU (from /proc) over it."""
        began, cpu, workers = time.perf_counter(), own_cpu(), tree_cpu(os.getpid())
        try:
            return execute(self, context, manager, bundle_input)
        finally:
            after = tree_cpu(os.getpid())
            bundles.append({"stage": manager.stage.name, "start_s": round(began - start, 2),
                            "wall_s": round(time.perf_counter() - began, 3),
                            "controller_cpu_s": round(own_cpu() - cpu, 3),
                            "worker_cpu_s": sorted((round(after[pid] - workers.get(pid, 0.0), 3)
                                                    for pid in after), reverse=True)})

    def recorded(self, pipeline_proto, options):
        result = run(self, pipeline_proto, options)
        figures = shuffle_bytes(pipeline_proto, result.monitoring_infos())
        Path(report).write_text(json.dumps({**figures, "pipelines": sys.modules["pipelines"].__file__,
                                            "bundles": bundles, "runner_s": round(time.perf_counter() - start, 2)}))
        return result

    fn_runner.FnApiRunner.run_via_runner_api = recorded
    fn_runner.FnApiRunner._execute_bundle = timed
    sys.argv = ["pipelines.curate", *argv]
    runpy.run_module("pipelines.curate", run_name="__main__", alter_sys=True)


# --------------------------------------------------------------------------------------- measuring
PAGE = os.sysconf("SC_PAGE_SIZE")


def process_tree(root: int) -> list[int]:
    """ROOT and all its descendants, from /proc (a worker may start or end between two reads)."""
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                with open(f"/proc/{entry.name}/stat") as stat:
                    ppid = int(stat.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo += children.get(pid, [])
    return tree


def tree_cpu(root: int) -> dict[int, float]:
    """CPU seconds (user + sys) of each descendant process of ROOT, from /proc."""
    ticks, cpu = os.sysconf("SC_CLK_TCK"), {}
    for pid in process_tree(root)[1:]:
        try:
            with open(f"/proc/{pid}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
            cpu[pid] = (int(fields[11]) + int(fields[12])) / ticks
        except (OSError, IndexError, ValueError):
            continue
    return cpu


def tree_rss(root: int) -> int:
    total = 0
    for pid in process_tree(root):
        try:
            with open(f"/proc/{pid}/statm") as statm:
                total += int(statm.read().split()[1]) * PAGE
        except (OSError, IndexError, ValueError):
            pass
    return total


def folder_bytes(folder: Path) -> int:
    total = 0
    for root, _, files in os.walk(folder):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_size
            except OSError:
                pass
    return total


def monitored(command: list[str], cwd: Path, env: dict, log: Path, watch: Path | None = None) -> dict:
    """Runs COMMAND as a child process: wall and CPU seconds, the peak RSS of its whole process tree
    (polled every 0.5 s), its own ru_maxrss, and the peak size of the folder WATCH."""
    peak_rss = peak_disk = polls = 0
    start = time.perf_counter()
    with open(log, "w") as out:
        child = subprocess.Popen(command, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT,
                                 start_new_session=True)
        try:
            while not (waited := os.wait4(child.pid, os.WNOHANG))[0]:
                peak_rss = max(peak_rss, tree_rss(child.pid))
                if watch and polls % 4 == 0:
                    peak_disk = max(peak_disk, folder_bytes(watch))
                polls += 1
                time.sleep(0.5)
        except BaseException:  # interrupted: stop the run and its workers
            os.killpg(child.pid, 15)
            child.wait()
            raise
    _, status, usage = waited
    child.returncode = os.waitstatus_to_exitcode(status)
    return {"rc": child.returncode, "wall_s": round(time.perf_counter() - start, 2),
            "cpu_s": round(usage.ru_utime + usage.ru_stime, 1),  # with the children it waited for
            "peak_tree_rss_mb": round(peak_rss / 2**20), "main_maxrss_mb": round(usage.ru_maxrss / 1024),
            "peak_output_mb": round(peak_disk / 2**20) if watch else None}


def run_curate(label: str, checkout: Path, argv: list[str], work: Path, keep: bool) -> dict:
    """One `python -m pipelines.curate` run of CHECKOUT: what monitored() measures, stats.json's counts and
    the shuffle figures of the hook."""
    runs = work / "runs"
    runs.mkdir(parents=True, exist_ok=True)
    out, report = runs / label, runs / f"{label}.beam.json"
    report.unlink(missing_ok=True)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(checkout), os.environ.get("PYTHONPATH")])))
    command = [sys.executable, str(Path(__file__).resolve()), "_cli", str(report), str(checkout), "--",
               *argv, "--output", str(out), "--overwrite"]
    result = monitored(command, checkout, env, runs / f"{label}.log", watch=out)
    if result["rc"]:
        tail = (runs / f"{label}.log").read_text(errors="replace")[-3000:]
        raise SystemExit(f"{label}: exit code {result['rc']}; the end of {runs / label}.log:\n{tail}")
    stats = json.loads((out / "stats.json").read_text())
    result["documents"] = stats["totals"]["records"]
    result["kept"] = stats["totals"]["kept"]
    result["rejected"] = stats["totals"]["rejected"]
    result["rejected_by_stage"] = {s["stage"]: sum(s["rejected"].values()) for s in stats.get("stages", [])
                                   if s["rejected"]}
    result["pipeline_s"] = stats.get("seconds")
    result["docs_per_s"] = round(result["documents"] / result["wall_s"], 1)
    result["beam"] = json.loads(report.read_text()) if report.exists() else None
    if not keep:
        shutil.rmtree(out, ignore_errors=True)
    return result


# --------------------------------------------------------------------------------------- the runs
MODES = {"chain": [], "dedup": ["--filters", "none", "--no-pii"]}


def worker_args(workers: int) -> list[str]:
    return [] if workers == 1 else [f"--direct_num_workers={workers}", "--direct_running_mode=multi_processing"]


def split_corpus(meta: dict, parts: int) -> list[str]:
    """The corpus's files dealt into PARTS folders of symbolic links (file i to part i % PARTS); their globs."""
    files = sorted(Path(meta["glob"]).parent.glob(Path(meta["glob"]).name))
    globs = []
    for part in range(parts):
        folder = Path(meta["glob"]).parent / f"split-{parts}" / f"part-{part}"
        folder.mkdir(parents=True, exist_ok=True)
        for path in files[part::parts]:
            link = folder / path.name
            if not link.exists():
                link.symlink_to(path)
        globs.append(str(folder / Path(meta["glob"]).name))
    return globs


def ceiling_run(label: str, checkout: Path, meta: dict, mode: str, parts: int, work: Path) -> dict:
    """PARTS one-worker runs at once, each on its share of the corpus's files: what this machine gives
    for perfectly independent work, with nothing shared and no runner in between. Each part dedups only
    within itself, so the kept counts differ from one run over the whole corpus; the work per document
    is the same."""
    import threading

    results = [None] * parts

    def one(i: int, pattern: str) -> None:
        argv = ["--input", f"scale={pattern}", "--runner", "FnApiRunner", *MODES[mode]]
        results[i] = run_curate(f"{label}-part{i}", checkout, argv, work, keep=False)

    threads = [threading.Thread(target=one, args=(i, g)) for i, g in enumerate(split_corpus(meta, parts))]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if any(r is None for r in results):
        raise SystemExit(f"{label}: a part failed (see its log under {work / 'runs'})")
    wall = time.perf_counter() - start
    documents = sum(r["documents"] for r in results)
    return {"wall_s": round(wall, 2), "cpu_s": round(sum(r["cpu_s"] for r in results), 1),
            "peak_tree_rss_mb": sum(r["peak_tree_rss_mb"] for r in results),
            "main_maxrss_mb": max(r["main_maxrss_mb"] for r in results), "peak_output_mb": None,
            "documents": documents, "kept": sum(r["kept"] for r in results),
            "rejected": sum(r["rejected"] for r in results), "docs_per_s": round(documents / wall, 1),
            "beam": None, "parts": [r["wall_s"] for r in results]}


WARM_DOCUMENTS = 500


def warm_up(args, checkout: Path, argv: list[str]) -> None:
    """An untimed run of the same command on WARM_DOCUMENTS documents, so that the run timed next finds
    the interpreter's libraries and models in the page cache. On the machine these figures come from,
    the page cache holds 2-3 GB and each large run's output pushes the libraries out of it: a cold start
    then costs 8-13 s of disk reads (docs/scale.md). `--cold` skips it."""
    if not args.warm:
        return
    if argv[:1] == ["datatrove"]:
        corpus = args.work / "peers-warm.jsonl.gz"
        if not corpus.exists():
            with gzip.open(args.peers_corpus, "rt") as source, gzip.open(corpus, "wt") as out:
                for _, line in zip(range(WARM_DOCUMENTS), source):
                    out.write(line)
        monitored([args.peers_python, str(REPO / "bench" / "datatrove_chain.py"), str(corpus),
                   str(args.work / "datatrove-warm")], REPO, dict(os.environ), args.work / "runs" / "warm.log")
        return
    small = make_corpus(args.work, args.data_dir, WARM_DOCUMENTS, args.seed, args.shards)
    argv = ["--input", f"scale={small['glob']}", *argv[2:]]
    run_curate("warm-up", checkout, argv, args.work, keep=False)


def scale_runs(args, checkouts: dict[str, Path]) -> list[dict]:
    rows = []
    for size in args.sizes:
        meta = make_corpus(args.work, args.data_dir, size, args.seed, args.shards)
        print(f"corpus {size:,}: {meta['kinds']}, {meta['text_bytes'] / 1e6:.0f} MB of text "
              f"({meta['disk_bytes'] / 1e6:.0f} MB zstd), {meta['glob']}\n" + header(), flush=True)
        for mode, round_ in ((m, k) for m in args.modes for k in range(args.rounds)):
            for workers in args.workers:
                for name, checkout in checkouts.items():  # old and new one after the other: the same load
                    label = f"{name}-{size}-{mode}-w{workers}" + (f"-r{round_ + 1}" if args.rounds > 1 else "")
                    argv = ["--input", f"scale={meta['glob']}", "--runner", "FnApiRunner", *MODES[mode],
                            *worker_args(workers)]
                    warm_up(args, checkout, argv)
                    row = {"label": label, "checkout": name, "size": size, "mode": mode, "workers": workers,
                           "round": round_, "text_bytes": meta["text_bytes"],
                           **run_curate(label, checkout, argv, args.work, args.keep_runs)}
                    print(row_text(row), flush=True)
                    rows.append(row)
                    if workers > 1 and args.ceiling:
                        label = f"{name}-{size}-{mode}-x{workers}" + (f"-r{round_ + 1}" if args.rounds > 1 else "")
                        warm_up(args, checkout, ["--input", "", "--runner", "FnApiRunner", *MODES[mode]])
                        row = {"label": label, "checkout": name, "size": size, "mode": mode,
                               "workers": f"x{workers}", "round": round_, "text_bytes": meta["text_bytes"],
                               **ceiling_run(label, checkout, meta, mode, workers, args.work)}
                        print(row_text(row), flush=True)
                        rows.append(row)
    return rows


def peers_runs(args, checkouts: dict[str, Path]) -> list[dict]:
    rows = []
    text_bytes = sum(len(json.loads(line)["text"].encode()) for line in gzip.open(args.peers_corpus, "rt"))
    for name, checkout in checkouts.items():
        argv = ["--input", f"peers={args.peers_corpus}", "--runner", "FnApiRunner"]
        warm_up(args, checkout, argv)
        row = {"label": f"{name}-peers-chain-w1", "checkout": name, "size": "peers", "mode": "chain", "workers": 1,
               "text_bytes": text_bytes, **run_curate(f"{name}-peers-chain-w1", checkout, argv, args.work,
                                                      args.keep_runs)}
        print(row_text(row), flush=True)
        rows.append(row)
    if args.peers_python and Path(args.peers_python).exists():
        log = args.work / "runs" / "datatrove-chain.log"
        warm_up(args, REPO, ["datatrove"])
        result = monitored([args.peers_python, str(REPO / "bench" / "datatrove_chain.py"), str(args.peers_corpus),
                            str(args.work / "datatrove")], REPO, dict(os.environ), log)
        if result["rc"]:
            raise SystemExit(f"datatrove chain: exit code {result['rc']}; see {log}")
        theirs = json.loads(log.read_text().strip().splitlines()[-1])
        rows.append({"label": "datatrove-peers-chain-w1", "checkout": "datatrove", "size": "peers", "mode": "chain",
                     "workers": 1, **result, "documents": theirs["documents"], "kept": theirs["kept"],
                     "rejected": theirs["documents"] - theirs["kept"], "datatrove": theirs,
                     "docs_per_s": round(theirs["documents"] / result["wall_s"], 1)})
        print(row_text(rows[-1]), flush=True)
    return rows


# --------------------------------------------------------------------------------------- the report
COLUMNS = [("run", 30, lambda r: r["label"]), ("docs", 10, lambda r: f"{r['documents']:,}"),
           ("wall s", 8, lambda r: f"{r['wall_s']:.1f}"), ("docs/s", 8, lambda r: f"{r['docs_per_s']:.1f}"),
           ("CPU s", 8, lambda r: f"{r['cpu_s']:.0f}"),
           ("docs/CPU-s", 10, lambda r: f"{per_cpu(r):.1f}"),
           ("tree MB", 8, lambda r: f"{r['peak_tree_rss_mb']:,}"), ("main MB", 8, lambda r: f"{r['main_maxrss_mb']:,}"),
           ("kept", 9, lambda r: f"{r['kept']:,}"), ("rejected", 9, lambda r: f"{r['rejected']:,}"),
           ("shuffled MB", 11, lambda r: f"{r['beam']['bytes'] / 1e6:,.0f}" if r.get("beam") else "n/a"),
           ("x text", 6, lambda r: f"{r['beam']['bytes'] / r['text_bytes']:.2f}" if r.get("beam") else "n/a"),
           ("out MB", 7, lambda r: "n/a" if r.get("peak_output_mb") is None else f"{r['peak_output_mb']:,}")]


def row_text(r: dict) -> str:
    return " ".join(f"{fmt(r):<{width}}" if i == 0 else f"{fmt(r):>{width}}"
                    for i, (_, width, fmt) in enumerate(COLUMNS))


def header() -> str:
    return " ".join(f"{name:<{width}}" if i == 0 else f"{name:>{width}}" for i, (name, width, _) in enumerate(COLUMNS))


def print_table(rows: list[dict]) -> None:
    print(header())
    for r in rows:
        print(row_text(r))
    print("\nRejected by stage:")
    for r in rows:
        if r.get("rejected_by_stage"):
            print(f"  {r['label']:30} " + ", ".join(f"{k} {v:,}" for k, v in r["rejected_by_stage"].items()))
    print("\nLargest shuffles (GroupByKey inputs, MB):")
    for r in rows:
        if r.get("beam"):
            top = ", ".join(f"{s['transform']} {s['bytes'] / 1e6:,.0f}" for s in r["beam"]["shuffles"][:4]
                            if s["bytes"])
            unmeasured = f"; not reported by the runner: {', '.join(r['beam']['unmeasured'])}" \
                if r["beam"]["unmeasured"] else ""
            print(f"  {r['label']:30} {top or '-'}{unmeasured}")
    breakdowns = [line for line in map(time_breakdown, rows) if line]
    if breakdowns:
        print("\nWhere the wall time went (per bundle: wall seconds, CPU seconds of each worker process):")
        for line in breakdowns:
            print(f"  {line}")


def time_breakdown(r: dict) -> str | None:
    """Where a run's wall time went, from its bundle timings: before the first bundle (imports, building
    the pipeline), in bundles, after the last (workers stopping, the manifest); and the critical path,
    the sum over bundles of the busiest process's CPU: the wall time the run would take if each
    process had a core to itself, with nothing else waiting."""
    bundles = (r.get("beam") or {}).get("bundles")
    if not bundles:
        return None
    busiest = [max([b["controller_cpu_s"], *b["worker_cpu_s"]]) for b in bundles]
    first, last = bundles[0]["start_s"], max(b["start_s"] + b["wall_s"] for b in bundles)
    stages = sorted(zip(bundles, busiest), key=lambda bb: -bb[0]["wall_s"])[:3]
    top = "; ".join(f"{b['stage'].lstrip('(').split(')')[0][:40]} {b['wall_s']:.1f} s (workers "
                    f"{'/'.join(f'{c:.1f}' for c in b['worker_cpu_s'] if c) or '-'})" for b, _ in stages)
    return (f"{r['label']:30} {r['wall_s']:.1f} s: {first:.1f} before the first bundle, "
            f"{sum(b['wall_s'] for b in bundles):.1f} in {len(bundles)} bundles, "
            f"{r['wall_s'] - last:.1f} after; critical path {sum(busiest):.1f} s. Longest: {top}")


def ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}x" if b else "n/a"


def per_cpu(r: dict) -> float:
    return r["documents"] / max(r["cpu_s"], 0.1)


def round_ratios(rows: list[dict]) -> list[str]:
    """N workers (and the ceiling) vs one worker, round by round, and the median over rounds: this
    host's speed moves by a quarter within an hour, so only runs made one after another compare."""
    runs = {(r["checkout"], r["size"], r["mode"], r["workers"], r.get("round", 0)): r for r in rows}
    lines = []
    for name, size, mode, workers, round_ in runs:
        if not isinstance(workers, int) or workers == 1 or round_:  # each N once, from its first round
            continue
        rounds = sorted(k for (n, s, m, w, k) in runs if (n, s, m, w) == (name, size, mode, workers))
        if len(rounds) < 2:
            continue
        for other in (workers, f"x{workers}"):
            paired = [runs[(name, size, mode, other, k)]["docs_per_s"] / runs[(name, size, mode, 1, k)]["docs_per_s"]
                      for k in rounds if (name, size, mode, other, k) in runs and (name, size, mode, 1, k) in runs]
            if paired:
                what = f"{workers} workers" if other == workers else f"the ceiling ({workers} one-worker runs at once)"
                lines.append(f"{what} vs 1, {name} {size} {mode}, round by round: "
                             f"{', '.join(f'{x:.2f}x' for x in paired)}; median {statistics.median(paired):.2f}x")
    return lines


def print_ratios(rows: list[dict]) -> None:
    """Two workers vs one, largest size vs smallest, memory per million documents, new vs old
    (of the last round), and with --rounds, N workers vs one round by round."""
    by = {(r["checkout"], r["size"], r["mode"], r["workers"]): r for r in rows}
    lines = round_ratios(rows)
    for (name, size, mode, workers), r in by.items():
        one = by.get((name, size, mode, 1))
        if isinstance(workers, int) and workers != 1 and one:
            lines.append(f"{workers} workers vs 1, {name} {size} {mode}: docs/s "
                         f"{ratio(r['docs_per_s'], one['docs_per_s'])}"
                         f", peak tree RSS {ratio(r['peak_tree_rss_mb'], one['peak_tree_rss_mb'])}")
            if ceiling := by.get((name, size, mode, f"x{workers}")):
                lines.append(f"  {workers} independent one-worker processes at once, each on 1/{workers} of the "
                             f"files (the machine's ceiling): docs/s {ratio(ceiling['docs_per_s'], one['docs_per_s'])}"
                             f" of one worker; {workers} workers reach "
                             f"{ratio(r['docs_per_s'], ceiling['docs_per_s'])} of that ceiling")
    sizes = sorted({r["size"] for r in rows if isinstance(r["size"], int)})
    for (name, size, mode, workers), big in by.items():
        small = by.get((name, sizes[0], mode, workers)) if sizes else None
        if small and isinstance(size, int) and size != sizes[0]:
            growth = (big["peak_tree_rss_mb"] - small["peak_tree_rss_mb"]) / (size - sizes[0]) * 1e6
            lines.append(f"{size:,} vs {sizes[0]:,}, {name} {mode} w{workers}: throughput "
                         f"{ratio(big['docs_per_s'], small['docs_per_s'])}, peak tree RSS grows "
                         f"{growth:,.0f} MB per million documents ({growth / 1e6 * 2**20:,.0f} bytes a document)")
    for (name, size, mode, workers), new in by.items():
        old = by.get(("old", size, mode, workers))
        if name == "new" and old:
            lines.append(f"new/old, {size} {mode} w{workers}: docs/s {ratio(new['docs_per_s'], old['docs_per_s'])} "
                         f"(per CPU second {ratio(per_cpu(new), per_cpu(old))}), "
                         f"peak tree RSS {ratio(new['peak_tree_rss_mb'], old['peak_tree_rss_mb'])}, shuffled "
                         + (ratio(new["beam"]["bytes"], old["beam"]["bytes"]) if new.get("beam") and old.get("beam")
                            else "n/a"))
        theirs = by.get(("datatrove", size, mode, workers))
        if theirs and name in ("new", "old"):
            lines.append(f"{name} vs datatrove, peers' corpus chain w1: docs/s "
                         f"{ratio(new['docs_per_s'], theirs['docs_per_s'])} (per CPU second "
                         f"{ratio(per_cpu(new), per_cpu(theirs))})")
    print("\n".join(["", "Ratios:"] + [f"  {line}" for line in lines] if lines else []))


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["_cli"]:  # the child: _cli REPORT CHECKOUT -- CURATE_ARGS
        hooked_cli(argv[1], argv[2], argv[4:])
        return 0
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--work", type=Path, default=Path("/tmp/scale-work"), help="corpora (kept) and runs")
    parser.add_argument("--sizes", default="100000,1000000", help="documents per corpus, comma-separated; none: "
                        "only the peers' corpus")
    parser.add_argument("--modes", default="chain,dedup", help="chain (the defaults) and/or dedup (--filters none "
                        "--no-pii)")
    parser.add_argument("--workers", default="1,2", help="FnApiRunner workers; over 1 in multi_processing mode")
    parser.add_argument("--no-ceiling", dest="ceiling", action="store_false",
                        help="skip the ceiling beside each run of N>1 workers: N one-worker runs at once, "
                        "each on 1/N of the files")
    parser.add_argument("--cold", dest="warm", action="store_false",
                        help=f"no untimed warm-up run on {WARM_DOCUMENTS} documents before each timed run")
    parser.add_argument("--rounds", type=int, default=1,
                        help="repeat each size and mode's runs (one worker, N, the ceiling) this many times, one "
                        "after another, and print N workers vs one round by round with the median")
    parser.add_argument("--seed", type=int, default=1234)
    parser.add_argument("--shards", type=int, default=64, help="corpus files")
    parser.add_argument("--checkout", type=Path, default=REPO, help="the checkout measured (default: this one)")
    parser.add_argument("--baseline", type=Path, help="another checkout of the repository, run side by side")
    parser.add_argument("--peers-corpus", type=Path, help="the peers' corpus: the default chain on it, one worker")
    parser.add_argument("--peers-python", help="the peers' venv interpreter: datatrove's chain on the peers' corpus")
    parser.add_argument("--keep-runs", action="store_true", help="keep each run's output under --work/runs")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    args.sizes = [int(n) for n in args.sizes.split(",") if n] if args.sizes != "none" else []
    if args.rounds < 1:
        parser.error(f"--rounds {args.rounds}: at least 1")
    if any(n < 1 for n in args.sizes):
        parser.error("--sizes: positive numbers of documents, or none")
    args.modes = [m for m in args.modes.split(",") if m]
    args.workers = [int(n) for n in args.workers.split(",") if n]
    if unknown := set(args.modes) - set(MODES):
        parser.error(f"unknown mode {sorted(unknown)}; choose from {sorted(MODES)}")
    for flag, checkout in (("--checkout", args.checkout), ("--baseline", args.baseline)):
        if checkout and not (checkout / "pipelines" / "curate.py").exists():
            parser.error(f"{flag} {checkout}: not a checkout of this repository")
    if args.peers_corpus and not args.peers_corpus.exists():
        print(f"(--peers-corpus {args.peers_corpus} not found: skipped; see ../shared/peers/README.md)")
        args.peers_corpus = None
    if args.peers_corpus and args.peers_python and not Path(args.peers_python).exists():
        print(f"(--peers-python {args.peers_python} not found: datatrove's chain skipped; make peers-venv)")
    args.work = args.work.resolve()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so that a run in progress is stopped too
    checkouts = {"new": args.checkout.resolve()} | ({"old": args.baseline.resolve()} if args.baseline else {})

    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} at the start; other work on the machine "
          f"shows in every figure", flush=True)
    rows = scale_runs(args, checkouts)
    if args.peers_corpus:
        print(f"peers' corpus {args.peers_corpus}:\n" + header(), flush=True)
        rows += peers_runs(args, checkouts)
    print(f"\nLoad average at the end {os.getloadavg()[0]:.2f}\n")
    print_table(rows)
    print_ratios(rows)
    print("\nShuffled: bytes into GroupByKeys (elements x mean sampled size, FnApiRunner's monitoring infos; "
          "side inputs and stage-to-stage buffers without a GroupByKey are not counted). tree MB: peak RSS summed "
          "over the process tree (/proc, every 0.5 s); main MB: ru_maxrss of the main process; out MB: peak size of "
          "the run's output folder (every 2 s). docs/s from wall time, with start-up and the manifest; docs/CPU-s: "
          "per CPU second of the run's processes (user + sys), the per-core rate least moved by other load.")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
