"""The tokenizer and the token shards, on a curation run of real text (Wikipedia and Gutenberg)."""

import json

import pyarrow.parquet as pq
import pytest

from pipelines.tokenize import TokenizeFailed, run as tokenize
from conftest import read_rows
from trainer.tokenizer import SPECIAL_TOKENS, load_tokenizer, main as train_tokenizer


def test_bpe_is_deterministic_lossless_and_has_the_special_tokens(curated, tokenizer_file, tmp_path):
    again = tmp_path / "again.json"
    train_tokenizer(["--input", str(curated), "--output", str(again), "--vocab-size", "4000"])
    assert again.read_bytes() == tokenizer_file.read_bytes()
    tokenizer, info = load_tokenizer(tokenizer_file)
    assert info["special_tokens"] == {token: i for i, token in enumerate(SPECIAL_TOKENS)}
    assert info["vocab_size"] == 4000
    meta = json.loads(tokenizer_file.with_name("bpe.json.meta.json").read_text())
    assert meta["fingerprint"] == info["fingerprint"] and meta["sample"]["documents"] > 100
    for doc in read_rows(curated, "documents", ["text"])[:50]:  # byte-level BPE loses nothing
        ids = tokenizer.encode(doc["text"], add_special_tokens=False).ids
        assert tokenizer.decode(ids, skip_special_tokens=False) == doc["text"]
        assert not set(ids) & set(range(len(SPECIAL_TOKENS)))  # text never turns into a special token


def test_wordpiece_for_bert(curated, tmp_path):
    path = tmp_path / "wp.json"
    train_tokenizer(["--input", str(curated), "--output", str(path), "--vocab-size", "3000", "--kind", "wordpiece"])
    tokenizer, info = load_tokenizer(path)
    assert info["special_tokens"]["[MASK]"] == SPECIAL_TOKENS.index("[MASK]")
    assert tokenizer.encode("The history of Anarchism", add_special_tokens=False).tokens[0] == "The"


def test_token_shards_hold_every_kept_document_once(curated, tokenizer_file, tmp_path):
    out = tmp_path / "tokens"
    manifest = tokenize(["--input", str(curated), "--tokenizer", str(tokenizer_file), "--output", str(out),
                         "--heldout-fraction", "0.1", "--shard-bytes", "300000"])
    docs = {d["id"]: d for d in read_rows(curated, "documents", ["id", "text", "source"])}
    tokenizer, info = load_tokenizer(tokenizer_file)
    seen = {}
    for split in ("train", "heldout"):
        files = manifest["splits"][split]["files"]
        assert len(files) >= (2 if split == "train" else 1)
        for f in files:
            table = pq.read_table(out / f["path"])
            assert str(table.schema.field("input_ids").type) == "list<element: uint16>"
            assert table.num_rows == f["rows"] and sum(table["n_tokens"].to_pylist()) == f["tokens"]
            assert table["id"].to_pylist() == sorted(table["id"].to_pylist())
            for row in table.to_pylist():
                assert row["id"] not in seen
                seen[row["id"]] = split
                assert row["n_tokens"] == len(row["input_ids"]) > 0
                assert row["source"] == docs[row["id"]]["source"]
                if len(seen) % 25 == 0:
                    assert tokenizer.decode(row["input_ids"], skip_special_tokens=False) == docs[row["id"]]["text"]
    assert seen.keys() == docs.keys()
    heldout = sum(split == "heldout" for split in seen.values()) / len(seen)
    assert 0.05 < heldout < 0.15
    assert manifest["tokenizer"]["fingerprint"] == info["fingerprint"]
    assert manifest["input"]["documents"] == len(docs)
    assert json.loads((out / "manifest.json").read_text())["fingerprint"] == manifest["fingerprint"]
    again = tokenize(["--input", str(curated), "--tokenizer", str(tokenizer_file), "--output", str(out),
                      "--heldout-fraction", "0.1", "--shard-bytes", "300000", "--overwrite"])
    assert again["fingerprint"] == manifest["fingerprint"]


def test_an_empty_heldout_split_fails_loudly(curated, tokenizer_file, tmp_path):
    with pytest.raises(TokenizeFailed, match="held-out split is empty"):
        tokenize(["--input", str(curated), "--tokenizer", str(tokenizer_file), "--output", str(tmp_path / "t"),
                  "--heldout-fraction", "1e-12"])
    assert not (tmp_path / "t" / "manifest.json").exists()
