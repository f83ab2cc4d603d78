"""dedup.decide: every document's dedup outcome from its exact cluster and its keeper's near outcome."""

from dedup.components import index_node_key, node_key
from dedup.decide import ExactSummary, NearOutcome, Outcome, decide, kept_alone, merge_summaries

A, B, C, K = ("a" * 32, "b" * 32, "c" * 32, "k" * 32)


def test_a_document_alone_is_kept_as_its_own_cluster():
    assert decide(A, None, None) == kept_alone(A) == Outcome(None, None, A, 1)


def test_exact_copies_point_to_the_smallest_id():
    cluster = merge_summaries([ExactSummary(B, 1, 0.5), ExactSummary(A, 1, 0.5), ExactSummary(C, 2, 0.5)])
    assert cluster.keep_id == A and cluster.size == 4
    assert decide(A, cluster, None) == Outcome(None, None, A, 4)
    assert decide(B, cluster, None) == Outcome("exact_dedup", "exact_duplicate", A, 4, A, f"same text as {A} (4 copies)")


def test_copies_of_a_keeper_near_dedup_removed_point_to_the_final_keeper():
    cluster = ExactSummary(A, 3, 0.5)
    near = NearOutcome(node_key(K, 0.9), 7)
    assert decide(A, cluster, near) == Outcome("near_dedup", "near_duplicate", K, 7, K,
                                               f"near-duplicate of {K} (a cluster of 7)")
    copy = decide(B, cluster, near)
    assert (copy.stage, copy.reason, copy.cluster, copy.size, copy.duplicate_of) == ("exact_dedup", "exact_duplicate", K, 7, K)
    assert copy.detail.endswith(f"itself a near duplicate of {K}")


def test_the_near_keeper_is_kept_with_its_component_size():
    assert decide(A, ExactSummary(A, 2, 0.9), NearOutcome(node_key(A, 0.9), 5)) == Outcome(None, None, A, 5)


def test_an_indexed_document_wins_but_never_against_itself():
    indexed = NearOutcome(index_node_key(K), 3)
    assert decide(A, None, indexed) == Outcome("near_dedup", "in_dedup_index", K, 3, K, f"near-duplicate of indexed document {K}")
    assert decide(K, None, indexed) == Outcome(None, None, K, 3)  # this document, from an earlier run of the same input
    copy = decide(B, ExactSummary(A, 2, None), indexed)
    assert (copy.stage, copy.duplicate_of) == ("exact_dedup", K)
