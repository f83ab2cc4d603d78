"""Bad input gets a clear record (quarantine with file, offset and error, or a reject with a reason),
never a crash or a silent loss. Each case is made from real data, then run through the pipeline."""

import bz2
import gzip
import json
from collections import Counter

import pytest

from conftest import curate, read_rows


@pytest.fixture(scope="module")
def bad_run(tmp_path_factory, data_dir):
    """One pipeline run over a folder of broken inputs plus one good file."""
    src = tmp_path_factory.mktemp("bad")
    jsonl = gzip.decompress((data_dir / "ccnet_jsonl_dolma" / "cc_en_head-0091.jsonl.gz").read_bytes())
    lines = jsonl.splitlines(keepends=True)

    (src / "good.jsonl").write_bytes(b"".join(lines[:4]))
    whole = gzip.compress(jsonl)
    (src / "truncated.jsonl.gz").write_bytes(whole[: len(whole) // 2])
    # A line holding bytes that are not UTF-8, between two good lines.
    (src / "invalid-utf8.jsonl").write_bytes(lines[0] + lines[1].replace(b"the", b"th\xff\xfe", 1) + lines[2])
    (src / "malformed.jsonl").write_bytes(lines[0] + b'{"text": "unterminated\n' + b"[1, 2]\n" + lines[3]
                                          + b"[" * 100_000 + b"\n" + lines[4])
    # JSON escapes for unpaired surrogates, which no UTF-8 writer accepts, in the text and the fields.
    (src / "surrogates.jsonl").write_bytes(b'{"text": "lone \\ud800 surrogate in a document", '
                                           b'"title": "bad \\udfff title", "url": "http://x/\\ud83d"}\n')
    # A WET file whose second record has a garbled WARC-Type header.
    wet = (data_dir / "wet_ccnet_test_sample" / "sample.warc.txt").read_bytes()
    (src / "garbled.warc.wet").write_bytes(wet.replace(b"WARC-Type: conversion", b"WARC-Typo: conversion", 1))
    (src / "empty.txt").write_bytes(b"")
    (src / "binary.txt").write_bytes(bytes(range(256)) * 64)
    # The Wikipedia sample, re-encoded as UTF-16 (with a byte-order mark) and without one.
    xml = bz2.decompress((data_dir / "enwiki_xml_dump_sample" /
                          "enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2").read_bytes())
    head = xml[: xml.index(b"</page>", 200_000) + len(b"</page>")] + b"\n</mediawiki>\n"
    utf16 = head.decode("utf-8").encode("utf-16")
    (src / "dump-utf16.xml").write_bytes(utf16)
    (src / "dump-utf16-nobom.xml").write_bytes(head.decode("utf-8").encode("utf-16-le"))
    (src / "dump-utf8.xml").write_bytes(head)
    (src / "dump-cut.xml").write_bytes(head[: len(head) // 2])
    warc = (data_dir / "web_warc_dolma_wget" / "sample-0000.warc.gz").read_bytes()
    (src / "truncated.warc.gz").write_bytes(warc[: len(warc) // 2])
    # A 50 MB document on one line.
    (src / "huge.jsonl").write_bytes(json.dumps({"text": "word " * 10_000_000}).encode() + b"\n" + lines[5])

    out = tmp_path_factory.mktemp("out") / "run"
    result = curate(out, [{"name": "bad", "glob": str(src / "*")}], filters="none", dedup="none")
    return src, out, result


def quarantined(out, file_name):
    return [q for q in read_rows(out, "quarantine") if q["file"].endswith("/" + file_name)]


def test_run_succeeds_and_counts_add_up(bad_run):
    _, out, result = bad_run
    assert result.problems == []
    s = result.stats["sources"]["bad"]
    rows = {kind: len(read_rows(out, kind)) for kind in ("documents", "rejects", "quarantine")}
    assert s["records"] == s["kept"] + s["rejected"] + s["quarantined"]
    assert (s["kept"], s["rejected"], s["quarantined"]) == (rows["documents"], rows["rejects"], rows["quarantine"])
    assert (out / "manifest.json").exists()


def test_truncated_gzip(bad_run):
    src, out, _ = bad_run
    [q] = quarantined(out, "truncated.jsonl.gz")
    assert q["error"] == "EOFError" and "end-of-stream" in q["message"]
    docs = [d for d in read_rows(out, "documents") if d["file"].endswith("truncated.jsonl.gz")]
    assert docs and all(d["offset"] < q["offset"] for d in docs)  # what was read before the cut is kept


def test_invalid_utf8_line_is_quarantined_alone(bad_run):
    _, out, _ = bad_run
    [q] = quarantined(out, "invalid-utf8.jsonl")
    assert q["error"] == "UnicodeDecodeError" and "can't decode byte 0xff" in q["message"]
    assert q["offset"] > 0 and q["sample"].startswith(b'{"added"')
    assert sum(d["file"].endswith("invalid-utf8.jsonl") for d in read_rows(out, "documents")) == 2


def test_malformed_json_lines(bad_run):
    _, out, _ = bad_run
    errors = Counter(q["error"] for q in quarantined(out, "malformed.jsonl"))
    assert errors == {"JSONDecodeError": 1, "NotAnObject": 1, "RecursionError": 1}
    # Every good line is read, also the ones after a line nested 100,000 deep.
    assert sum(d["file"].endswith("malformed.jsonl") for d in read_rows(out, "documents")) == 3


def test_unpaired_surrogates_are_replaced(bad_run):
    _, out, _ = bad_run
    [doc] = [d for d in read_rows(out, "documents") if d["file"].endswith("surrogates.jsonl")]
    assert doc["text"] == "lone \ufffd surrogate in a document"
    assert (doc["title"], doc["url"]) == ("bad \ufffd title", "http://x/\ufffd")


def test_wet_record_with_a_garbled_type(bad_run):
    _, out, _ = bad_run
    [q] = quarantined(out, "garbled.warc.wet")
    assert q["error"] == "MalformedRecord" and "None" in q["message"]
    assert sum(d["file"].endswith("garbled.warc.wet") for d in read_rows(out, "documents")) == 2


def test_empty_and_binary_files(bad_run):
    _, out, _ = bad_run
    assert [q["error"] for q in quarantined(out, "empty.txt")] == ["EmptyFile"]
    [binary] = quarantined(out, "binary.txt")
    assert binary["error"] == "BinaryContent" and binary["sample"].startswith(b"\x00\x01\x02")


def test_utf16_dump_reads_like_the_utf8_one(bad_run):
    _, out, _ = bad_run
    rows = read_rows(out, "documents") + read_rows(out, "rejects")
    names = ("dump-utf8.xml", "dump-utf16.xml", "dump-utf16-nobom.xml")
    texts = {name: sorted(r["text"] for r in rows if r["file"].endswith("/" + name)) for name in names}
    # expat detects UTF-16 from the byte-order mark, or from the first '<' without one.
    assert len(texts["dump-utf8.xml"]) > 10
    assert texts["dump-utf16.xml"] == texts["dump-utf8.xml"] == texts["dump-utf16-nobom.xml"]
    assert not any(quarantined(out, name) for name in names)


def test_dump_cut_mid_page(bad_run):
    _, out, _ = bad_run
    [q] = quarantined(out, "dump-cut.xml")
    assert q["error"] == "ExpatError"
    pages = [r for r in read_rows(out, "documents") + read_rows(out, "rejects") if r["file"].endswith("/dump-cut.xml")]
    assert pages and all(p["offset"] < q["offset"] for p in pages)


def test_truncated_warc(bad_run):
    _, out, _ = bad_run
    [q] = quarantined(out, "truncated.warc.gz")
    assert q["error"] in ("TruncatedRecord", "MalformedRecord")
    assert q["offset"] > 0


def test_fifty_megabyte_line(bad_run):
    _, out, _ = bad_run
    rejects = [r for r in read_rows(out, "rejects") if r["file"].endswith("huge.jsonl")]
    assert [(r["stage"], r["reason"]) for r in rejects] == [("read", "too_large")]
    assert rejects[0]["offset"] == 0 and "max_doc_bytes" in rejects[0]["detail"]
    # The line after it is read normally.
    assert sum(d["file"].endswith("huge.jsonl") for d in read_rows(out, "documents")) == 1
