"""Exact deduplication: documents with the same normalised text form a cluster; one is kept.

The keep rule is the smallest document id, which is a hash of where the document came from, so
the survivor does not depend on input order, on the runner, or on how work was split.
The cluster summary (kept id, size) is an associative, commutative merge, so it runs as a Beam
combiner that pre-aggregates before the shuffle: a text repeated a million times never forms a
million-element group.
"""

from typing import NamedTuple

import xxhash


class Cluster(NamedTuple):
    keep_id: str
    size: int


def content_hash(text: str) -> str:
    """128-bit hash of the text (already normalised by filters.normalise)."""
    return xxhash.xxh3_128_hexdigest(text.encode("utf-8", errors="surrogatepass"))


def merge_clusters(clusters) -> Cluster:
    keep_id, size = None, 0
    for cluster in clusters:
        size += cluster.size
        if keep_id is None or cluster.keep_id < keep_id:
            keep_id = cluster.keep_id
    return Cluster(keep_id, size)


def salt(doc_id: str, fanout: int) -> int:
    """Spreads one text's copies over `fanout` join groups; the same id always lands in the same one."""
    return xxhash.xxh64_intdigest(doc_id.encode()) % fanout
