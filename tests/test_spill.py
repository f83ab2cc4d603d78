"""The pieces that keep documents out of shuffles: row files, band buckets on files, merged shards."""

import numpy as np
import pytest

from dedup.components import node_key
from pipelines.transforms import materialise
from pipelines.transforms.materialise import MergeShards
from pipelines.transforms.near_dedup import _band_stars, _WriteBandFiles
from pipelines.transforms.spill import RowWriter, read_rows
from schemas import DOCUMENT_SCHEMA


def test_row_files_give_back_every_row_in_order(tmp_path):
    rows = [{"id": f"{i:032x}", "text": "é" * (i % 700), "n": i, "blob": bytes(i % 256)} for i in range(5000)]
    writer = RowWriter(str(tmp_path / "rows.zst"))
    for row in rows:
        writer.write(row)
    writer.close()
    assert list(read_rows(str(tmp_path / "rows.zst"))) == rows


def test_a_truncated_row_file_is_an_error_not_fewer_rows(tmp_path):
    writer = RowWriter(str(tmp_path / "rows.zst"))
    for i in range(2000):
        writer.write({"text": f"{i} " * 50})
    writer.close()
    data = (tmp_path / "rows.zst").read_bytes()
    (tmp_path / "cut.zst").write_bytes(data[: len(data) // 2])
    with pytest.raises(Exception):
        list(read_rows(str(tmp_path / "cut.zst")))


def _node(doc_id, score, text_hash, bands):
    return node_key(doc_id, score), doc_id, text_hash, tuple(bands)


def _stars(tmp_path, nodes, bands=2, chunk=None):
    writer = _WriteBandFiles(str(tmp_path), bands)
    if chunk:
        writer.CHUNK = chunk
    writer.start_bundle()
    files = [f for node in nodes for f in writer.process(node)]
    writer.finish_bundle()
    by_band = {}
    for band, path in files:
        by_band.setdefault(band, []).append(path)
    return sorted(star for band, paths in by_band.items() for star in _band_stars((band, paths)))


def test_band_buckets_make_stars_around_the_smallest_node_of_each_shared_bucket(tmp_path):
    a, b, c, d = (f"{i:032x}" for i in range(1, 5))
    nodes = [_node(a, 0.2, 1, (10, 20)), _node(b, 0.9, 2, (10, 21)), _node(c, 0.5, 3, (11, 21)),
             _node(d, 0.5, 4, (12, 22))]  # d shares nothing
    stars = _stars(tmp_path, nodes, chunk=2)  # several chunks: files of one band are read together
    assert stars == sorted([((0, 10), node_key(a, 0.2), node_key(b, 0.9)),    # b scores best: the centre
                            ((1, 21), node_key(c, 0.5), node_key(b, 0.9))])


def test_exact_copies_are_one_node_their_smallest_id(tmp_path):
    keeper, copy, other = (f"{i:032x}" for i in (5, 9, 7))
    nodes = [_node(copy, 0.5, 42, (1, 2)), _node(keeper, 0.5, 42, (1, 2)), _node(other, 0.5, 43, (1, 3))]
    assert _stars(tmp_path, nodes) == [((0, 1), node_key(other, 0.5), node_key(keeper, 0.5))]
    assert _stars(tmp_path / "alone", nodes[:2]) == []  # copies alone: exact dedup's, not near dedup's


def _pieces(tmp_path, groups):
    paths = []
    for i, ids in enumerate(groups):
        writer = RowWriter(str(tmp_path / f"piece-{i}.rows.zst"))
        for doc_id in sorted(ids):
            writer.write((doc_id, {"id": doc_id, "text": f"text of {doc_id}", "source": "s", "format": "text",
                                   "file": "f", "offset": int(doc_id, 16), "lang": "en", "lang_score": 1.0, "signals": {},
                                   "dedup_cluster": doc_id, "dedup_cluster_size": 1}))
        writer.close()
        paths.append(str(tmp_path / f"piece-{i}.rows.zst"))
    return paths


@pytest.mark.parametrize("fanin", [2, 3])
def test_a_shard_merged_in_rounds_is_the_same_file(tmp_path, monkeypatch, fanin):
    rng = np.random.default_rng(1)
    ids = [f"{i:032x}" for i in rng.permutation(10_000)]
    groups = [ids[i::7] for i in range(7)]
    outputs = []
    for label, limit in (("once", 128), ("rounds", fanin)):
        monkeypatch.setattr(materialise, "MERGE_FANIN", limit)
        out = tmp_path / label
        (out / "_work" / "pieces").mkdir(parents=True)
        paths = _pieces(out, groups)
        [info] = MergeShards(str(out), {"documents": DOCUMENT_SCHEMA}).process(
            (("documents", "lang=en", 0, 1), paths))
        assert info["rows"] == 10_000
        outputs.append((out / "documents" / "en" / "part-00000-of-00001.parquet").read_bytes())
    assert outputs[0] == outputs[1]
    import pyarrow.parquet as pq
    table = pq.read_table(tmp_path / "once" / "documents" / "en" / "part-00000-of-00001.parquet")
    assert table.column("id").to_pylist() == sorted(ids)
