"""Decontamination (filters/decontaminate.py, the `decontaminate` stage): documents sharing a 13-gram
with evaluation texts are rejected as `contaminated`, the n-gram in the detail."""

import json
import re

import apache_beam as beam
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import filters.decontaminate as dc
from conftest import curate, read_rows, refused
from filters.decontaminate import NgramIndex, build_index, evaluation_words, normalise_words
from filters.presets import load_preset
from pipelines.config import ConfigError, build_config
from pipelines.curate import build, stages_run
from pipelines.records import Rejected
from pipelines.transforms.stages import Decontaminate

FILLER = ("The committee met again on Tuesday to discuss the budget for the coming year, and after a long "
          "debate about roads, schools and the library it agreed to publish its figures next month. ")


def detokenise(line: str) -> str:
    """WikiText's tokenised text as it would appear on a web page ("guest @-@ starring" -> "guest-starring")."""
    text = re.sub(r" @(.)@ ", r"\1", line.strip())
    text = re.sub(r" ([,.;:!?)]|'s|n't)", r"\1", text)
    return text.replace("( ", "(").replace("<unk>", "Boulter")


def paragraphs(path) -> list[str]:
    return [line for line in path.read_text(encoding="utf-8").splitlines()
            if len(line.split()) > 60 and not line.strip().startswith("=")]


def first_clean_ngram(words: list[str], n: int = 13) -> list[str]:
    """The first n words in a row of the paragraph without WikiText's <unk> (which the page has as a name)."""
    for i in range(len(words) - n + 1):
        if "unk" not in words[i:i + n]:
            return words[i:i + n]
    raise AssertionError("no n-gram without <unk>")


# --- words and n-grams -------------------------------------------------------------------------------

def test_words_are_lowercase_with_punctuation_and_symbols_as_spaces():
    assert normalise_words("Teddy 's guest @-@ starring role , 1 @,@ 000 <unk>") == \
        ["teddy", "s", "guest", "starring", "role", "1", "000", "unk"]
    assert normalise_words("Teddy's guest-starring role, 1,000") == ["teddy", "s", "guest", "starring", "role", "1", "000"]
    assert normalise_words("Ｆｕｌｌ—width «Café» £5") == ["full", "width", "café", "5"]  # NFKC, Unicode P and S


def test_ngram_hashes_follow_word_order_and_are_deterministic():
    h = dc.word_hashes(["a", "b", "c", "d"])
    assert len(dc.ngram_hashes(h, 3)) == 2 and len(dc.ngram_hashes(h, 5)) == 0
    assert dc.ngram_hashes(h[:3], 3)[0] != dc.ngram_hashes(h[[1, 0, 2]], 3)[0]
    assert dc.ngram_hashes(h, 2).tolist() == dc.ngram_hashes(dc.word_hashes(["a", "b", "c", "d"]), 2).tolist()


def test_first_shared_ngram_is_found_and_twelve_shared_words_are_not():
    eval_words = [f"w{i}" for i in range(40)]
    index = NgramIndex(dc.distinct(dc.ngram_hashes(dc.word_hashes(eval_words), 13)), 13)
    assert len(index) == 28
    hit = ["x", "y"] + eval_words[5:18] + ["z"] + eval_words[20:35]
    assert index.first_match(hit) == 2
    assert index.check(" ".join(hit)) == " ".join(eval_words[5:18])
    near = ["x"] + eval_words[5:17] + ["z"] + eval_words[18:30] + ["y"]  # two runs of 12
    assert index.first_match(near) is None
    assert index.check(" ".join(eval_words[:12])) is None  # shorter than n: kept
    assert NgramIndex(np.zeros(0, np.uint64)).check(" ".join(eval_words)) is None


@pytest.mark.parametrize("size", [1, 7, 1000, 200_000])
def test_bit_table_loses_no_match(size):
    """The table of top bits that turns n-grams away before the search: the first match is the one
    np.isin finds, for indexes of every size, with shared n-grams anywhere in the document."""
    rng = np.random.default_rng(size)
    words = [f"v{i}" for i in range(3000)]
    grams = dc.ngram_hashes(dc.word_hashes(words), 3)
    chosen = rng.choice(len(grams), size=min(size, len(grams) // 2), replace=False)
    extra = rng.integers(0, 2**64 - 1, size=max(0, size - len(chosen)), dtype=np.uint64, endpoint=True)
    index = NgramIndex(dc.distinct(np.concatenate([grams[chosen], extra])), 3)
    for _ in range(30):
        start = int(rng.integers(0, 2900))
        doc = words[start:start + int(rng.integers(1, 100))]
        expected = np.flatnonzero(np.isin(dc.ngram_hashes(dc.word_hashes(doc), 3), index.hashes))
        assert index.first_match(doc) == (int(expected[0]) if len(expected) else None)


def test_index_bytes_round_trip():
    index = build_index([], 7)
    assert len(NgramIndex.from_bytes(index.to_bytes())) == 0
    hashes = dc.distinct(np.array([5, 1, 3, 3, 2**64 - 1], dtype=np.uint64))
    again = NgramIndex.from_bytes(NgramIndex(hashes, 9).to_bytes())
    assert again.n == 9 and again.hashes.tolist() == [1, 3, 5, 2**64 - 1]
    with pytest.raises(ValueError, match="not a decontamination index"):
        NgramIndex.from_bytes(b'{"format": "other"}\n')


def test_plain_text_ngrams_run_across_blocks(tmp_path, data_dir, monkeypatch):
    """A file is hashed a block at a time; the n-grams are those of the whole file."""
    path = data_dir / "wikitext2" / "test.txt"
    whole = dc.distinct(dc.text_ngrams(path.read_text(encoding="utf-8")))
    monkeypatch.setattr(dc, "_BLOCK_CHARS", 1000)
    assert build_index([str(path)]).hashes.tolist() == whole.tolist()


def test_jsonl_and_parquet_files(tmp_path):
    texts = ["one two three four five six", "alpha beta gamma delta epsilon zeta eta"]
    (tmp_path / "a.jsonl").write_text(json.dumps({"text": texts[0], "id": "q1 q2 q3 q4 q5 q6"}) + "\n\n"
                                      + json.dumps({"question": texts[1], "choices": ["a b", "c d e f g h"]}) + "\n")
    pq.write_table(pa.table({"question": [texts[1]], "choices": [["a b", "c d e f g h"]], "n": [1]}),
                   tmp_path / "b.parquet")
    pq.write_table(pa.table({"text": [texts[0]], "id": ["q1 q2 q3 q4 q5 q6"]}), tmp_path / "c.parquet")
    jsonl = build_index([str(tmp_path / "a.jsonl")], 3)
    # the `text` field alone where there is one; else every string, and no n-gram across records
    expected = dc.distinct(np.concatenate([dc.text_ngrams(t, 3) for t in texts + ["c d e f g h"]]))
    assert jsonl.hashes.tolist() == expected.tolist() and len(jsonl) == 4 + 5 + 4
    assert build_index([str(tmp_path / "b.parquet"), str(tmp_path / "c.parquet")], 3).hashes.tolist() == \
        expected.tolist()
    (tmp_path / "bad.jsonl").write_text('{"text": "a b c"}\nnot json\n')
    with pytest.raises(dc.EvaluationFileError, match="line 2 is not JSON"):
        build_index([str(tmp_path / "bad.jsonl")], 3)


# --- Chinese: the segmenter's words ------------------------------------------------------------------

def test_chinese_uses_segmenter_words(tmp_path, data_dir):
    fortunes = (data_dir / "fortunes_multilingual" / "zh" / "chinese").read_text(encoding="utf-8").split("\n%\n")
    passage = "".join(fortunes[1].splitlines()[2:5])  # 善意推定: three lines, joined
    assert len(passage) > 60
    eval_file = tmp_path / "eval.txt"
    eval_file.write_text(passage + "\n")
    assert evaluation_words(passage) == dc.words(passage, "zh")  # Han script: jieba, as for a zh document
    index = build_index([str(eval_file)])
    doc = "这是一个完全不同的开头，讲的是别的事情。" + passage + "后面还有一些别的文字。"
    match = index.check(doc, "zh")
    assert match is not None and len(match.split()) == 13
    segmented = dc.words(passage, "zh")  # jieba's words: 贡献者, 可能, 一样 ... (not characters, not white-space runs)
    assert match.split() in [segmented[i:i + 13] for i in range(len(segmented) - 12)]
    assert "贡献者" in match.split() and any(len(w) == 1 for w in match.split())
    assert index.check(doc, "en") is None  # split at white space: no segmenter words, no match
    assert index.check("这是一个完全不同的开头，讲的是别的事情。", "zh") is None


def test_stage_rejects_with_the_ngram(tmp_path):
    eval_words = [f"w{i}" for i in range(30)]
    payload = NgramIndex(dc.distinct(dc.ngram_hashes(dc.word_hashes(eval_words), 13)), 13).to_bytes()
    stage = Decontaminate(("unused",), 13)
    stage.receive(payload)
    index = stage._index
    stage.receive(bytes(bytearray(payload)))  # the same index, decoded again for another bundle
    assert stage._index is index
    other = NgramIndex(dc.distinct(dc.ngram_hashes(dc.word_hashes(eval_words[1:]), 13)), 13).to_bytes()
    assert NgramIndex.header_of(other) != NgramIndex.header_of(payload)
    doc = {"id": "x", "text": "Intro. " + " ".join(eval_words[3:16]).upper() + " end", "lang": "en"}
    rejected = stage.apply(dict(doc))
    assert isinstance(rejected, Rejected)
    assert (rejected.stage, rejected.reason, rejected.detail) == \
        ("decontaminate", "contaminated", f'13-gram "{" ".join(eval_words[3:16])}"')
    kept = stage.apply({**doc, "text": " ".join(eval_words[3:15])})
    assert kept["text"] == " ".join(eval_words[3:15])


# --- the pipeline ------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def contaminated_run(tmp_path_factory, data_dir):
    """Training documents: one with a WikiText-2 test paragraph in it (as a web page has it), one with
    13 words of another paragraph, one with 12 of them, one clean."""
    root = tmp_path_factory.mktemp("decontaminate")
    test_txt = data_dir / "wikitext2" / "test.txt"
    chosen, other = paragraphs(test_txt)[1], paragraphs(test_txt)[2]
    other_words = normalise_words(other)
    start = next(i for i in range(len(other_words)) if "unk" not in other_words[i:i + 14])
    docs = {
        "injected": FILLER * 2 + detokenise(chosen) + "\n\n" + FILLER,
        "thirteen": FILLER + " ".join(other_words[start:start + 13]) + " " + FILLER,
        "twelve": FILLER + " ".join(other_words[start:start + 12]) + " " + FILLER,
        "clean": FILLER * 3,
    }
    lines = [json.dumps({"id": name, "text": text}) + "\n" for name, text in docs.items()]
    (root / "train.jsonl").write_text("".join(lines))
    offsets = dict(zip(np.cumsum([0] + [len(line.encode()) for line in lines[:-1]]).tolist(), docs))
    result = curate(root / "run", [{"name": "train", "glob": str(root / "train.jsonl")}], filters="none",
                    dedup="none", pii=False, decontaminate=[str(data_dir / "wikitext2" / "t*.txt")])
    expected = " ".join(first_clean_ngram(normalise_words(chosen)))
    return result, root / "run", expected, " ".join(other_words[start:start + 13]), offsets


def test_wikitext_paragraph_is_rejected_with_its_ngram(contaminated_run):
    result, out, expected, thirteen, offsets = contaminated_run
    assert result.problems == []  # every document accounted for
    rejects = read_rows(out, "rejects")
    kept = read_rows(out, "documents")
    assert sorted(offsets[r["offset"]] for r in rejects) == ["injected", "thirteen"]
    assert sorted(offsets[r["offset"]] for r in kept) == ["clean", "twelve"]  # the near miss is kept
    by_name = {offsets[r["offset"]]: r for r in rejects}
    assert {(r["stage"], r["reason"]) for r in rejects} == {("decontaminate", "contaminated")}
    assert by_name["injected"]["detail"] == f'13-gram "{expected}"'
    assert by_name["thirteen"]["detail"] == f'13-gram "{thirteen}"'
    stages = [s["stage"] for s in result.stats["stages"]]
    assert stages[stages.index("quality") + 1] == "decontaminate"
    counts = next(s for s in result.stats["stages"] if s["stage"] == "decontaminate")
    assert (counts["in"], counts["out"], counts["rejected"]) == (4, 2, {"contaminated": 2})
    assert result.manifest["config"]["decontaminate_ngram"] == 13


def test_a_longer_ngram_keeps_the_thirteen(tmp_path, contaminated_run):
    out = contaminated_run[1]
    result = curate(tmp_path / "run", [{"name": "train", "glob": str(out.parent / "train.jsonl")}], filters="none",
                    dedup="none", pii=False, decontaminate=list(contaminated_run[0].config.decontaminate),
                    decontaminate_ngram=14)
    assert result.problems == []
    assert [r["offset"] for r in read_rows(tmp_path / "run", "rejects")] == [0]


def _labels(config) -> list[str]:
    pipeline = beam.Pipeline()
    build(pipeline, config, load_preset("none")[1])
    labels = []

    class Visit(beam.pipeline.PipelineVisitor):
        def visit_transform(self, node):
            labels.append(node.full_label)

        def enter_composite_transform(self, node):
            labels.append(node.full_label)

    pipeline.visit(Visit())
    return labels


def test_without_the_option_the_graph_has_no_stage(tmp_path, data_dir):
    glob = str(data_dir / "gutenberg_en" / "*.txt")
    off = build_config({"sources": [{"glob": glob}]}, [], str(tmp_path / "out"), {})
    on = build_config({"sources": [{"glob": glob}], "decontaminate": str(data_dir / "wikitext2" / "test.txt")},
                      [], str(tmp_path / "out"), {})
    assert off.decontaminate == () and "decontaminate" not in stages_run(off)
    assert stages_run(on)[stages_run(on).index("quality") + 1] == "decontaminate"
    assert tuple(s for s in stages_run(on) if s != "decontaminate") == stages_run(off)
    labels_off, labels_on = _labels(off), _labels(on)
    assert not [label for label in labels_off if "econtaminat" in label]
    # the option adds its own transforms and changes nothing else
    added = [label for label in labels_on if label not in labels_off]
    assert [label for label in labels_on if label not in added] == labels_off
    assert added and all("econtaminat" in label for label in added)


def test_missing_evaluation_files_are_usage_errors(tmp_path, data_dir, capsys):
    from pipelines.curate import main

    out = tmp_path / "out"
    books = str(data_dir / "gutenberg_en" / "*.txt")
    for missing in (tmp_path / "missing.txt", tmp_path / "*.jsonl"):
        refused(capsys, main(["--input", books, "--output", str(out), "--decontaminate", str(missing)]),
                f"decontaminate: '{missing}' matches no files")
        assert not out.exists()
    refused(capsys, main(["--input", books, "--output", str(out), "--decontaminate", books, "--decontaminate-ngram", "0"]),
            "decontaminate_ngram must be a number in [1, inf], got 0")
    with pytest.raises(ConfigError, match=r"recipe decontaminate\[1\]: expected a string, got int 5"):
        build_config({"sources": [{"glob": books}], "decontaminate": [books, 5]}, [], str(out), {})
