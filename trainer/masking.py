"""BERT's masked-language-model corruption, deterministic per sequence: pure numpy, no torch.

Of each sequence's non-special tokens, exactly `round(rate * n)` are selected (at least one when the
sequence has any), as in BERT's `create_pretraining_data.py` but without its cap of 20 predictions per
sequence; HF's collator draws Bernoulli(rate) per token instead, whose count varies from sequence to
sequence. Each selected token independently becomes `mask_id` with probability `mask_frac`, a random
non-special id from [0, vocab_size) with probability `random_frac` (HF draws from the full vocabulary,
specials included), and stays unchanged otherwise. Labels hold the original id at the selected positions
and -100 (cross-entropy's ignore_index) elsewhere.

The random numbers of a sequence come from Philox keyed by (seed, seq_id), where seq_id is the global
sequence id of the data order: the mask of a sequence is the same on any rank, in any worker and at any
world size, and differs between epochs because their sequence ids differ (RoBERTa's dynamic masking,
without BERT's static copies). Each sequence draws a fixed 3*T numbers, so a row's mask depends on its
key and its tokens only, never on the other rows of its batch.
"""

from functools import lru_cache

import numpy as np

IGNORE_INDEX = -100


def mask_tokens(input_ids: np.ndarray, seed: int, seq_id: int, special_ids, vocab_size: int, mask_id: int,
                rate: float = 0.15, mask_frac: float = 0.8, random_frac: float = 0.1):
    """Mask one sequence `input_ids` [T]; returns (masked_input [T], labels [T] int64, positions [k] int64).

    `special_ids` (pad, [CLS], [SEP], <|endoftext|>, ...) are never selected nor drawn as random
    replacements; `mask_id` counts as special whether listed or not. `masked_input` keeps the dtype of
    `input_ids`; `positions` are the selected indices in increasing order.
    """
    masked, labels, positions = mask_batch(np.asarray(input_ids)[None], seed, [seq_id], special_ids,
                                           vocab_size, mask_id, rate, mask_frac, random_frac)
    return masked[0], labels[0], positions


def mask_batch(input_ids: np.ndarray, seed: int, seq_ids, special_ids, vocab_size: int, mask_id: int,
               rate: float = 0.15, mask_frac: float = 0.8, random_frac: float = 0.1):
    """Mask a batch `input_ids` [B, T], row b keyed by (seed, seq_ids[b]); row b equals
    `mask_tokens(input_ids[b], seed, seq_ids[b], ...)`. Returns (masked_input [B, T], labels [B, T],
    positions) with positions the selected indices into the flattened batch (b * T + t), increasing:
    what `Transformer.forward(mlm_positions=...)` takes."""
    input_ids = np.asarray(input_ids)
    seq_ids = np.asarray(seq_ids, dtype=np.uint64)
    if input_ids.ndim != 2 or seq_ids.shape != (input_ids.shape[0],):
        raise ValueError(f"input_ids must be [B, T] and seq_ids [B]; got {input_ids.shape} and {seq_ids.shape}")
    if not (0.0 <= rate <= 1.0 and mask_frac >= 0.0 and random_frac >= 0.0 and mask_frac + random_frac <= 1.0):
        raise ValueError(f"bad fractions: rate={rate}, mask_frac={mask_frac}, random_frac={random_frac}")
    if seed < 0:
        raise ValueError(f"seed must be non-negative, got {seed}")
    specials = tuple(sorted({int(i) for i in special_ids} | {int(mask_id)}))
    replacements = _replacement_ids(vocab_size, specials)
    batch, length = input_ids.shape

    priority = np.empty((batch, length))
    action = np.empty((batch, length))
    pick = np.empty((batch, length), dtype=np.int64)
    for row, seq_id in enumerate(seq_ids):
        rng = np.random.Generator(np.random.Philox(key=[seed, int(seq_id)]))
        priority[row] = rng.random(length)
        action[row] = rng.random(length)
        pick[row] = rng.integers(0, len(replacements), length)

    # Exact count per row: the k candidates with the lowest priority are selected.
    candidate = ~np.isin(input_ids, specials)
    n_candidates = candidate.sum(axis=1)
    count = np.rint(rate * n_candidates).astype(np.int64)
    if rate > 0:
        count = np.where(n_candidates > 0, np.maximum(count, 1), 0)
    priority[~candidate] = np.inf
    order = np.argsort(priority, axis=1, kind="stable")
    take = np.arange(length)[None, :] < count[:, None]
    selected = np.zeros((batch, length), dtype=bool)
    selected[np.nonzero(take)[0], order[take]] = True

    labels = np.full((batch, length), IGNORE_INDEX, dtype=np.int64)
    labels[selected] = input_ids[selected]
    masked = input_ids.copy()
    to_mask = selected & (action < mask_frac)
    to_random = selected & (action >= mask_frac) & (action < mask_frac + random_frac)
    masked[to_mask] = mask_id
    masked[to_random] = replacements[pick[to_random]]
    return masked, labels, np.flatnonzero(selected)


@lru_cache(maxsize=8)
def _replacement_ids(vocab_size: int, specials: tuple) -> np.ndarray:
    """The ids a random replacement may take: [0, vocab_size) without the specials (read-only, cached)."""
    ids = np.setdiff1d(np.arange(vocab_size, dtype=np.int64), np.asarray(specials, dtype=np.int64))
    if len(ids) == 0:
        raise ValueError("no non-special token id to draw random replacements from")
    ids.flags.writeable = False
    return ids
