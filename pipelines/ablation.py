"""Ablation runs: does curation make a better model, and which step helps most?

    python -m pipelines.ablation [--config configs/ablation/cpu.yaml] [--out DIR] [--variants a,b] [--seeds 1,2]
    make ablation [CONFIG=configs/ablation/gpu-124m.yaml]

From one raw corpus to the verdict (docs/ablation.md):

1. the evaluation texts (wikitext-2 test, held-out web articles) written to OUT/eval/*.jsonl;
2. the base variant (`raw`: read, extract, normalise, language ID) curated from the corpus, and every
   other variant curated from the base run's documents, each a curation run of its own in OUT/<variant>
   (stats, manifest, report), every one decontaminated against the evaluation texts (--decontaminate);
3. one tokenizer, trained on the base run (every other variant is a subset of it), and each variant's
   token shards in OUT/tokens/<variant>;
4. for every (variant, seed), the same model trained for the same number of tokens (a small variant
   repeats epochs) in OUT/train/<variant>/seed-<seed>, with checkpoints at evenly spaced steps;
5. bits per byte (trainer.evaluate) of every checkpoint on every evaluation set;
6. OUT/ablation.json (every number), OUT/ablation.png (bits per byte by variant, the seed spread),
   OUT/ablation-curves.png (learning curves), OUT/report.html, and an Ablation section in every
   variant's run report.

A variant whose mean differs from the base's by no more than the seed spread (the larger of the two
variants' ranges over seeds) is marked "no measurable difference". Every step is cached under
OUT/state/: a rerun with the same settings skips what is done, a changed setting redoes that step and
everything after it.
"""

import gzip
import hashlib
import json
import math
import os
import re
import sys
import time
from pathlib import Path

import yaml

from configs import expand_vars
from filters.presets import preset_path
from schemas.errors import OneLineParser, UsageError, cli_main

DEFAULT_CONFIG = "configs/ablation/cpu.yaml"
EVAL_KINDS = ("wikitext", "aeb", "text", "jsonl")
VARIANT_KEYS = {"filters", "dedup", "pii", "classifier_top", "options"}
RESERVED = {"eval", "tokens", "train", "state", "quality-classifier", "report"}  # OUT's own folders
_HEADING = re.compile(r"^ = [^=].* = $")


class AblationError(UsageError):
    pass


# ---------------------------------------------------------------- configuration

def _expand(value):
    if isinstance(value, str):
        return expand_vars(value)
    if isinstance(value, list):
        return [_expand(v) for v in value]
    if isinstance(value, dict):
        return {k: _expand(v) for k, v in value.items()}
    return value


def load_config(path: str) -> dict:
    """The ablation's settings, checked: a mistake is a one-line usage error before any work."""
    file = Path(path)
    if not file.is_file():
        raise AblationError(f"--config {path} " + ("is not a file" if file.exists() else "does not exist"))
    try:
        raw = yaml.safe_load(file.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise AblationError(f"--config {path}: not valid YAML ({getattr(exc, 'problem', None) or exc})") from None
    if not isinstance(raw, dict):
        raise AblationError(f"--config {path}: expected a mapping")
    known = {"out", "corpus", "languages", "base", "variants", "classifier", "tokenizer", "train", "evaluation",
             "curate_options"}
    if set(raw) - known:
        raise AblationError(f"--config {path}: unknown sections {sorted(set(raw) - known)}; known: {sorted(known)}")
    c = _expand(raw)
    for section in ("corpus", "variants", "train", "evaluation", "tokenizer"):
        if not c.get(section):
            raise AblationError(f"--config {path}: `{section}` is missing or empty")
    variants = c["variants"]
    if not isinstance(variants, dict):
        raise AblationError(f"--config {path}: `variants` must map names to curation settings")
    c.setdefault("base", "raw")
    if c["base"] not in variants:
        raise AblationError(f"--config {path}: the base variant {c['base']!r} is not among the variants {list(variants)}")
    for name, spec in variants.items():
        spec = variants[name] = spec or {}
        if not re.fullmatch(r"[A-Za-z0-9_.-]+", str(name)):
            raise AblationError(f"variant {name!r}: use letters, digits, '-', '_' or '.'")
        if name in RESERVED:
            raise AblationError(f"variant {name!r}: the name of one of the ablation's own folders {sorted(RESERVED)}")
        if not isinstance(spec, dict) or set(spec) - VARIANT_KEYS:
            raise AblationError(f"variant {name}: settings are {sorted(VARIANT_KEYS)}; got {spec!r}")
        if spec.get("classifier_top") is not None and not 0 < float(spec["classifier_top"]) <= 1:
            raise AblationError(f"variant {name}: classifier_top must be in (0, 1]")
    t = c["train"]
    t.setdefault("config", "tiny")
    t.setdefault("set", [])
    t.setdefault("curve_points", 4)
    t.setdefault("heldout_fraction", 0.0)
    seeds = t.get("seeds") or []
    if len(seeds) < 2 or len(set(seeds)) != len(seeds) or not all(isinstance(s, int) for s in seeds):
        raise AblationError("train.seeds: give at least two distinct integer seeds (the seed spread needs two)")
    if not isinstance(t.get("tokens"), int) or t["tokens"] < 1:
        raise AblationError("train.tokens: a positive number of training tokens per run")
    e = c["evaluation"]
    e.setdefault("max_bytes", 0)
    sets = e.get("sets") or []
    if not sets:
        raise AblationError("evaluation.sets: at least one evaluation set")
    for s in sets:
        if s.get("kind") not in EVAL_KINDS or not s.get("name") or not s.get("path"):
            raise AblationError(f"evaluation set {s!r}: needs name, path and kind (one of {EVAL_KINDS})")
        if not Path(s["path"]).is_file():
            raise AblationError(f"evaluation set {s['name']}: {s['path']} does not exist")
    if len({s["name"] for s in sets}) != len(sets):
        raise AblationError("evaluation.sets: names must differ")
    c.setdefault("languages", [])
    for s in sets:  # an evaluation set keeps the corpus's languages unless it names its own ([]: all)
        s.setdefault("languages", list(c["languages"]))
        if not isinstance(s["languages"], list):
            raise AblationError(f"evaluation set {s['name']}: languages must be a list of codes")
    c.setdefault("classifier", {})
    c.setdefault("curate_options", [])
    return c


def training_plan(c: dict) -> dict:
    """Steps, checkpoint spacing and tokens per run from the training config: every run trains exactly
    `train.tokens` tokens, so the budget must be a whole number of steps."""
    from trainer.config import load_config as load_train_config

    t = c["train"]
    run = load_train_config(t["config"], list(t["set"]))
    if run.objective != "clm":
        raise AblationError("train: the ablation scores bits per byte with a causal model; objective must be clm")
    per_step = run.data.global_batch * run.data.seq_len
    if t["tokens"] % per_step:
        raise AblationError(f"train.tokens {t['tokens']} is not a whole number of steps of {per_step} tokens "
                            f"(data.global_batch {run.data.global_batch} x data.seq_len {run.data.seq_len})")
    steps = t["tokens"] // per_step
    points = int(t["curve_points"])
    if points < 1 or steps % points:
        raise AblationError(f"train.curve_points {points} must divide the {steps} steps")
    return {"steps": steps, "tokens_per_step": per_step, "checkpoint_every": steps // points,
            "seq_len": run.data.seq_len, "global_batch": run.data.global_batch}


# ---------------------------------------------------------------- caching

class Steps:
    """OUT/state/<name>.json holds each finished step's key (a hash of its settings and of the keys of
    the steps it reads): a step whose key matches is skipped."""

    def __init__(self, out: Path, log=print):
        self.dir, self.log = out / "state", log
        self.dir.mkdir(parents=True, exist_ok=True)

    @staticmethod
    def key(*parts) -> str:
        return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]

    def done(self, name: str, key: str) -> bool:
        marker = self.dir / f"{name}.json"
        try:
            return json.loads(marker.read_text())["key"] == key
        except (OSError, ValueError, KeyError):
            return False

    def run(self, name: str, key: str, fn):
        if self.done(name, key):
            self.log(f"[ablation] {name}: done already (cached)")
            return
        (self.dir / f"{name}.json").unlink(missing_ok=True)
        started = time.perf_counter()
        self.log(f"[ablation] {name} ...")
        fn()
        seconds = round(time.perf_counter() - started, 1)
        (self.dir / f"{name}.json").write_text(json.dumps({"key": key, "seconds": seconds}) + "\n")
        self.log(f"[ablation] {name}: {seconds} s")

    def seconds(self, name: str) -> float | None:
        try:
            return json.loads((self.dir / f"{name}.json").read_text())["seconds"]
        except (OSError, ValueError, KeyError):
            return None


def _call(main, argv: list[str], what: str) -> None:
    rc = main(argv)
    if rc:
        raise RuntimeError(f"{what} failed (exit {rc}): {' '.join(argv)}")


# ---------------------------------------------------------------- evaluation texts

def read_eval_set(spec: dict, max_bytes: int = 0, languages=(), identify=None) -> list[str]:
    """The documents of an evaluation set, the first ones up to `max_bytes` UTF-8 bytes (0: all).
    wikitext: articles of a WikiText file (split at ' = Title = ' lines); aeb: the articleBody of the AEB
    ground truth; text: the whole file; jsonl: each record's `text`.

    Each document is normalised as curation normalises the training text (filters.normalise: ftfy, NFC,
    regular whitespace), so the models are scored on text of the kind they were trained on. With
    `languages`, only documents whose language (lid.176, as curation's language ID) is among them are
    kept: the models are trained on those languages only (the AEB set is a fifth Russian, Korean,
    Japanese, Portuguese... by bytes, and its URL-sorted first 120 kB three quarters, which scored at
    about 10 bits per byte, worse than a uniform byte model, and swamped the English)."""
    path, kind = spec["path"], spec["kind"]
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as fh:
        if kind == "wikitext":
            docs, current = [], []
            for line in fh:
                if _HEADING.match(line.rstrip("\n")) and any(x.strip() for x in current):
                    docs.append("".join(current))
                    current = []
                current.append(line)
            if any(x.strip() for x in current):
                docs.append("".join(current))
        elif kind == "aeb":
            docs = [v["articleBody"] for _, v in sorted(json.load(fh).items()) if (v.get("articleBody") or "").strip()]
        elif kind == "text":
            docs = [fh.read()]
        else:
            docs = [json.loads(line)["text"] for line in fh if line.strip()]
    from filters.normalise import normalise_text

    if languages and identify is None:
        from filters.langid import LanguageIdentifier

        identify = LanguageIdentifier().identify
    kept, total = [], 0
    for doc in docs:
        doc = normalise_text(doc)
        if not doc.strip() or (languages and identify(doc)[0] not in languages):
            continue
        size = len(doc.encode("utf-8"))
        if max_bytes and kept and total + size > max_bytes:
            break
        kept.append(doc)
        total += size
    return kept


def write_eval_sets(c: dict, out: Path) -> dict[str, Path]:
    folder = out / "eval"
    folder.mkdir(parents=True, exist_ok=True)
    files = {}
    for spec in c["evaluation"]["sets"]:
        texts = read_eval_set(spec, int(c["evaluation"]["max_bytes"]), spec["languages"])
        file = folder / f"{spec['name']}.jsonl"
        with open(file, "w", encoding="utf-8") as fh:
            for text in texts:
                fh.write(json.dumps({"text": text}, ensure_ascii=False) + "\n")
        files[spec["name"]] = file
    return files


def eval_texts(files: dict[str, Path]) -> dict[str, list[str]]:
    return {name: [json.loads(line)["text"] for line in open(file, encoding="utf-8") if line.strip()]
            for name, file in files.items()}


# ---------------------------------------------------------------- curation

def curate_argv(c: dict, name: str, out: Path, eval_files: list[Path], corpus_recipe: Path,
                classifier_preset: Path | None) -> list[str]:
    spec = c["variants"][name]
    base = name == c["base"]
    argv = (["--config", str(corpus_recipe)] if base else
            ["--input", f"{c['base']}={out / c['base'] / 'documents'}/*/*.parquet"])
    argv += ["--output", str(out / name), "--overwrite", "--quiet", "--decontaminate", *map(str, eval_files)]
    if c["languages"]:
        argv += ["--languages", ",".join(c["languages"])]
    if classifier_preset is not None:
        argv += ["--filters", str(classifier_preset)]
    elif spec.get("filters"):
        argv += ["--filters", str(spec["filters"])]
    if spec.get("dedup"):
        argv += ["--dedup", str(spec["dedup"])]
    if spec.get("pii") is False:
        argv.append("--no-pii")
    return argv + [str(x) for x in c["curate_options"]] + [str(x) for x in spec.get("options", [])]


def classifier_preset(c: dict, out: Path, name: str, model: Path) -> Path:
    """The variant's filters (its preset, default fineweb) plus the quality classifier's top fraction."""
    from filters.presets import DEFAULT_PRESET

    spec = c["variants"][name]
    preset = yaml.safe_load(preset_path(str(spec.get("filters") or DEFAULT_PRESET)).read_text()) or {}
    preset["description"] = f"{preset.get('description', '')} + quality classifier top {spec['classifier_top']}"
    preset["filters"] = list(preset.get("filters") or []) + [
        {"type": "quality_classifier", "model": str(model.resolve()), "keep_top_fraction": float(spec["classifier_top"])}]
    file = out / "quality-classifier" / f"{name}-filters.yaml"
    file.parent.mkdir(parents=True, exist_ok=True)
    file.write_text(yaml.safe_dump(preset, sort_keys=False))
    return file


# ---------------------------------------------------------------- the run

def run_ablation(c: dict, out: Path, log=print) -> dict:
    from pipelines.curate import main as curate_main
    from pipelines.train_quality_classifier import main as classifier_main
    from pipelines.tokenize import main as tokenize_main
    from trainer.tokenizer import main as tokenizer_main
    from trainer.train import main as train_main

    started = time.perf_counter()
    plan = training_plan(c)
    out.mkdir(parents=True, exist_ok=True)
    steps = Steps(out, log)
    base, names, seeds, t = c["base"], list(c["variants"]), c["train"]["seeds"], c["train"]

    eval_files = write_eval_sets(c, out)
    eval_key = Steps.key([hashlib.sha256(f.read_bytes()).hexdigest() for f in eval_files.values()])
    recipe = out / "corpus.yaml"
    recipe.write_text(yaml.safe_dump({"sources": c["corpus"]}, sort_keys=False))

    keys = {}
    base_key = keys[base] = Steps.key("curate", c["corpus"], c["languages"], c["variants"][base], c["curate_options"],
                                      eval_key)
    steps.run(f"curate-{base}", base_key, lambda: _call(
        curate_main, curate_argv(c, base, out, list(eval_files.values()), recipe, None), f"curation of {base}"))

    model = out / "quality-classifier" / "quality_fasttext.bin"
    classifier_key = Steps.key("classifier", base_key, c["classifier"])
    if any(c["variants"][n].get("classifier_top") for n in names):
        steps.run("quality-classifier", classifier_key, lambda: _call(
            classifier_main, ["--run", str(out / base), "--data-dir", str(c["classifier"].get("data_dir", "../shared/data")),
                              "--output", str(model)], "the quality classifier"))
    for name in names:
        if name == base:
            continue
        spec = c["variants"][name]
        preset = classifier_preset(c, out, name, model) if spec.get("classifier_top") else None
        keys[name] = Steps.key("curate", base_key, spec, c["languages"], c["curate_options"], eval_key,
                               classifier_key if preset else None)
        steps.run(f"curate-{name}", keys[name], lambda name=name, preset=preset: _call(
            curate_main, curate_argv(c, name, out, list(eval_files.values()), recipe, preset), f"curation of {name}"))

    tokenizer = out / "tokenizer.json"
    tok = c["tokenizer"]
    tokenizer_key = Steps.key("tokenizer", base_key, tok)
    steps.run("tokenizer", tokenizer_key, lambda: _call(tokenizer_main, [
        "--input", str(out / base), "--output", str(tokenizer), "--vocab-size", str(tok.get("vocab_size", 4096)),
        "--sample-bytes", str(tok.get("sample_bytes", 1 << 30))], "the tokenizer"))

    runs = []
    for name in names:
        tokens_dir = out / "tokens" / name
        tokens_key = Steps.key("tokenize", keys[name], tokenizer_key, t["heldout_fraction"])
        steps.run(f"tokenize-{name}", tokens_key, lambda name=name, tokens_dir=tokens_dir: _call(tokenize_main, [
            "--input", str(out / name), "--tokenizer", str(tokenizer), "--output", str(tokens_dir),
            "--heldout-fraction", str(t["heldout_fraction"]), "--overwrite"], f"tokenising {name}"))
        for seed in seeds:
            train_dir = out / "train" / name / f"seed-{seed}"
            train_key = Steps.key("train", tokens_key, t["config"], t["set"], plan, seed)
            settings = [*t["set"], f"train.seed={seed}", f"train.max_steps={plan['steps']}",
                        f"train.checkpoint_every={plan['checkpoint_every']}",
                        f"train.keep_last={int(t['curve_points']) + 1}", "train.eval_sequences=0", "train.eval_every=0",
                        "train.progress=false", "train.tensorboard=false",
                        f"train.log_every={max(1, plan['checkpoint_every'] // 5)}"]

            def train(train_dir=train_dir, tokens_dir=tokens_dir, settings=settings):
                import shutil

                shutil.rmtree(train_dir, ignore_errors=True)
                _call(train_main, ["--config", str(t["config"]), "--data", str(tokens_dir), "--out", str(train_dir),
                                   *[a for s in settings for a in ("--set", s)]], f"training {train_dir}")

            steps.run(f"train-{name}-seed-{seed}", train_key, train)
            evaluation = train_dir / "ablation-eval.json"
            eval_step_key = Steps.key("evaluate", train_key, eval_key, c["evaluation"].get("window"))
            steps.run(f"evaluate-{name}-seed-{seed}", eval_step_key, lambda train_dir=train_dir, evaluation=evaluation:
                      evaluation.write_text(json.dumps(evaluate_run(train_dir, eval_files, c["evaluation"].get("window")),
                                                       indent=1) + "\n"))
            runs.append(describe_run(out, name, seed, train_dir, tokens_dir, json.loads(evaluation.read_text()), plan))

    result = summarise(c, out, plan, runs, steps)
    result["seconds"] = round(time.perf_counter() - started, 1)
    (out / "ablation.json").write_text(json.dumps(result, indent=1) + "\n")
    from pipelines.report.ablation import draw, write_page

    draw(result, out)
    write_page(result, out)
    _variant_reports(out, names, log)
    return result


def _variant_reports(out: Path, names: list[str], log) -> None:
    """Each variant's run report, with the Ablation section (pipelines.report)."""
    from pipelines.report.__main__ import write_report

    for name in names:
        try:
            write_report(out / name, out / "tokens" / name, out / "train" / name / "none")
        except Exception as exc:  # a report is a view: the ablation's numbers are already written
            log(f"[ablation] report of {name} not written: {type(exc).__name__}: {exc}")


def evaluate_run(train_dir: Path, eval_files: dict[str, Path], window: int | None) -> dict:
    """Bits per byte of every checkpoint of a training run on every evaluation set."""
    from trainer import checkpoint
    from trainer.evaluate import bits_per_byte
    from trainer.sample import load

    texts = eval_texts(eval_files)
    points = []
    for ckpt in checkpoint.checkpoints(train_dir / "checkpoints"):
        model, tokenizer, _ = load(ckpt)
        state = json.loads((ckpt / "state.json").read_text())
        points.append({"step": state["step"], "tokens": state["tokens"],
                       "sets": {name: bits_per_byte(model, tokenizer, docs, window) for name, docs in texts.items()}})
    if not points:
        raise RuntimeError(f"{train_dir}: no checkpoints to evaluate")
    return {"points": points}


def describe_run(out: Path, name: str, seed: int, train_dir: Path, tokens_dir: Path, evaluation: dict, plan: dict) -> dict:
    events = [json.loads(line) for line in open(train_dir / "log.jsonl", encoding="utf-8") if line.strip()]
    config = next(e for e in events if e.get("event") == "config")
    trained = max((e["tokens"] for e in events if "loss" in e and "tokens" in e), default=0)
    per_epoch = sum(s["sequences_per_epoch"] for s in config["train_order"].values())
    sequences = plan["steps"] * plan["global_batch"]
    final = evaluation["points"][-1]
    return {"variant": name, "seed": seed, "dir": str(train_dir.relative_to(out)), "steps": final["step"],
            "tokens_trained": trained, "final_loss": next((e["loss"] for e in reversed(events) if "loss" in e), None),
            "parameters": config["parameters"], "data_fingerprint": config["data_fingerprint"],
            "tokenizer_fingerprint": config["tokenizer_fingerprint"],
            "sequences_per_epoch": per_epoch, "epochs": round(sequences / per_epoch, 3) if per_epoch else None,
            "eval": {k: v for k, v in final["sets"].items()},
            "curve": [{"step": p["step"], "tokens": p["tokens"],
                       **{k: v["bits_per_byte"] for k, v in p["sets"].items()}} for p in evaluation["points"]]}


def _stats(values: list[float]) -> dict:
    mean = sum(values) / len(values)
    std = math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1)) if len(values) > 1 else 0.0
    return {"mean": mean, "std": std, "min": min(values), "max": max(values), "range": max(values) - min(values),
            "seeds": values}


def verdict(diff: float, spread: float) -> str:
    """Lower bits per byte is better; within the seed spread is no measurable difference."""
    if abs(diff) <= spread:
        return "no measurable difference"
    return "better than raw" if diff < 0 else "worse than raw"


def summarise(c: dict, out: Path, plan: dict, runs: list[dict], steps: Steps) -> dict:
    base, names = c["base"], list(c["variants"])
    sets = [s["name"] for s in c["evaluation"]["sets"]]
    metrics = sets + ["mean"]

    def value(run, metric):
        if metric == "mean":
            return sum(run["eval"][s]["bits_per_byte"] for s in sets) / len(sets)
        return run["eval"][metric]["bits_per_byte"]

    by = {n: [r for r in runs if r["variant"] == n] for n in names}
    table = {n: {m: _stats([value(r, m) for r in by[n]]) for m in metrics} for n in names}
    variants = {}
    for n in names:
        cur = json.loads((out / n / "stats.json").read_text())
        tok = json.loads((out / "tokens" / n / "manifest.json").read_text())
        decon = next((s for s in cur["stages"] if s["stage"] == "decontaminate"), None)
        row = {"documents": cur["totals"]["kept"], "text_bytes": next(s["out_bytes"] for s in cur["stages"]
                                                                       if s["stage"] == cur["stages"][-1]["stage"]),
               "train_tokens": _split_tokens(tok, "train"), "epochs": by[n][0]["epochs"],
               "decontaminated": sum((decon or {}).get("rejected", {}).values()),
               "curation_seconds": steps.seconds(f"curate-{n}"), "bits_per_byte": table[n], "vs_raw": {}}
        for m in metrics:
            diff = table[n][m]["mean"] - table[base][m]["mean"]
            spread = max(table[n][m]["range"], table[base][m]["range"])
            row["vs_raw"][m] = {"diff": diff, "spread": spread,
                                "verdict": "base" if n == base else verdict(diff, spread)}
        variants[n] = row
    better = [n for n in names if variants[n]["vs_raw"]["mean"]["verdict"] == "better than raw"]
    worse = [n for n in names if variants[n]["vs_raw"]["mean"]["verdict"] == "worse than raw"]
    same = [n for n in names if variants[n]["vs_raw"]["mean"]["verdict"] == "no measurable difference"]
    summary = (f"On the mean bits per byte over {', '.join(sets)} ({len(c['train']['seeds'])} seeds, "
               f"{plan['steps'] * plan['tokens_per_step']:,} training tokens each): "
               f"beat {base} beyond the seed spread: {', '.join(better) or 'none'}; "
               f"no measurable difference from {base}: {', '.join(same) or 'none'}; "
               f"worse than {base} beyond the seed spread: {', '.join(worse) or 'none'}.")
    first = runs[0]
    return {"format": "curate-pretrain/ablation/v1", "base": base, "variants_order": names, "eval_sets": sets,
            "metric": "bits per UTF-8 byte (sum of token NLL / ln 2 / bytes); lower is better",
            "spread_rule": "spread = the larger seed range (max - min) of the variant and the base; "
                           "|mean difference| <= spread: no measurable difference",
            "train": {**plan, "tokens": plan["steps"] * plan["tokens_per_step"], "seeds": c["train"]["seeds"],
                      "config": c["train"]["config"], "set": c["train"]["set"], "parameters": first["parameters"],
                      "tokenizer_fingerprint": first["tokenizer_fingerprint"]},
            "eval_bytes": {s: first["eval"][s]["bytes"] for s in sets},
            "eval_documents": {s: first["eval"][s]["documents"] for s in sets},
            "variants": variants, "runs": runs, "better": better, "worse": worse, "no_measurable_difference": same,
            "summary": summary}


def _split_tokens(manifest: dict, split: str) -> int:
    return int(manifest["splits"][split]["tokens"])


def table_text(result: dict) -> str:
    sets = result["eval_sets"]
    head = f"{'variant':<12} {'docs':>6} {'train tok':>10} {'epochs':>6} " + " ".join(
        f"{s[:18]:>22}" for s in sets + ["mean"]) + "  verdict (mean)"
    lines = [head, "-" * len(head)]
    for n in result["variants_order"]:
        v = result["variants"][n]
        cells = " ".join(f"{v['bits_per_byte'][m]['mean']:>9.4f} ± {v['bits_per_byte'][m]['range'] / 2:<7.4f}    "
                         for m in sets + ["mean"])
        lines.append(f"{n:<12} {v['documents']:>6} {v['train_tokens']:>10,} {v['epochs'] or 0:>6.2f} {cells}"
                     f"  {v['vs_raw']['mean']['verdict']}")
    return "\n".join(lines)


@cli_main()
def main(argv=None) -> int:
    parser = OneLineParser(prog="python -m pipelines.ablation", description=__doc__.split("\n")[0])
    parser.add_argument("--config", default=DEFAULT_CONFIG, help=f"ablation YAML (default {DEFAULT_CONFIG})")
    parser.add_argument("--out", help="output folder (default: the config's `out`, else runs/ablation)")
    parser.add_argument("--variants", help="comma-separated subset of the config's variants (the base always runs)")
    parser.add_argument("--seeds", help="comma-separated seeds instead of the config's (at least two)")
    args = parser.parse_args(argv)
    c = load_config(args.config)
    if args.variants:
        wanted = [v.strip() for v in args.variants.split(",") if v.strip()]
        unknown = [v for v in wanted if v not in c["variants"]]
        if unknown:
            raise AblationError(f"--variants: unknown {unknown}; the config has {list(c['variants'])}")
        c["variants"] = {n: s for n, s in c["variants"].items() if n == c["base"] or n in wanted}
    if args.seeds:
        try:
            c["train"]["seeds"] = [int(s) for s in args.seeds.split(",")]
        except ValueError:
            raise AblationError(f"--seeds {args.seeds}: comma-separated integers") from None
        if len(set(c["train"]["seeds"])) < 2:
            raise AblationError("--seeds: at least two distinct seeds")
    training_plan(c)  # the budget's arithmetic, before any work
    out = Path(args.out or c.get("out") or "runs/ablation")
    result = run_ablation(c, out)
    print(table_text(result))
    print(result["summary"])
    print(f"{out / 'ablation.json'}, {out / 'ablation.png'}, {out / 'report.html'} ({result['seconds']:.0f} s)")
    return 0


if __name__ == "__main__":
    os.environ.setdefault("DATA_DIR", "../shared/data")
    sys.exit(main())
