"""MLM masking of trainer/masking.py: statistics over a million tokens, specials, determinism."""

import numpy as np
import pytest

from trainer.masking import IGNORE_INDEX, mask_batch, mask_tokens

VOCAB = 30522
SPECIALS = (0, 100, 101, 102)  # [PAD], [UNK], [CLS], [SEP]
MASK = 103
ALL_SPECIALS = np.array(SPECIALS + (MASK,))
SEED = 1234
ARGS = dict(special_ids=SPECIALS, vocab_size=VOCAB, mask_id=MASK)


def sequences(n, length=512, seed=0):
    rng = np.random.default_rng(seed)
    ids = rng.integers(0, VOCAB, (n, length)).astype(np.uint16)
    sprinkle = rng.random((n, length)) < 0.05
    ids[sprinkle] = rng.choice(ALL_SPECIALS, sprinkle.sum())
    return ids


@pytest.fixture(scope="module")
def masked_million():
    ids = sequences(2048)  # 1,048,576 tokens
    return ids, *mask_batch(ids, SEED, np.arange(2048), **ARGS)


def test_statistics_over_a_million_tokens(masked_million):
    ids, masked, labels, positions = masked_million
    special = np.isin(ids, ALL_SPECIALS)
    selected = labels != IGNORE_INDEX
    assert 0.04 < special.mean() < 0.06
    assert not (selected & special).any()
    assert abs(selected.sum() / (~special).sum() - 0.15) < 0.005
    assert np.array_equal(labels[selected], ids[selected])
    assert np.array_equal(positions, np.flatnonzero(selected))
    assert np.array_equal(masked[~selected], ids[~selected])
    assert masked.dtype == ids.dtype

    out = masked[selected]
    as_mask = out == MASK
    unchanged = out == ids[selected]
    replaced = ~as_mask & ~unchanged  # a random draw equal to the original reads as unchanged (1/30517)
    assert abs(as_mask.mean() - 0.8) < 0.01
    assert abs(replaced.mean() - 0.1) < 0.01
    assert abs(unchanged.mean() - 0.1) < 0.01
    assert not np.isin(out[~as_mask], ALL_SPECIALS).any()
    assert out.max() < VOCAB
    # Replacements cover the vocabulary, not a corner of it.
    assert np.unique(out[replaced]).size > 10_000


def test_exact_count_per_sequence(masked_million):
    ids, _, labels, _ = masked_million
    candidates = (~np.isin(ids, ALL_SPECIALS)).sum(axis=1)
    assert np.array_equal((labels != IGNORE_INDEX).sum(axis=1), np.maximum(1, np.rint(0.15 * candidates)))
    row = np.array([0, 101, 7, 102, 0, 0])
    _, labels, positions = mask_tokens(row, SEED, 5, **ARGS)  # one candidate: still one prediction
    assert positions.tolist() == [2] and labels.tolist() == [-100, -100, 7, -100, -100, -100]
    _, labels, positions = mask_tokens(np.array([0, 101, 102, 103]), SEED, 5, **ARGS)
    assert positions.size == 0 and (labels == IGNORE_INDEX).all()


def test_small_vocabulary_replacements_avoid_specials():
    # Half of a 10-id vocabulary is special: a draw from the whole vocabulary would hit one often.
    ids = np.tile(np.arange(10), (200, 5))
    masked, labels, _ = mask_batch(ids, SEED, np.arange(200), special_ids=(0, 1, 2, 3), vocab_size=10,
                                   mask_id=4, random_frac=0.2)
    replaced = masked[(labels != IGNORE_INDEX) & (masked != 4)]
    assert replaced.size > 100 and replaced.min() >= 5


def test_same_key_same_mask_and_different_keys_differ():
    row = sequences(1, seed=3)[0]
    first = mask_tokens(row, SEED, 42, **ARGS)
    again = mask_tokens(row, SEED, 42, **ARGS)
    other_sequence = mask_tokens(row, SEED, 43, **ARGS)
    other_seed = mask_tokens(row, SEED + 1, 42, **ARGS)
    assert all(np.array_equal(a, b) for a, b in zip(first, again))
    assert not np.array_equal(first[2], other_sequence[2])
    assert not np.array_equal(first[2], other_seed[2])


def test_batch_equals_per_sequence_in_any_batch_order():
    ids = sequences(16, length=128, seed=4)
    seq_ids = np.arange(1000, 1016) * 7919
    masked, labels, positions = mask_batch(ids, SEED, seq_ids, **ARGS)
    for row in range(16):
        one = mask_tokens(ids[row], SEED, seq_ids[row], **ARGS)
        assert np.array_equal(masked[row], one[0]) and np.array_equal(labels[row], one[1])
        assert np.array_equal(positions[(positions // 128) == row] - row * 128, one[2])
    order = np.random.default_rng(5).permutation(16)
    shuffled, shuffled_labels, _ = mask_batch(ids[order], SEED, seq_ids[order], **ARGS)
    assert np.array_equal(shuffled, masked[order]) and np.array_equal(shuffled_labels, labels[order])


def test_rejects_bad_arguments():
    ids = sequences(2, length=8)
    with pytest.raises(ValueError, match="seq_ids"):
        mask_batch(ids, SEED, [1], **ARGS)
    with pytest.raises(ValueError, match="fractions"):
        mask_batch(ids, SEED, [1, 2], **ARGS, mask_frac=0.95, random_frac=0.1)
