"""The order of training sequences: a pure function of the documents, seed, epoch, window and mixture.

No I/O, no torch. Given each document's token count and the row group that holds it, this module says which
pieces of which documents make up global sequence `s`, without touching earlier sequences:

- Shuffle, per epoch and per stream: a seeded permutation of the stream's row groups, cut into blocks of
  `block_size` row groups, then a seeded permutation of the documents inside each block (mosaic's py1b idea: a
  block is the unit a reader keeps hot, and no epoch ever needs a permutation of every document at once).
- Packing (concat-split): the documents in that order, each followed by one separator token, concatenated and
  cut into non-overlapping windows of `window` tokens (seq_len + 1 for the causal objective, seq_len for MLM).
  An epoch holds sum(n_tokens + 1) tokens whatever the order, so every epoch has the same number of
  sequences; the tail that does not fill a window is dropped and counted (`dropped_tokens_per_epoch`).
- Locating: sequence j of a stream is epoch j // sequences_per_epoch; binary search in the prefix sums of the
  blocks, then of the documents in its block, finds the first piece: O(log n) plus the few documents it spans.
- Epochs: global sequence ids keep counting (s = 0, 1, 2, ... across epochs); epoch e + 1 starts right after
  the last full window of epoch e, with a new permutation.
- Mixture: one stream per source, interleaved at sequence level by Megatron's largest-error rule over a fixed
  period of MIXTURE_PERIOD sequences (weights quantised to 1/period), so locating stays O(1). Weights are in
  tokens, which with equal-length sequences is the same as in sequences. Each source runs through its own
  epochs at its own pace.

Permutations come from a keyed splitmix64 hash (`permutation`), not from numpy's Generator methods, whose
streams numpy allows itself to change between releases.
"""

import hashlib
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

MIXTURE_PERIOD = 1024  # sequences; mixture weights are exact over every period, to 1/period


class LRUCache:
    """A small least-recently-used cache: `get(key, make)` returns the cached value or caches make().
    Pickles empty: a copy sent to another process starts cold."""

    def __init__(self, size: int):
        self.size, self._items = size, OrderedDict()

    def __reduce__(self):
        return LRUCache, (self.size,)

    def get(self, key, make):
        if key in self._items:
            self._items.move_to_end(key)
            return self._items[key]
        value = self._items[key] = make()
        if len(self._items) > self.size:
            self._items.popitem(last=False)
        return value


def permutation(key: tuple, n: int) -> np.ndarray:
    """A permutation of range(n) determined by `key` alone: sort by a keyed splitmix64 hash of the index."""
    seed = int.from_bytes(hashlib.blake2b(repr(key).encode(), digest_size=8).digest(), "little")
    z = np.uint64(seed) + np.arange(1, n + 1, dtype=np.uint64) * np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return np.argsort(z ^ (z >> np.uint64(31)), kind="stable")


# (document, start, stop): tokens [start, stop) of the document; stop = n_tokens + 1 takes its separator too
Span = tuple[int, int, int]


@dataclass(frozen=True)
class Located:
    stream: str  # the source for a mixture, "" for a single stream
    epoch: int  # the stream's epoch
    spans: list[Span]  # in order; their lengths add up to the window


class PackedStream:
    """One stream of documents (all of them, or one source's), shuffled per epoch and packed into windows.

    `segments`: the stream's documents (global indices, ascending) grouped by row group, empty groups left out;
    `doc_tokens`: n_tokens of every document, indexed by global document index.
    """

    def __init__(self, segments: list[np.ndarray], doc_tokens: np.ndarray, window: int, seed: int,
                 name: str = "", block_size: int = 16):
        if window < 1 or block_size < 1:
            raise ValueError(f"window {window} and block_size {block_size} must be positive")
        self.window, self.seed, self.name, self.block_size = window, seed, name, block_size
        self._docs = np.concatenate(segments).astype(np.int64) if segments else np.zeros(0, np.int64)
        self._bounds = np.concatenate([[0], np.cumsum([len(s) for s in segments])]).astype(np.int64)
        self._lengths = doc_tokens[self._docs].astype(np.int64) + 1  # each document, then its separator
        self._segment_tokens = np.add.reduceat(self._lengths, self._bounds[:-1]) if segments else self._lengths
        self.documents = len(self._docs)
        self.tokens_per_epoch = int(self._lengths.sum())  # separators included
        self.sequences_per_epoch, self.dropped_tokens_per_epoch = divmod(self.tokens_per_epoch, window)
        if self.sequences_per_epoch == 0:
            raise ValueError(f"stream {name!r}: {self.tokens_per_epoch} tokens do not fill one window of {window}")
        self._layouts, self._blocks = LRUCache(2), LRUCache(4)

    def _layout(self, epoch: int) -> tuple[np.ndarray, np.ndarray]:
        """The epoch's row-group order and the token offset where each block starts (plus the total)."""
        def make():
            order = permutation(("row_groups", self.seed, self.name, epoch), len(self._segment_tokens))
            block_tokens = np.add.reduceat(self._segment_tokens[order], np.arange(0, len(order), self.block_size))
            return order, np.concatenate([[0], np.cumsum(block_tokens)])
        return self._layouts.get(epoch, make)

    def _block(self, epoch: int, b: int) -> tuple[np.ndarray, np.ndarray]:
        """Block b's documents in training order and the token offset where each ends (within the block)."""
        def make():
            order, _ = self._layout(epoch)
            picks = [np.arange(self._bounds[g], self._bounds[g + 1])
                     for g in order[b * self.block_size:(b + 1) * self.block_size]]
            picks = np.concatenate(picks)
            picks = picks[permutation(("documents", self.seed, self.name, epoch, b), len(picks))]
            return self._docs[picks], np.cumsum(self._lengths[picks])
        return self._blocks.get((epoch, b), make)

    def locate(self, j: int) -> Located:
        """The pieces of documents that make up this stream's sequence j (j counts across epochs)."""
        epoch, local = divmod(j, self.sequences_per_epoch)
        _, block_starts = self._layout(epoch)
        t, stop = local * self.window, (local + 1) * self.window
        b = int(np.searchsorted(block_starts, t, side="right")) - 1
        spans = []
        while t < stop:
            docs, ends = self._block(epoch, b)
            base = int(block_starts[b])
            i = int(np.searchsorted(ends, t - base, side="right"))
            while i < len(docs) and t < stop:
                doc_start = base + (int(ends[i - 1]) if i else 0)
                end = min(base + int(ends[i]), stop)
                spans.append((int(docs[i]), t - doc_start, end - doc_start))
                t, i = end, i + 1
            b += 1
        return Located(self.name, epoch, spans)


class Mixture:
    """Sources interleaved by weight: position i of the mixture is sequence `j` of source `name`.

    Over each period of MIXTURE_PERIOD positions every source gets its quota (weights apportioned by largest
    remainder), placed by the largest-error rule (Megatron's BlendedDataset): at each position, the source whose
    count lags its target share most. The table for one period is computed once; positions repeat it.
    """

    def __init__(self, weights: dict[str, float], period: int = MIXTURE_PERIOD):
        if any(w < 0 for w in weights.values()) or sum(weights.values()) <= 0:
            raise ValueError(f"mixture weights must be non-negative with a positive sum: {weights}")
        self.names = sorted(n for n, w in weights.items() if w > 0)
        share = np.array([weights[n] for n in self.names], dtype=np.float64)
        share /= share.sum()
        quota = np.floor(share * period).astype(np.int64)
        by_remainder = sorted(range(len(share)), key=lambda k: (-(share[k] * period - quota[k]), k))
        quota[by_remainder[:period - int(quota.sum())]] += 1
        if (quota == 0).any():
            raise ValueError(f"mixture weights {weights} are finer than 1/{period}")
        self.quota, self.period = quota, period
        count = np.zeros(len(share), np.int64)
        self._source = np.empty(period, np.int64)  # which source each position of a period takes
        self._rank = np.empty(period, np.int64)  # how many earlier positions of the period that source took
        for i in range(period):
            error = np.where(count < quota, quota / period * (i + 1) - count, -np.inf)
            k = int(np.argmax(error))
            self._source[i], self._rank[i] = k, count[k]
            count[k] += 1

    def locate(self, i: int) -> tuple[str, int]:
        cycle, offset = divmod(i, self.period)
        k = int(self._source[offset])
        return self.names[k], cycle * int(self.quota[k]) + int(self._rank[offset])


class SequenceOrder:
    """Global sequence id -> the document pieces it holds, for one stream or a mixture of per-source streams.

    `row_group_starts`: global index of the first document of each row group, then the total (prefix sums of
    rows); `doc_tokens`: n_tokens per document; `doc_source`: a source code per document, `sources` the names.
    """

    def __init__(self, row_group_starts: np.ndarray, doc_tokens: np.ndarray, doc_source: np.ndarray,
                 sources: list[str], window: int, seed: int, mixture: dict[str, float] | None = None,
                 block_size: int = 16):
        starts = np.asarray(row_group_starts, dtype=np.int64)
        if mixture is None:
            segments = [np.arange(a, b) for a, b in zip(starts[:-1], starts[1:]) if b > a]
            self.streams = {"": PackedStream(segments, doc_tokens, window, seed, "", block_size)}
            self.mixture = None
            return
        unnamed = sorted(set(sources) - set(mixture))
        absent = sorted(set(mixture) - set(sources))
        if unnamed or absent:
            raise ValueError(f"mixture {mixture} must name every source of the data, 0 to leave one out; "
                             f"unnamed: {unnamed}, not in the data: {absent}")
        self.mixture = Mixture(mixture)
        self.streams = {}
        for name in self.mixture.names:
            docs = np.flatnonzero(doc_source == sources.index(name))
            segments = [s for s in np.split(docs, np.searchsorted(docs, starts[1:-1])) if len(s)]
            self.streams[name] = PackedStream(segments, doc_tokens, window, seed, name, block_size)

    def locate(self, s: int) -> Located:
        if s < 0:
            raise IndexError(f"sequence id {s} is negative")
        if self.mixture is None:
            return self.streams[""].locate(s)
        name, j = self.mixture.locate(s)
        return self.streams[name].locate(j)

    def summary(self) -> dict[str, dict[str, int]]:
        """Per stream: documents, tokens, sequences and dropped tokens per epoch."""
        return {name: {"documents": st.documents, "tokens_per_epoch": st.tokens_per_epoch,
                       "sequences_per_epoch": st.sequences_per_epoch,
                       "dropped_tokens_per_epoch": st.dropped_tokens_per_epoch}
                for name, st in self.streams.items()}


def rank_sequences(step: int, global_batch: int, world_size: int = 1, rank: int = 0) -> range:
    """The global sequence ids rank `rank` of `world_size` trains on at `step`: its contiguous slice of the
    step's [step * G, (step + 1) * G)."""
    if global_batch % world_size or not 0 <= rank < world_size:
        raise ValueError(f"world size {world_size} must divide the global batch {global_batch}, rank in range")
    per_rank = global_batch // world_size
    start = step * global_batch + rank * per_rank
    return range(start, start + per_rank)
