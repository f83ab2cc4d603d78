"""The torch side: a map-style dataset over global sequence ids, a per-rank sampler, and the loader whose
resume state is a few numbers.

Step g trains on global sequences [g * G, (g + 1) * G); rank r of W takes its contiguous G / W of them, in
micro-batches of `micro_batch`. DataLoader workers fetch sequences by id, so any number of workers yields the
same batches in the same order, and nothing is duplicated or skipped. Rank and world size are given, never
read from torch.distributed, so the loader has no collectives and ranks can be simulated in one process.
"""

from collections.abc import Iterator

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from trainer.data.order import SequenceOrder, rank_sequences
from trainer.data.shards import TokenShards


class LoaderStateMismatch(ValueError):
    """A loader state from another dataset or configuration: resuming it would silently change the data."""


class SequenceDataset(Dataset):
    """Global sequence id s -> {"input_ids": int32[window], "doc_ids": int32[window], "seq_id": s}.

    `window` is seq_len + 1 by default (the causal objective's inputs [:-1] and targets [1:]); give seq_len
    for MLM. `doc_ids[i]` is the global index of the document token i belongs to; a document's separator
    belongs to it. Ids count across epochs (see trainer.data.order); the dataset has no length.
    `block_size` row groups make a shuffle block: the shards' row-group cache should hold more than that.
    """

    def __init__(self, shards: TokenShards, seq_len: int, *, window: int | None = None, seed: int = 0,
                 mixture: dict[str, float] | None = None, block_size: int = 16):
        self.shards, self.seq_len, self.seed = shards, seq_len, seed
        self.window = seq_len + 1 if window is None else window
        self.mixture = dict(sorted(mixture.items())) if mixture is not None else None
        self.block_size = block_size
        self.order = SequenceOrder(shards.row_group_starts, shards.doc_tokens, shards.doc_source, shards.sources,
                                   self.window, seed, self.mixture, block_size)

    @property
    def config(self) -> dict:
        """Everything the order depends on: a resumed loader must match it."""
        return {"seed": self.seed, "fingerprint": self.shards.fingerprint, "seq_len": self.seq_len,
                "window": self.window, "mixture": self.mixture, "block_size": self.block_size}

    def __getitem__(self, s: int) -> dict:
        located = self.order.locate(int(s))
        input_ids = np.empty(self.window, np.int32)  # ids and document indices < 2^31; widened on the device
        doc_ids = np.empty(self.window, np.int32)
        at = 0
        for doc, start, stop in located.spans:
            tokens = self.shards.document(doc)
            body = max(0, min(stop, len(tokens)) - start)
            input_ids[at:at + body] = tokens[start:start + body]
            if stop > len(tokens):
                input_ids[at + body] = self.shards.separator_id
            doc_ids[at:at + stop - start] = doc
            at += stop - start
        assert at == self.window, (s, located)
        return {"input_ids": torch.from_numpy(input_ids), "doc_ids": torch.from_numpy(doc_ids), "seq_id": int(s)}


class RankSampler(Sampler[int]):
    """This rank's global sequence ids, step after step from `start_step` (to `end_step`, else forever)."""

    def __init__(self, global_batch: int, world_size: int = 1, rank: int = 0, start_step: int = 0,
                 end_step: int | None = None):
        rank_sequences(0, global_batch, world_size, rank)  # validates
        self.global_batch, self.world_size, self.rank = global_batch, world_size, rank
        self.start_step, self.end_step = start_step, end_step

    def __iter__(self) -> Iterator[int]:
        step = self.start_step
        while self.end_step is None or step < self.end_step:
            yield from rank_sequences(step, self.global_batch, self.world_size, self.rank)
            step += 1


class PretrainLoader:
    """Micro-batches for one rank: dicts of stacked tensors from SequenceDataset, `micro_batch` sequences each,
    G / (W * micro_batch) of them a step.

    `state_dict()` = {"consumed_sequences", "seed", "fingerprint", "seq_len", "window", "mixture", "block_size"};
    a step counts as consumed once its last micro-batch has been handed out, so a state saved after the
    optimizer step resumes at the next one. `load_state_dict` accepts a state from any W that divides G.
    """

    def __init__(self, dataset: SequenceDataset, global_batch: int, micro_batch: int, *, world_size: int = 1,
                 rank: int = 0, num_workers: int = 0, pin_memory: bool = False, collate_fn=None,
                 max_steps: int | None = None):
        per_rank = rank_sequences(0, global_batch, world_size, rank)
        if len(per_rank) % micro_batch:
            raise ValueError(f"micro_batch {micro_batch} must divide the rank's {len(per_rank)} sequences a step")
        self.dataset, self.global_batch, self.micro_batch = dataset, global_batch, micro_batch
        self.world_size, self.rank, self.max_steps = world_size, rank, max_steps
        self.accumulation = len(per_rank) // micro_batch
        # collate_fn runs in the workers: per-batch work there (MLM masking) overlaps the training step.
        self._loader_args = {"num_workers": num_workers, "pin_memory": pin_memory, "collate_fn": collate_fn}
        self.consumed_sequences = 0

    def __iter__(self) -> Iterator[dict]:
        sampler = RankSampler(self.global_batch, self.world_size, self.rank,
                              self.consumed_sequences // self.global_batch, self.max_steps)
        # Its own generator: DataLoader draws a base seed when iterated, which from the global generator
        # would shift dropout after a resume (the resumed run makes one more iterator than a whole run).
        batches = DataLoader(self.dataset, batch_size=self.micro_batch, sampler=sampler,
                             generator=torch.Generator().manual_seed(0), **self._loader_args)
        for i, batch in enumerate(batches, 1):
            if i % self.accumulation == 0:
                self.consumed_sequences += self.global_batch
            yield batch

    def state_dict(self) -> dict:
        return {"consumed_sequences": self.consumed_sequences, **self.dataset.config}

    def load_state_dict(self, state: dict) -> None:
        config = self.dataset.config
        diff = [f"{key}: checkpoint {state.get(key)!r}, now {value!r}"
                for key, value in config.items() if state.get(key) != value]
        if diff:
            raise LoaderStateMismatch("loader state is for other data or another order:\n  " + "\n  ".join(diff))
        if state["consumed_sequences"] % self.global_batch:
            raise LoaderStateMismatch(f"consumed_sequences {state['consumed_sequences']} is not a whole number "
                                      f"of global batches of {self.global_batch}")
        self.consumed_sequences = state["consumed_sequences"]
