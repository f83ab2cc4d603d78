"""Curated documents -> token rows, in Beam (the tokenizer is HF `tokenizers`, from trainer.tokenizer).

Documents arrive in batches (BatchElements), so `encode_batch` runs the Rust tokenizer over many
texts at once. Each document is assigned to the held-out or the training split by a hash of its id,
so the split is the same on every rerun and every runner, and a document never moves between splits
when the corpus grows. Events (counters): `tokenized` (split, source); token totals come from the files.
"""

import apache_beam as beam
import numpy as np
import xxhash

from pipelines.transforms.metrics import CountingDoFn
from schemas.tokens import id_type

SPLITS = ("train", "heldout")


def split_of(doc_id: str, heldout_fraction: float) -> str:
    return "heldout" if xxhash.xxh64_intdigest(b"heldout:" + doc_id.encode()) < heldout_fraction * 2**64 else "train"


class TokenizeDocuments(CountingDoFn):
    def __init__(self, tokenizer_json: str, vocab_size: int, heldout_fraction: float):
        self.tokenizer_json, self.heldout_fraction = tokenizer_json, heldout_fraction
        self.dtype = np.dtype(f"uint{id_type(vocab_size).bit_width}")

    def setup(self):
        from tokenizers import Tokenizer

        super().setup()
        self.tokenizer = Tokenizer.from_str(self.tokenizer_json)

    def process(self, batch):
        encodings = self.tokenizer.encode_batch([doc["text"] for doc in batch], add_special_tokens=False)
        for doc, encoding in zip(batch, encodings):
            split = split_of(doc["id"], self.heldout_fraction)
            ids = np.asarray(encoding.ids, dtype=self.dtype)
            self.counters.inc("tokenized", split=split, source=doc["source"])
            yield beam.pvalue.TaggedOutput(split, {"id": doc["id"], "source": doc["source"], "input_ids": ids,
                                                   "n_tokens": len(ids)})


class Tokenize(beam.PTransform):
    """documents -> {"train": token rows, "heldout": token rows}."""

    def __init__(self, tokenizer_json: str, vocab_size: int, heldout_fraction: float):
        super().__init__()
        self.fn = TokenizeDocuments(tokenizer_json, vocab_size, heldout_fraction)

    def expand(self, docs):
        return (docs
                | "Batch" >> beam.BatchElements(min_batch_size=16, max_batch_size=512)
                | "Encode" >> beam.ParDo(self.fn).with_outputs(*SPLITS))
