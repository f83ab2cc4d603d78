"""The streaming dataset: every token of an epoch once, the same batches for any world size and worker count,
exact resume (also onto another world size), mixture shares, text shards equal to token shards."""

import hashlib
import json
import pickle
import shutil

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pyarrow.fs import LocalFileSystem
from tokenizers import Tokenizer, models, pre_tokenizers, trainers

from schemas.run_manifest import file_entry
from schemas.tokens import FORMAT, token_schema
from trainer.data.loader import LoaderStateMismatch, PretrainLoader, SequenceDataset
from trainer.data.order import Mixture, permutation, rank_sequences
from trainer.data.shards import TokenShards

SPECIALS = ["<|endoftext|>", "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
SEQ_LEN = 63  # window 64
ROW_GROUP = 40


def paragraphs(text: str) -> list[str]:
    return [" ".join(p.split()) for p in text.split("\n\n") if p.strip()]


@pytest.fixture(scope="module")
def documents(data_dir):
    """(id, source, text) sorted by id: paragraphs of two Gutenberg books and of WikiText-2, one empty."""
    books = []
    for name in ("11-0.txt", "84-0.txt"):
        books += paragraphs((data_dir / "gutenberg_en" / name).read_text(encoding="utf-8-sig"))[:220]
    wiki = [line.strip() for line in (data_dir / "wikitext2" / "test.txt").read_text().splitlines()
            if line.strip() and not line.strip().startswith("=")][:90]
    docs = [("books", t) for t in books + [""]] + [("wiki", t) for t in wiki]
    return sorted((hashlib.sha1(f"{s}/{i}".encode()).hexdigest()[:16], s, t) for i, (s, t) in enumerate(docs))


@pytest.fixture(scope="module")
def tokenizer(documents):
    tok = Tokenizer(models.WordLevel(unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.train_from_iterator([t for _, _, t in documents],
                            trainers.WordLevelTrainer(special_tokens=SPECIALS, show_progress=False))
    return tok


def split_files(documents, files=3):
    train = [d for i, d in enumerate(documents) if i % 20]
    heldout = [d for i, d in enumerate(documents) if i % 20 == 0]
    size = -(-len(train) // files)
    return {"train": [train[i:i + size] for i in range(0, len(train), size)], "heldout": [heldout]}


def write_token_shards(root, documents, tokenizer, vocab_size=None):
    """Token shards as pipelines.tokenize writes them (schemas.tokens: list<uint16> ids up to 65,536 ids,
    else list<uint32>), written here with pyarrow."""
    vocab_size = vocab_size or tokenizer.get_vocab_size()
    schema = token_schema(vocab_size)
    splits = {}
    for split, chunks in split_files(documents).items():
        entries = []
        for i, chunk in enumerate(chunks):
            ids = [e.ids for e in tokenizer.encode_batch([t for _, _, t in chunk], add_special_tokens=False)]
            table = pa.table({"id": [d for d, _, _ in chunk], "source": [s for _, s, _ in chunk],
                              "input_ids": ids, "n_tokens": [len(x) for x in ids]}, schema=schema)
            path = f"{split}/part-{i:05d}-of-{len(chunks):05d}.parquet"
            (root / split).mkdir(parents=True, exist_ok=True)
            pq.write_table(table, root / path, row_group_size=ROW_GROUP, compression="zstd")
            entries.append({"path": path, "rows": len(chunk), "tokens": sum(len(x) for x in ids)})
        splits[split] = {"files": entries}
    tok_info = {"fingerprint": hashlib.sha256(tokenizer.to_str().encode()).hexdigest(), "vocab_size": vocab_size,
                "special_tokens": {t: tokenizer.token_to_id(t) for t in SPECIALS}}
    fingerprint = hashlib.sha256(json.dumps([splits, tok_info["fingerprint"]], sort_keys=True).encode()).hexdigest()
    (root / "manifest.json").write_text(json.dumps({"format": FORMAT, "tokenizer": tok_info,
                                                    "splits": splits, "fingerprint": fingerprint}))
    return root


@pytest.fixture(scope="module")
def token_dir(tmp_path_factory, documents, tokenizer):
    return write_token_shards(tmp_path_factory.mktemp("tokens"), documents, tokenizer)


@pytest.fixture(scope="module")
def text_dir(tmp_path_factory, documents):
    """The train documents as a curation run's text shards, in the same files and row groups."""
    root = tmp_path_factory.mktemp("run")
    (root / "documents" / "lang=en").mkdir(parents=True)
    (root / "rejects").mkdir()
    chunks = split_files(documents)["train"]
    for i, chunk in enumerate(chunks):
        table = pa.table({"id": [d for d, _, _ in chunk], "text": pa.array([t for _, _, t in chunk], pa.large_string()),
                          "source": [s for _, s, _ in chunk]})
        pq.write_table(table, root / f"documents/lang=en/part-{i:05d}-of-{len(chunks):05d}.parquet",
                       row_group_size=ROW_GROUP, compression="zstd")
    pq.write_table(table, root / "rejects" / "part-00000-of-00001.parquet")  # must not be read
    # Finished: the manifest a curation run writes last (each file's kind, size and sha256).
    files = [{**file_entry(LocalFileSystem(), str(root), str(p.relative_to(root))), "kind": p.relative_to(root).parts[0]}
             for p in sorted(root.rglob("*.parquet"))]
    (root / "manifest.json").write_text(json.dumps({"complete": True, "files": files}))
    return root


@pytest.fixture(scope="module")
def shards(token_dir):
    return TokenShards(str(token_dir))


def dataset(shards, seed=0, **kw):
    return SequenceDataset(shards, SEQ_LEN, seed=seed, block_size=kw.pop("block_size", 4), **kw)


def run(ds, global_batch, micro_batch, world_size, steps, num_workers=0, state=None):
    """Global batches (input_ids, doc_ids, seq_ids per step) from all ranks, simulated one after another."""
    per_step = [[] for _ in range(steps)]
    for rank in range(world_size):
        loader = PretrainLoader(ds, global_batch, micro_batch, world_size=world_size, rank=rank,
                                num_workers=num_workers)
        if state is not None:
            loader.load_state_dict(json.loads(json.dumps(state)))
        first = loader.consumed_sequences // global_batch
        loader.max_steps = first + steps
        for i, batch in enumerate(loader):
            per_step[i // loader.accumulation].append(batch)
        assert loader.consumed_sequences == (first + steps) * global_batch
    return [tuple(np.concatenate([b[k].numpy() for b in step]) for k in ("input_ids", "doc_ids", "seq_id"))
            for step in per_step]


def assert_epoch_covered(shards, ds, sequences):
    """Reassemble each document from the sequences of epoch 0, in order: every document and its separator,
    each token once, except the dropped tail (the end of the epoch's order)."""
    (stream,) = ds.order.streams.values()
    pieces = {}
    for input_ids, doc_ids in sequences:
        for doc in np.unique(doc_ids):
            pieces.setdefault(int(doc), []).append(input_ids[doc_ids == doc])
    short = 0
    for doc in range(len(shards.doc_tokens)):
        full = np.append(shards.document(doc), shards.separator_id)
        got = np.concatenate(pieces.get(doc, [np.zeros(0, np.int64)]))
        assert np.array_equal(got, full[:len(got)]), doc
        short += len(full) - len(got)
    assert short == stream.dropped_tokens_per_epoch < ds.window
    assert sum(len(ids) for ids, _ in sequences) == stream.sequences_per_epoch * ds.window


def test_order_helpers_are_pure_and_exact():
    p = permutation(("x", 1), 1000)
    assert sorted(p) == list(range(1000)) and np.array_equal(p, permutation(("x", 1), 1000))
    assert not np.array_equal(p, permutation(("x", 2), 1000))
    mix = Mixture({"a": 0.693584, "b": 0.306416, "c": 0})
    assert mix.names == ["a", "b"] and mix.quota.sum() == mix.period
    counts = {"a": 0, "b": 0}
    for i in range(3 * mix.period):
        name, j = mix.locate(i)
        assert j == counts[name]  # each source's sequences in order, none skipped
        counts[name] += 1
        assert abs(counts["a"] - 0.693584 * (i + 1)) < 2
    assert list(rank_sequences(3, 8, 2, 1)) == [28, 29, 30, 31]
    with pytest.raises(ValueError):
        rank_sequences(0, 8, 3, 0)


@pytest.mark.parametrize("world_size,num_workers", [(1, 0), (2, 0), (1, 2), (2, 2)])
def test_one_epoch_uses_every_token_once(shards, world_size, num_workers):
    ds = dataset(shards)
    spe = ds.order.streams[""].sequences_per_epoch
    assert spe > 500
    steps = -(-spe // 16)
    batches = run(ds, 16, 4, world_size, steps, num_workers)
    seq_ids = np.concatenate([s for _, _, s in batches])
    assert np.array_equal(seq_ids, np.arange(steps * 16))
    rows = [(ids, docs) for step in batches for ids, docs, s in zip(*step) if s < spe]
    assert_epoch_covered(shards, ds, rows)


def test_same_config_same_order_other_seed_or_epoch_differs(shards):
    a, b, other = dataset(shards), dataset(shards), dataset(shards, seed=1)
    spe = a.order.streams[""].sequences_per_epoch
    first = [a[s]["input_ids"] for s in range(20)]
    assert all((x == b[s]["input_ids"]).all() for s, x in enumerate(first))
    assert sum((x == other[s]["input_ids"]).all() for s, x in enumerate(first)) == 0
    assert sum((x == a[spe + s]["input_ids"]).all() for s, x in enumerate(first)) == 0
    assert_epoch_covered(shards, a, [(a[s]["input_ids"].numpy(), a[s]["doc_ids"].numpy())
                                     for s in range(spe, 2 * spe)])  # epoch 1 is a full epoch too


def test_global_batches_identical_for_any_world_size(shards):
    ds = dataset(shards)
    one = run(ds, 16, 2, 1, 5)
    for world_size in (2, 4):
        for x, y in zip(one, run(ds, 16, 2, world_size, 5)):
            assert all(np.array_equal(p, q) for p, q in zip(x, y))


def test_resume_equals_uninterrupted_run_also_on_two_ranks(shards):
    ds = dataset(shards)
    global_batch = 32
    per_epoch = ds.order.streams[""].sequences_per_epoch // global_batch
    steps = per_epoch + 2  # crosses into epoch 1
    straight = run(ds, global_batch, 4, 1, steps)
    k = per_epoch - 1
    loader = PretrainLoader(ds, global_batch, 4, num_workers=2)
    batches = iter(loader)
    for _ in range(k * loader.accumulation - 1):
        next(batches)
    assert loader.state_dict()["consumed_sequences"] == (k - 1) * global_batch
    next(batches)  # the last micro-batch of step k - 1: the step counts once handed out
    state = loader.state_dict()
    del batches
    assert state["consumed_sequences"] == k * global_batch
    assert set(state) == {"consumed_sequences", "seed", "fingerprint", "seq_len", "window", "mixture", "block_size"}
    resumed = run(dataset(shards), global_batch, 4, 2, steps - k, num_workers=2, state=state)
    for x, y in zip(straight[k:], resumed):
        assert all(np.array_equal(p, q) for p, q in zip(x, y))


def test_mismatched_state_fails_with_a_diff(shards, text_dir, tokenizer):
    state = PretrainLoader(dataset(shards), 16, 4).state_dict()
    other_data = PretrainLoader(dataset(TokenShards(str(text_dir), tokenizer=tokenizer)), 16, 4)
    with pytest.raises(LoaderStateMismatch, match="fingerprint: checkpoint"):
        other_data.load_state_dict(state)
    other_len = PretrainLoader(SequenceDataset(shards, 127, block_size=4), 16, 4)
    with pytest.raises(LoaderStateMismatch, match="seq_len: checkpoint 63, now 127"):
        other_len.load_state_dict(state)
    with pytest.raises(LoaderStateMismatch, match="whole number"):
        PretrainLoader(dataset(shards), 16, 4).load_state_dict({**state, "consumed_sequences": 8})


def test_manifest_that_disagrees_with_the_shards_fails(tmp_path, token_dir):
    copy = shutil.copytree(token_dir, tmp_path / "copy")
    manifest = json.loads((copy / "manifest.json").read_text())
    manifest["splits"]["train"]["files"][1]["tokens"] += 1
    (copy / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ValueError, match="changed after the manifest"):
        TokenShards(str(copy))


def test_mixture_three_to_one_by_tokens(shards):
    ds = dataset(shards, mixture={"books": 3, "wiki": 1})
    source = np.array(shards.sources)[shards.doc_source]
    tokens = {"books": 0, "wiki": 0}
    n = 1200  # more than an epoch of wiki: its stream repeats, books' does not yet
    for s in range(n):
        (names,) = [set(source[ds[s]["doc_ids"].numpy()])]
        assert len(names) == 1  # a sequence comes from one source's stream
        tokens[names.pop()] += ds.window
    assert abs(tokens["books"] / (n * ds.window) - 0.75) < 0.02
    assert ds.order.streams["wiki"].sequences_per_epoch < tokens["wiki"] // ds.window
    only_books = dataset(shards, mixture={"books": 1, "wiki": 0})
    assert set(source[only_books[0]["doc_ids"].numpy()]) == {"books"}
    with pytest.raises(ValueError, match="unnamed: \\['wiki'\\]"):
        dataset(shards, mixture={"books": 1})


def test_text_shards_give_the_same_sequences(shards, text_dir, tokenizer, tmp_path):
    tokenizer.save(str(tmp_path / "tokenizer.json"))
    text = TokenShards(str(text_dir), tokenizer=str(tmp_path / "tokenizer.json"))
    assert text.fingerprint != shards.fingerprint and text.tokenizer["special_tokens"]["<|endoftext|>"] == 0
    with pytest.raises(ValueError, match="is not the tokenizer of"):
        TokenShards(str(shards.uri), tokenizer=str(tmp_path / "tokenizer.json"))  # saved pretty: other bytes
    (tmp_path / "same.json").write_text(tokenizer.to_str())  # the bytes the manifest's fingerprint hashes
    TokenShards(str(shards.uri), tokenizer=str(tmp_path / "same.json"))
    assert np.array_equal(text.doc_tokens, shards.doc_tokens)
    assert np.array_equal(text.row_group_starts, shards.row_group_starts)
    a, b = dataset(shards), dataset(text)
    for s in range(0, a.order.streams[""].sequences_per_epoch + 10):
        x, y = a[s], b[s]
        assert (x["input_ids"] == y["input_ids"]).all() and (x["doc_ids"] == y["doc_ids"]).all(), s


def test_object_store_uri_uint32_ids_and_heldout(shards, token_dir, documents, tokenizer, tmp_path):
    import fsspec

    memory = fsspec.filesystem("memory")
    memory.put(str(token_dir), "/bucket/tokens", recursive=True)
    wide = write_token_shards(tmp_path, documents, tokenizer, vocab_size=70_000)
    assert pq.read_schema(next(wide.glob("train/*.parquet"))).field("input_ids").type == pa.list_(pa.uint32())
    reference = dataset(shards)
    for other in (TokenShards("memory://bucket/tokens"), TokenShards(f"file://{token_dir}"), TokenShards(str(wide))):
        ds = pickle.loads(pickle.dumps(dataset(other)))  # as a spawned DataLoader worker gets it
        for s in (0, 1, 333, 700):
            assert (ds[s]["input_ids"] == reference[s]["input_ids"]).all()
    heldout = TokenShards(str(token_dir), split="heldout")
    ds = SequenceDataset(heldout, 15)
    assert ds[0]["input_ids"].shape == (16,) and len(heldout.doc_tokens) == len(documents[::20])
