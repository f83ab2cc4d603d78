"""The ablation (pipelines.ablation, trainer.evaluate): bits per byte equals a direct computation, and a
real tiny ablation (2 variants x 2 seeds, a few hundred tokens) trains every run on the same number of
tokens and evaluates every run on the same bytes; a rerun skips every finished step."""

import json
import math

import pytest
import torch
import torch.nn.functional as F

from pipelines import ablation
from conftest import DATA_DIR
from filters.normalise import normalise_text
from trainer.evaluate import bits_per_byte, windows
from trainer.model import ModelConfig, Transformer
from trainer.tokenizer import train_tokenizer

TEXTS = ["The cat sat on the mat. The dog sat on the log.\n" * 3,
         "Caf\u00e9 cr\u00e8me, na\u00efve r\u00e9sum\u00e9: bytes are not characters. \u65e5\u672c\u8a9e\u306e\u6587\u7ae0\u3002",
         "A short one."]


@pytest.fixture(scope="module")
def small():
    tokenizer = train_tokenizer(TEXTS * 5, "bpe", 300)
    torch.manual_seed(0)
    model = Transformer(ModelConfig(vocab_size=tokenizer.get_vocab_size(), n_layer=1, n_head=2, d_model=32,
                                    max_seq_len=256, arch="decoder"))
    return model.eval(), tokenizer


def test_windows_predict_every_token_once():
    ids = list(range(10, 27))
    pieces = windows(ids, 5)
    assert [t for _, t in pieces] == [ids[0:5], ids[5:10], ids[10:15], ids[15:17]]
    sequence = [0, *ids]
    for (x, y), start in zip(pieces, range(0, 17, 5)):
        assert x == sequence[start:start + len(y)] and len(x) == len(y)


def test_bits_per_byte_is_the_direct_computation(small):
    model, tokenizer = small
    nats = 0.0
    with torch.no_grad():
        for text in TEXTS:  # each text whole in one forward pass, every token's loss summed
            ids = [0, *tokenizer.encode(text, add_special_tokens=False).ids]
            logits = model(torch.tensor([ids[:-1]])).logits[0, :, :tokenizer.get_vocab_size()]
            nats += float(F.cross_entropy(logits, torch.tensor(ids[1:]), reduction="sum"))
    n_bytes = sum(len(t.encode("utf-8")) for t in TEXTS)
    assert n_bytes > sum(len(t) for t in TEXTS)  # multi-byte characters: bytes, not characters
    direct = nats / math.log(2) / n_bytes
    whole = bits_per_byte(model, tokenizer, TEXTS)
    assert whole["bytes"] == n_bytes
    assert whole["bits_per_byte"] == pytest.approx(direct, rel=1e-6)
    assert whole["token_ppl"] == pytest.approx(math.exp(nats / whole["tokens"]), rel=1e-6)
    # Scored in short windows (less context), each token still counted once: the same tokens and bytes.
    short = bits_per_byte(model, tokenizer, TEXTS, window=4, batch_size=3)
    assert (short["tokens"], short["bytes"]) == (whole["tokens"], whole["bytes"])
    assert short["bits_per_byte"] != pytest.approx(direct, rel=1e-9)


RUSSIAN = ("\u0421\u0440\u0435\u0434\u043d\u044f\u044f \u0441\u0443\u0442\u043e\u0447\u043d\u0430\u044f "
           "\u043a\u0430\u043b\u043e\u0440\u0438\u0439\u043d\u043e\u0441\u0442\u044c \u044d\u0442\u043e\u0439 "
           "\u0434\u0438\u0435\u0442\u044b \u043d\u0435 \u043f\u0440\u0435\u0432\u044b\u0448\u0430\u0435\u0442 "
           "\u0442\u044b\u0441\u044f\u0447\u0438 \u043a\u0438\u043b\u043e\u043a\u0430\u043b\u043e\u0440\u0438\u0439 "
           "\u0432 \u0434\u0435\u043d\u044c.")
KOREAN = "\uc5d8\uc81c\uc774\uc758 \ub9ac\ubca4\uc9c0\uc778\uac00, \ub958\ud654\uc601\uc758 \ucf54\uc2a4\ud504\ub808\uc778\uac00. \uc2dc\uc791\uc740 \uc5d8\uc81c\uc774\uc758 \ud3ed\ub85c\uc600\ub2e4."


def test_eval_sets_keep_the_trained_languages_normalised_as_curation(tmp_path):
    # The models train on English text as curation normalises it; an evaluation set scored in other
    # languages (the AEB set's Russian and Korean articles) measured at ~10 bits per byte and swamped it.
    english = ["The river runs past the old mill, and the town keeps its market on Tuesdays.  \r\n"
               "Its bridge\u00a0was rebuilt in 1852 after the flood.\n\n\n\nNobody remembers the old one. ",
               "Police arrested six people on Monday during a narcotics investigation in the north of the city."]
    source = tmp_path / "set.jsonl"
    source.write_text("".join(json.dumps({"text": t}) + "\n" for t in [english[0], RUSSIAN, KOREAN, english[1]]))
    spec = {"name": "web", "kind": "jsonl", "path": str(source)}
    kept = ablation.read_eval_set(spec, 0, ["en"])
    assert kept == [normalise_text(t) for t in english]
    assert "\r" not in kept[0] and "\u00a0" not in kept[0] and "\n\n\n" not in kept[0] and not kept[0].endswith(" ")
    # no languages: every document, still normalised
    assert ablation.read_eval_set(spec, 0, []) == [normalise_text(t) for t in [english[0], RUSSIAN, KOREAN, english[1]]]
    # the config gives every set the corpus's languages unless the set names its own
    config = tmp_path / "c.yaml"
    config.write_text(json.dumps({
        "corpus": [{"name": "x", "type": "jsonl", "glob": "x"}], "languages": ["en"], "variants": {"raw": {}},
        "tokenizer": {"vocab_size": 400}, "train": {"tokens": 512, "seeds": [1, 2]},
        "evaluation": {"sets": [spec, {**spec, "name": "all", "languages": []}]}}))
    sets = ablation.load_config(str(config))["evaluation"]["sets"]
    assert [s["languages"] for s in sets] == [["en"], []]


@pytest.mark.shared_data
def test_aeb_eval_set_is_english_and_fills_its_budget():
    from filters.langid import LanguageIdentifier

    spec = {"name": "aeb", "kind": "aeb", "path": str(DATA_DIR / "web_pages_raw" / "ground_truth_aeb.json.gz")}
    docs = ablation.read_eval_set(spec, 120_000, ["en"])
    identify = LanguageIdentifier().identify
    assert {identify(d)[0] for d in docs} == {"en"}
    assert 100_000 < sum(len(d.encode("utf-8")) for d in docs) <= 120_000


def test_verdict_marks_differences_inside_the_spread():
    assert ablation.verdict(-0.01, 0.02) == "no measurable difference"
    assert ablation.verdict(0.02, 0.02) == "no measurable difference"
    assert ablation.verdict(-0.03, 0.02) == "better than raw"
    assert ablation.verdict(0.03, 0.02) == "worse than raw"


def _config(tmp_path):
    held_out = tmp_path / "held-out.jsonl"
    held_out.write_text("".join(json.dumps({"text": f"Held-out page {i}: the river runs past the old mill and "
                                                    f"the town keeps its market on Tuesdays."}) + "\n"
                                for i in range(3)) + json.dumps({"text": RUSSIAN}) + "\n")
    config = {
        "corpus": [{"name": "ccnet", "type": "jsonl", "glob": str(DATA_DIR / "ccnet_jsonl_dolma" / "*.jsonl.gz")}],
        "languages": ["en"],
        "variants": {"raw": {"filters": "none", "dedup": "none", "pii": False},
                     "gopher": {"filters": "gopher", "dedup": "none", "pii": False}},
        "tokenizer": {"vocab_size": 400},
        "train": {"config": "tiny", "tokens": 512, "seeds": [1, 2], "curve_points": 2, "heldout_fraction": 0.3,
                  "set": ["data.global_batch=4", "data.micro_batch=4", "data.seq_len=32", "model.max_seq_len=32",
                          "optim.warmup_steps=1"]},
        "evaluation": {"window": 32, "max_bytes": 2000, "sets": [
            {"name": "wikitext", "kind": "wikitext", "path": str(DATA_DIR / "wikitext2" / "test.txt")},
            {"name": "held-out", "kind": "jsonl", "path": str(held_out)}]}}
    file = tmp_path / "ablation.yaml"
    file.write_text(json.dumps(config))  # JSON is YAML
    return file


@pytest.fixture(scope="module")
def tiny_ablation(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ablation")
    config = ablation.load_config(str(_config(tmp)))
    out = tmp / "out"
    result = ablation.run_ablation(config, out, log=lambda _: None)
    return config, out, result


def test_equal_tokens_and_equal_bytes(tiny_ablation):
    config, out, result = tiny_ablation
    runs = result["runs"]
    assert sorted((r["variant"], r["seed"]) for r in runs) == [("gopher", 1), ("gopher", 2), ("raw", 1), ("raw", 2)]
    # every run trained the budget, read from its own training log
    assert {r["tokens_trained"] for r in runs} == {512}
    assert {r["steps"] for r in runs} == {4}
    # every run was evaluated on the same bytes and tokens of every set, at every curve point
    for name in ("wikitext", "held-out"):
        assert len({(r["eval"][name]["bytes"], r["eval"][name]["tokens"]) for r in runs}) == 1
        assert runs[0]["eval"][name]["bytes"] == result["eval_bytes"][name] > 0
    assert {tuple(p["tokens"] for p in r["curve"]) for r in runs} == {(256, 512)}
    # the same tokenizer and model for all; the seeds differ, so the runs do
    assert len({r["tokenizer_fingerprint"] for r in runs}) == 1 and len({r["parameters"] for r in runs}) == 1
    raw = result["variants"]["raw"]["bits_per_byte"]["mean"]
    assert raw["seeds"][0] != raw["seeds"][1] and raw["range"] == pytest.approx(abs(raw["seeds"][0] - raw["seeds"][1]))
    # the gopher variant is a filtered subset of raw, and smaller: more epochs for the same tokens
    v = result["variants"]
    assert v["gopher"]["documents"] < v["raw"]["documents"]
    assert v["gopher"]["train_tokens"] < v["raw"]["train_tokens"] and v["gopher"]["epochs"] > v["raw"]["epochs"]
    d = v["gopher"]["vs_raw"]["mean"]
    assert d["verdict"] == ablation.verdict(d["diff"], d["spread"])


def test_outputs_and_rerun_is_cached(tiny_ablation):
    config, out, result = tiny_ablation
    saved = json.loads((out / "ablation.json").read_text())
    assert saved["summary"] == result["summary"] and "beat raw beyond the seed spread" in saved["summary"]
    assert (out / "ablation.png").stat().st_size > 0 and (out / "ablation-curves.png").stat().st_size > 0
    page = (out / "raw" / "report.html").read_text()
    assert "<h2>Ablation</h2>" in page and 'data-variant="gopher"' in page
    assert "<h2>Ablation</h2>" in (out / "report.html").read_text()
    # the held-out set's Russian page is not scored: the models are trained on English only
    held = [json.loads(line)["text"] for line in open(out / "eval" / "held-out.jsonl", encoding="utf-8")]
    assert len(held) == 3 and RUSSIAN not in held and result["eval_documents"]["held-out"] == 3
    # the evaluation texts were given to every variant's decontamination
    for name in ("raw", "gopher"):
        argv = json.loads((out / name / "manifest.json").read_text())["config"]["decontaminate"]
        assert sorted(map(str, argv)) == sorted(str(out / "eval" / f) for f in ("wikitext.jsonl", "held-out.jsonl"))
    logged = []
    again = ablation.run_ablation(config, out, log=logged.append)
    assert [line for line in logged if line.endswith("...")] == []  # every step skipped
    assert again["runs"] == result["runs"]
