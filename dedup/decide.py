"""What dedup decides, on compact records: no text, only ids, hashes and sketches.

A document's exact cluster is summarised by `ExactSummary` (the keeper, the number of copies),
merged associatively so it runs as a combiner; near dedup works on the band keys of one node per exact
cluster (its keeper), weighted by its copies. `decide` turns a document's exact cluster and its
keeper's near outcome into the document's `Outcome`:
kept, or rejected by exact or near dedup, with its cluster id, size and the document it duplicates
(always the one kept in the end, never one that near dedup removed).
"""

from typing import NamedTuple

from dedup.components import is_index_node, node_id


class Sketch(NamedTuple):
    """A text's MinHash evidence: band keys, and the signature (uint32 bytes, for verification or an
    index) and distinct shingle hashes (uint32 bytes, for exact verification) where they are kept."""
    bands: tuple
    signature: bytes | None = None
    shingles: bytes | None = None


class ExactSummary(NamedTuple):
    """An exact cluster: its keeper (the smallest id), copies, and what the keeper's text gives every
    copy: quality score, language, size (bytes of an output row) and distinct line keys (when
    boilerplate lines are removed)."""
    keep_id: str
    size: int
    score: float | None
    lang: str | None = None
    bytes: int = 0
    lines: tuple | None = None


def merge_summaries(summaries) -> ExactSummary:
    best, size = None, 0
    for s in summaries:
        size += s.size
        if best is None or s.keep_id < best.keep_id:
            best = s
    return best._replace(size=size)


class NearOutcome(NamedTuple):
    """An exact cluster keeper's near-dedup component: its smallest node key and total weight."""
    root: str
    size: int


class Outcome(NamedTuple):
    """A document's dedup outcome. `stage` is None for a kept document."""
    stage: str | None
    reason: str | None
    cluster: str
    size: int
    duplicate_of: str | None = None
    detail: str | None = None


EXACT_STAGE, NEAR_STAGE = "exact_dedup", "near_dedup"


def kept_alone(doc_id: str) -> Outcome:
    """The outcome of a document with no copy and no near duplicate."""
    return Outcome(None, None, doc_id, 1)


def decide(doc_id: str, exact: ExactSummary | None, near: NearOutcome | None) -> Outcome:
    """`exact`: the document's exact cluster (None: it has no copy); `near`: the near-dedup component of
    that cluster's keeper (None: no near duplicate, or no near dedup)."""
    keep_id, copies = (exact.keep_id, exact.size) if exact is not None else (doc_id, 1)
    final = node_id(near.root) if near is not None else keep_id
    if doc_id != keep_id:
        detail = f"same text as {keep_id} ({copies} copies)"
        if final != keep_id:  # near dedup (or an index) removed this copy's keeper: point past it
            return Outcome(EXACT_STAGE, "exact_duplicate", final, near.size, final,
                           f"{detail}, itself a near duplicate of {final}")
        return Outcome(EXACT_STAGE, "exact_duplicate", keep_id, copies, keep_id, detail)
    if near is None:
        return Outcome(None, None, keep_id, copies)
    # An indexed copy with this document's own id is this document from an earlier run of the same
    # input (rerun into another output): not a duplicate of itself, and kept.
    if is_index_node(near.root) and final != doc_id:
        return Outcome(NEAR_STAGE, "in_dedup_index", final, near.size, final, f"near-duplicate of indexed document {final}")
    if final == doc_id:
        return Outcome(None, None, final, near.size)
    return Outcome(NEAR_STAGE, "near_duplicate", final, near.size, final,
                   f"near-duplicate of {final} (a cluster of {near.size})")
