"""Exact and near dedup, with the repointing of copies, on compact records: no text, and no element
per document beyond one exact-cluster summary.

    (summaries, nodes, evidence) | Deduplicate(...) -> Decided(clusters, sizes, common_lines)

summaries: (text hash, ExactSummary) per document; nodes: its band node (NearClusters); evidence:
for verification (pipelines.transforms.spill.DedupPlan makes all three as documents are spilled).

1. Exact clusters: a combiner merges each text hash's summaries (keeper: the smallest id) before the
   shuffle, so a text repeated a million times never forms a million-element group.
2. Near dedup (pipelines.transforms.near_dedup.NearClusters) runs on one node per exact cluster, its
   keeper, weighted by its copies; with an index, indexed nodes join and always win. Its outcomes
   (only the nodes in components of two or more) reach the next step as a side input.
3. Each exact cluster meets its keeper's near outcome. Clusters where something was decided (copies,
   or a near outcome) come out as (text hash, (summary, near outcome)): materialise.ApplyDecisions
   takes them as a side input and gives each document its dedup.decide outcome as it reads its row,
   so no document crosses a shuffle to meet its decision. Out of the same step: the sizes the
   decisions move between output partitions (kept documents to rejects), and the line keys of the
   clusters kept (for boilerplate lines, counted once per distinct kept text).
"""

from typing import NamedTuple

import apache_beam as beam

from dedup.components import node_key
from dedup.decide import EXACT_STAGE, NEAR_STAGE, decide, merge_summaries
from pipelines.config import DEDUP_MODES
from pipelines.transforms.near_dedup import NearClusters

_SIZES, _LINES = "sizes", "lines"


def stages_of(mode: str) -> tuple[str, ...]:
    """The accounting stages a dedup mode runs."""
    return {"none": (), "exact": (EXACT_STAGE,), "minhash": (EXACT_STAGE, NEAR_STAGE)}[mode]


class MergeSummaries(beam.CombineFn):
    def create_accumulator(self):
        return None

    def add_input(self, acc, summary):
        return summary if acc is None else merge_summaries([acc, summary])

    def merge_accumulators(self, accs):
        accs = [a for a in accs if a is not None]
        return merge_summaries(accs) if accs else None

    def extract_output(self, acc):
        return acc


class _ClusterDecisions(beam.DoFn):
    """(text hash, ExactSummary) -> (text hash, (summary, near outcome)) where something was decided;
    tagged: ((kind, partition), bytes) the decisions move, line keys of kept clusters."""

    def process(self, element, near=None):
        text_hash, summary = element
        outcome = (near or {}).get(summary.keep_id)
        documents = ("documents", f"lang={summary.lang}")
        if summary.size > 1:  # the copies: rejected as exact duplicates
            moved = (summary.size - 1) * summary.bytes
            yield beam.pvalue.TaggedOutput(_SIZES, (documents, -moved))
            yield beam.pvalue.TaggedOutput(_SIZES, (("rejects", f"stage={EXACT_STAGE}"), moved))
        if summary.size > 1 or outcome is not None:
            yield text_hash, (summary, outcome)
        keeper = decide(summary.keep_id, summary, outcome)
        if keeper.stage is not None:
            yield beam.pvalue.TaggedOutput(_SIZES, (documents, -summary.bytes))
            yield beam.pvalue.TaggedOutput(_SIZES, (("rejects", f"stage={keeper.stage}"), summary.bytes))
        elif summary.lines:
            yield from (beam.pvalue.TaggedOutput(_LINES, (key, 1)) for key in summary.lines)


class Decided(NamedTuple):
    clusters: object  # (text hash, (ExactSummary, NearOutcome or None)) where something was decided
    sizes: object  # ((kind, partition), bytes) moved between partitions by the decisions
    common_lines: object  # (line key, documents) of lines in more than boilerplate_lines kept documents


class Deduplicate(beam.PTransform):
    """(summaries, nodes, evidence) -> Decided. near: a NearClusters for minhash mode, else None
    (exact mode, or none: every summary its own cluster, for the boilerplate lines' counts)."""

    def __init__(self, mode: str, near: NearClusters | None = None, boilerplate_lines: int = 0):
        super().__init__()
        if mode not in DEDUP_MODES or (mode == "minhash") != (near is not None):
            raise ValueError(f"dedup mode {mode!r} with near={near!r}")
        self.mode, self.near, self.boilerplate_lines = mode, near, boilerplate_lines

    def expand(self, pcolls):
        summaries, nodes, evidence = pcolls
        clusters = summaries | "ExactClusters" >> beam.CombinePerKey(MergeSummaries())
        if self.near is None:
            decided = clusters | "ClusterDecisions" >> beam.ParDo(_ClusterDecisions()).with_outputs(
                _SIZES, _LINES, main="clusters")
        else:
            weights = clusters | "Weights" >> beam.FlatMap(
                lambda kv: [(node_key(kv[1].keep_id, kv[1].score), kv[1].size)] if kv[1].size > 1 else [])
            outcomes = (nodes, evidence, weights) | "NearClusters" >> self.near
            decided = clusters | "ClusterDecisions" >> beam.ParDo(
                _ClusterDecisions(), near=beam.pvalue.AsDict(outcomes)).with_outputs(_SIZES, _LINES, main="clusters")
        limit = self.boilerplate_lines
        common = (decided[_LINES]
                  | "DocsPerLine" >> beam.CombinePerKey(sum)
                  | "Common" >> beam.Filter(lambda kv: kv[1] > limit))
        return Decided(decided.clusters, decided[_SIZES], common)
