"""Exact and near dedup, the repointing of copies and the index, on compact records only.

    (refs, summaries) | Deduplicate(...) -> Decided(decisions, sizes, common_lines, index_rows)

refs: one dedup.decide.DocRef per document (id, spill file, text hash, language, size). summaries:
(text hash, ExactSummary) per document, with its MinHash sketch. No text crosses a shuffle here.

1. Exact clusters: a combiner merges each text hash's summaries (keeper: the smallest id) before the
   shuffle, so a text repeated a million times never forms a million-element group.
2. Near dedup (pipelines.transforms.near_dedup.NearClusters) runs on one node per exact cluster, its
   keeper, weighted by its copies; with an index, indexed nodes join and always win.
3. Each cluster meets its keeper's near outcome (by keeper id); clusters with copies are copied to
   `fanout` salts, and each document's ref meets its cluster in the salt its id hashes to, so no
   giant group forms. dedup.decide gives every document its Outcome; only the documents whose
   outcome is not "kept alone" get a decision, keyed by their spill file.
The sizes of what each output partition will hold, and the line keys of kept documents (for
boilerplate lines), come out of the same step.
"""

from typing import NamedTuple

import apache_beam as beam
import numpy as np

from dedup.components import node_key
from dedup.decide import EXACT_STAGE, NEAR_STAGE, DocRef, ExactSummary, decide, kept_alone, merge_summaries
from dedup.exact import salt
from pipelines.transforms.near_dedup import NearClusters

DEDUP_MODES = ("none", "exact", "minhash")
_SIZES, _LINES, _INDEX = "sizes", "lines", "index"


def stages_of(mode: str) -> tuple[str, ...]:
    """The accounting stages a dedup mode runs."""
    return {"none": (), "exact": (EXACT_STAGE,), "minhash": (EXACT_STAGE, NEAR_STAGE)}[mode]


def destination(ref: DocRef, stage: str | None) -> tuple[str, str]:
    """The output (kind, partition) a document goes to: its language's documents, or a stage's rejects."""
    return ("documents", f"lang={ref.lang}") if stage is None else ("rejects", f"stage={stage}")


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


class _Decide(beam.DoFn):
    """(salted key, {"ref": refs, "cluster": [(summary, near outcome)]}) -> (spill file, (id, Outcome))
    for each document not kept alone; tagged: sizes per output partition, line keys of kept documents."""

    def process(self, element):
        _, grouped = element
        clusters = list(grouped["cluster"])
        summary, near = clusters[0] if clusters else (None, None)
        for ref in grouped["ref"]:
            yield from decision_of(ref, decide(ref.id, summary, near))


def decision_of(ref: DocRef, outcome):
    if outcome != kept_alone(ref.id):
        yield ref.file, (ref.id, outcome)
    yield beam.pvalue.TaggedOutput(_SIZES, (destination(ref, outcome.stage), ref.size))
    if ref.lines and outcome.stage is None:
        yield from (beam.pvalue.TaggedOutput(_LINES, (key, 1)) for key in ref.lines)


def _alone(ref: DocRef):
    """A document when no dedup runs: kept alone."""
    return decision_of(ref, kept_alone(ref.id))


def _node(summary: ExactSummary):
    sketch = summary.sketch
    return node_key(summary.keep_id, summary.score), summary.size, sketch.bands, (sketch.signature, sketch.shingles)


class _ClusterInfo(beam.DoFn):
    """(keeper id, {"cluster": [(hash, summary)], "near": [NearOutcome]}) -> (hash, salt) keys of the
    documents that need it, with (summary, near outcome); tagged: the index row of a kept keeper."""

    def __init__(self, fanout: int, write_index: bool):
        self.fanout, self.write_index = fanout, write_index

    def process(self, element):
        keep_id, grouped = element
        nears = list(grouped["near"])
        near = nears[0] if nears else None
        for text_hash, summary in grouped["cluster"]:
            if summary.size > 1:
                for s in range(self.fanout):
                    yield (text_hash, s), (summary, near)
            elif near is not None:
                yield (text_hash, salt(keep_id, self.fanout)), (summary, near)
            if self.write_index and summary.sketch is not None and decide(keep_id, summary, near).stage is None:
                yield beam.pvalue.TaggedOutput(_INDEX, {
                    "id": keep_id, "node": node_key(keep_id, summary.score), "bands": list(summary.sketch.bands),
                    "signature": np.frombuffer(summary.sketch.signature, np.uint32).tolist()})


class Decided(NamedTuple):
    decisions: object  # (spill file, (id, Outcome))
    sizes: object  # ((kind, partition), bytes)
    common_lines: object  # (line key, documents) of lines in more than boilerplate_lines documents
    index_rows: object  # rows of schemas.INDEX_SCHEMA, or None


class Deduplicate(beam.PTransform):
    """(refs, summaries) -> Decided. near: a NearClusters for minhash mode, else None."""

    def __init__(self, mode: str, near: NearClusters | None = None, fanout: int = 16,
                 boilerplate_lines: int = 0, write_index: bool = False):
        super().__init__()
        if mode not in DEDUP_MODES or (mode == "minhash") != (near is not None):
            raise ValueError(f"dedup mode {mode!r} with near={near!r}")
        self.mode, self.near, self.fanout = mode, near, fanout
        self.boilerplate_lines, self.write_index = boilerplate_lines, write_index

    def expand(self, pcolls):
        refs, summaries = pcolls
        fanout, index_rows = self.fanout, None
        if self.mode == "none":
            decided = refs | "KeptAlone" >> beam.FlatMap(_alone).with_outputs(_SIZES, _LINES, main="decisions")
        else:
            clusters = summaries | "ExactClusters" >> beam.CombinePerKey(MergeSummaries())
            if self.near is None:
                info = clusters | "WithCopies" >> beam.FlatMap(
                    lambda kv: [((kv[0], s), (kv[1], None)) for s in range(fanout)] if kv[1].size > 1 else [])
            else:
                outcomes = (clusters
                            | "Nodes" >> beam.FlatMap(lambda kv: [_node(kv[1])] if kv[1].sketch is not None else [])
                            | "NearClusters" >> self.near)
                joined = ({"cluster": clusters | "ByKeeper" >> beam.Map(lambda kv: (kv[1].keep_id, kv)),
                           "near": outcomes}
                          | "JoinNear" >> beam.CoGroupByKey()
                          | "ClusterInfo" >> beam.ParDo(_ClusterInfo(fanout, self.write_index)).with_outputs(
                              _INDEX, main="info"))
                info, index_rows = joined.info, (joined[_INDEX] if self.write_index else None)
            keyed = refs | "SaltRefs" >> beam.Map(lambda r: ((r.text_hash, salt(r.id, fanout)), r))
            decided = ({"ref": keyed, "cluster": info}
                       | "JoinClusters" >> beam.CoGroupByKey()
                       | "Decide" >> beam.ParDo(_Decide()).with_outputs(_SIZES, _LINES, main="decisions"))
        limit = self.boilerplate_lines
        common = (decided[_LINES]
                  | "DocsPerLine" >> beam.CombinePerKey(sum)
                  | "Common" >> beam.Filter(lambda kv: kv[1] > limit))
        return Decided(decided.decisions, decided[_SIZES], common, index_rows)
