"""Training data: token shards (or text shards tokenised on the fly) to packed, shuffled, mixed sequences.

shards.py  the manifest, the per-document index and reading tokens (pyarrow, local or object store)
order.py   the pure order: per-epoch shuffle, packing, mixture, rank slices (numpy only)
loader.py  the torch Dataset (global sequence id -> tokens), per-rank sampler, loader with resume state

Import the modules themselves: this package imports nothing, so the curation side (pipelines.tokenize,
trainer.tokenizer) can use shards.py without torch.
"""
