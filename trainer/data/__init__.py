"""Training data: token shards (or text shards tokenised on the fly) to packed, shuffled, mixed sequences.

shards.py  the manifest, the per-document index and reading tokens (pyarrow, local or object store)
order.py   the pure order: per-epoch shuffle, packing, mixture, rank slices (numpy only)
loader.py  the torch Dataset (global sequence id -> tokens), per-rank sampler, loader with resume state
"""

from trainer.data.loader import LoaderStateMismatch, PretrainLoader, RankSampler, SequenceDataset
from trainer.data.order import Located, Mixture, PackedStream, SequenceOrder, permutation, rank_sequences
from trainer.data.shards import TokenShards

__all__ = ["LoaderStateMismatch", "Located", "Mixture", "PackedStream", "PretrainLoader", "RankSampler",
           "SequenceDataset", "SequenceOrder", "TokenShards", "permutation", "rank_sequences"]
