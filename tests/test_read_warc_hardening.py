"""WARC and WET readers on hostile input: bounded memory and time, nothing lost, nothing misread.

Bombs expand to 256 MiB and are written streaming (zeros compress to almost nothing). Each is read
by the reader alone in a fresh process, whose peak RSS (ru_maxrss) is what is checked.
"""

import gzip
import random
import zlib
from pathlib import Path

import pytest
import zstandard

from pipelines.sources import READERS, FileContext, Quarantined, Rejected, document_id
from reader_bombs import measure as measure_fields

MIB = 1 << 20
BOMB_MIB = 256
RSS_LIMIT_MB = 400  # the interpreter with the readers imported takes about 75 MB


def measure(path: Path, fmt: str, **options) -> dict:
    return measure_fields(path, fmt, ("url", "size"), **options)


def read(path: Path, fmt: str = "warc", **options) -> list:
    with open(path, "rb") as raw:
        return list(READERS[fmt](raw, FileContext("test", fmt, str(path), "x", options)))


def offset_of(item) -> int:
    if isinstance(item, Quarantined):
        return item.offset
    return (item.doc if isinstance(item, Rejected) else item)["offset"]


def zeros(mib: int = BOMB_MIB):
    block = bytes(MIB)
    for _ in range(mib):
        yield block


def write_compressed(path: Path, parts, kind: str = "gzip", before: bytes = b"") -> Path:
    """`before`, then one gzip member (or one zstd frame) holding `parts`, written as they come."""
    with open(path, "wb") as out:
        out.write(before)
        if kind == "gzip":
            compressor = zlib.compressobj(1, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
        else:
            compressor = zstandard.ZstdCompressor().compressobj()
        for part in parts:
            out.write(compressor.compress(part))
        out.write(compressor.flush())
    return path


def wet_record(uri: str, *body: bytes) -> list[bytes]:
    """A WET conversion record, in parts (its Content-Length is wrong, as WET readers expect)."""
    head = (b"WARC/1.0\r\nWARC-Type: conversion\r\nWARC-Target-URI: " + uri.encode()
            + b"\r\nWARC-Date: 2024-01-01T00:00:00Z\r\nContent-Type: text/plain\r\nContent-Length: 1\r\n\r\n")
    return [head, *body, b"\r\n\r\n"]


def warc_record(uri: str, http_head: bytes, body: bytes) -> bytes:
    block = http_head + body
    return (b"WARC/1.0\r\nWARC-Type: response\r\nWARC-Target-URI: " + uri.encode()
            + b"\r\nWARC-Date: 2024-01-01T00:00:00Z\r\nContent-Type: application/http; msgtype=response"
            + b"\r\nContent-Length: " + str(len(block)).encode() + b"\r\n\r\n" + block + b"\r\n\r\n")


HTML = b"<html><body><p>A small page that reads normally.</p></body></html>"
OK_HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n\r\n"


# Defect 1: WET lines were read whole, so a file (or a record) of zeros was held entire.

def test_wet_of_zeros_is_a_format_mismatch_read_in_bounded_memory(tmp_path):
    result = measure(write_compressed(tmp_path / "zeros.warc.wet.gz", zeros()), "wet")
    [item] = result["items"]
    assert item["kind"] == "quarantine" and item["error"] == "FormatMismatch" and "zero bytes" in item["message"]
    assert result["rss_mb"] < RSS_LIMIT_MB


def test_wet_record_over_the_limit_is_rejected_and_the_next_one_read(tmp_path):
    parts = [*wet_record("http://huge.example/", *zeros()), *wet_record("http://next.example/", b"Next page.")]
    result = measure(write_compressed(tmp_path / "huge.warc.wet.gz", parts), "wet")
    huge, following = result["items"]
    assert huge["kind"] == "reject" and huge["reason"] == "too_large"
    assert huge["detail"].startswith(f"{BOMB_MIB * MIB + 4} bytes")  # its size to the next record (line ends included)
    assert following == {"kind": "doc", "offset": following["offset"], "url": "http://next.example/", "size": 10}
    assert result["rss_mb"] < RSS_LIMIT_MB


# Defect 2: warcio read the first line of a header-less WARC whole (and put it in the message).

def test_warc_of_zeros_is_a_format_mismatch_read_in_bounded_memory(tmp_path):
    result = measure(write_compressed(tmp_path / "zeros.warc.gz", zeros()), "warc")
    [item] = result["items"]
    assert item["kind"] == "quarantine" and item["error"] == "FormatMismatch" and "zero bytes" in item["message"]
    assert len(item["message"]) < 300 and result["rss_mb"] < RSS_LIMIT_MB


def test_warc_header_line_without_end_is_quarantined_in_bounded_memory(tmp_path):
    first = warc_record("http://first.example/", OK_HEAD, HTML)
    path = write_compressed(tmp_path / "endless.warc.gz", [b"WARC/1.0\r\nWARC-Type: ", *zeros()],
                            before=gzip.compress(first))  # one gzip member per record
    result = measure(path, "warc")
    page, endless = result["items"]
    assert page["kind"] == "doc" and page["url"] == "http://first.example/"
    assert endless["kind"] == "quarantine" and endless["error"] == "OversizedHeader"
    assert endless["offset"] == len(gzip.compress(first)) and len(endless["message"]) < 300
    assert result["rss_mb"] < RSS_LIMIT_MB


# Defect 3: zstd re-sliced its pending output on every read (quadratic) and held a frame's output whole.

def test_zstd_reads_in_linear_time_and_bounded_memory(tmp_path):
    parts = [*wet_record("http://huge.example/", *zeros()), *wet_record("http://next.example/", b"Next page.")]
    result = measure(write_compressed(tmp_path / "huge.warc.wet.zst", parts, "zstd"), "wet")
    assert [(i["kind"], i.get("reason") or i.get("url")) for i in result["items"]] == [
        ("reject", "too_large"), ("doc", "http://next.example/")]
    # Linear: gzip takes about 1 s for the same; the quadratic reader took over 30 s.
    assert result["cpu_s"] < 12 and result["rss_mb"] < RSS_LIMIT_MB


# Defect 4: a WARC gzipped as one member gave no documents and a negative offset.

def test_warc_gzipped_whole_reads_every_record(tmp_path, data_dir):
    plain = gzip.decompress((data_dir / "web_warc_dolma_wget" / "sample-0000.warc.gz").read_bytes())
    (tmp_path / "plain.warc").write_bytes(plain)
    whole = gzip.compress(plain)
    (tmp_path / "whole.warc.gz").write_bytes(whole)
    docs = read(tmp_path / "whole.warc.gz")
    # Offsets in the decompressed stream: the same records, offsets and ids as the uncompressed file.
    assert len(docs) == plain.count(b"\r\nWARC-Type: response\r\n") > 5  # 22 in the shared file
    assert [{**d, "file": None} for d in docs] == [{**d, "file": None} for d in read(tmp_path / "plain.warc")]
    # Cut in the middle: the records before the cut, then the cut one, all at offsets >= 0.
    (tmp_path / "cut.warc.gz").write_bytes(whole[: len(whole) // 2])
    items = read(tmp_path / "cut.warc.gz")
    assert all(isinstance(i, dict) for i in items[:-1]) and len(items) > 2
    assert isinstance(items[-1], Quarantined) and items[-1].error == "TruncatedRecord"
    offsets = [offset_of(i) for i in items]
    assert offsets == sorted(offsets) and offsets[0] >= 0 and offsets[-1] > offsets[-2]
    # Every response that ends before the cut, as read from the whole file.
    assert [{**d, "file": None} for d in items[:-1]] == [{**d, "file": None} for d in docs if d["offset"] < offsets[-1]]


def test_warc_compressed_with_zstd_or_bzip2_reads_like_the_plain_file(tmp_path, data_dir):
    import bz2

    plain = gzip.decompress((data_dir / "cc_warc_2020_34_resiliparse" / "warcfile.warc.gz").read_bytes())
    (tmp_path / "plain.warc").write_bytes(plain)
    (tmp_path / "x.warc.zst").write_bytes(zstandard.ZstdCompressor().compress(plain))
    (tmp_path / "x.warc.bz2").write_bytes(bz2.compress(plain))
    expected = [{**d, "file": None} for d in read(tmp_path / "plain.warc")]
    assert len(expected) == plain.count(b"\r\nWARC-Type: response\r\n") > 5  # 16 in the shared file
    for name in ("x.warc.zst", "x.warc.bz2"):
        assert [{**d, "file": None} for d in read(tmp_path / name)] == expected, name


# Defect 5: a file named .warc.gz that is not a WARC was parsed as ARC.

def test_non_warc_content_is_a_format_mismatch(tmp_path, data_dir):
    elf = b"\x7fELF\x02\x01\x01\x00" + bytes(range(256)) * 64
    (tmp_path / "program.warc.gz").write_bytes(gzip.compress(elf))
    jsonl = gzip.decompress((data_dir / "ccnet_jsonl_dolma" / "cc_en_head-0091.jsonl.gz").read_bytes())
    (tmp_path / "lines.warc.gz").write_bytes(gzip.compress(jsonl[:100_000]))
    for name, looks_like in (("program.warc.gz", "an ELF executable"), ("lines.warc.gz", "JSON")):
        [item] = read(tmp_path / name)
        assert isinstance(item, Quarantined) and item.error == "FormatMismatch", name
        assert item.offset == 0 and f"looks like {looks_like}" in item.message


def test_arc_files_still_read(tmp_path):
    def arc_record(uri: bytes, content_type: bytes, block: bytes) -> bytes:
        return b"%s 0.0.0.0 20140102000000 %s %d\n%s\n" % (uri, content_type, len(block), block)

    filedesc = arc_record(b"filedesc://example.arc", b"text/plain",
                          b"1 0 Example\nURL IP-address Archive-date Content-type Archive-length\n")
    page = arc_record(b"http://example.com/", b"text/html", OK_HEAD + HTML)
    (tmp_path / "example.arc.gz").write_bytes(gzip.compress(filedesc) + gzip.compress(page))
    [doc] = read(tmp_path / "example.arc.gz")
    assert doc["url"] == "http://example.com/" and doc["content"] == HTML
    assert doc["offset"] == len(gzip.compress(filedesc))  # the record's gzip member


# The bounds hold for HTTP bodies too: warcio inflated a whole chunk at once.

def test_http_body_bombs_are_rejected_in_bounded_memory(tmp_path):
    bomb = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    gzipped = b"".join(bomb.compress(part) for part in zeros()) + bomb.flush()
    chunked = b"%x\r\n%s\r\n0\r\n\r\n" % (len(gzipped), gzipped)
    records = [
        warc_record("http://chunked-bomb.example/", b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n"
                    b"Transfer-Encoding: chunked\r\nContent-Encoding: gzip\r\n\r\n", chunked),
        warc_record("http://gzip-bomb.example/", b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n"
                    b"Content-Encoding: gzip\r\n\r\n", gzipped),
        warc_record("http://page.example/", OK_HEAD, HTML),
    ]
    path = tmp_path / "bombs.warc.gz"
    path.write_bytes(b"".join(gzip.compress(r) for r in records))
    result = measure(path, "warc")
    assert [(i["kind"], i.get("reason")) for i in result["items"]] == [
        ("reject", "too_large"), ("reject", "too_large"), ("doc", None)]
    assert "once decoded" in result["items"][0]["detail"]
    assert result["items"][2]["size"] == len(HTML) and result["rss_mb"] < RSS_LIMIT_MB


def test_large_identity_body_is_rejected_with_its_size(tmp_path):
    big = b"x" * (3 * MIB)
    records = [warc_record("http://big.example/", OK_HEAD, big), warc_record("http://page.example/", OK_HEAD, HTML)]
    (tmp_path / "big.warc").write_bytes(b"".join(records))
    big_item, page = read(tmp_path / "big.warc", max_doc_bytes=MIB // 2)
    assert big_item.reason == "too_large" and f"payload of {len(big)} bytes" in big_item.detail
    assert page["content"] == HTML


@pytest.mark.parametrize("encoding", ["gzip", "deflate", "raw-deflate", "bogus-gzip", "br"])
def test_content_encodings_decode_as_before(tmp_path, encoding):
    if encoding == "br":
        body, header = pytest.importorskip("brotli").compress(HTML), b"br"
    elif encoding == "gzip":
        body, header = gzip.compress(HTML), b"gzip"
    elif encoding == "deflate":
        body, header = zlib.compress(HTML), b"deflate"
    elif encoding == "raw-deflate":  # sent as "deflate" by some servers
        raw = zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS)
        body, header = raw.compress(HTML) + raw.flush(), b"deflate"
    else:  # labelled gzip, sent plain: taken as plain, as warcio does
        body, header = HTML, b"gzip"
    head = b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Encoding: " + header + b"\r\n\r\n"
    (tmp_path / "enc.warc").write_bytes(warc_record("http://enc.example/", head, body))
    [doc] = read(tmp_path / "enc.warc")
    assert doc["content"] == HTML


# Defect 6: a record starting a gzip member is numbered by its file offset, one inside a member by
# its decompressed offset; in a file mixing the two, two records had the same offset and id.

def _page(name: str, filler: bytes = b"") -> bytes:
    return warc_record(f"http://{name}.example/", OK_HEAD, b"<html><body><p>" + name.encode() + b"</p>" + filler
                       + b"</body></html>")


def _member(*records: bytes) -> bytes:
    return gzip.compress(b"".join(records), mtime=0)


def _inner_then_member() -> tuple[bytes, int]:
    """Member 1 holds A and B, member 2 holds C, member 1 is as long as A: B's offset in the
    decompressed stream is C's in the file. (The file, that offset.)"""
    noise = random.Random(0).randbytes(3000)  # keeps A about as long compressed as not
    for m in range(64):
        for n in range(200):
            a, b = _page("a", noise + b"x" * n), _page("b", b"y" * m)
            first = _member(a, b)
            if len(first) == len(a):
                return first + _member(_page("c")), len(a)
    raise AssertionError("no such file found")


def _member_then_inner() -> tuple[bytes, int]:
    """Members of A and of B, zero padding between them (skipped, as between any members) so that
    B's file offset is Q's decompressed offset, Q inside a third member after P."""
    a, b, p, q = _page("a"), _page("b"), _page("p"), _page("q")
    clash = len(a) + len(b) + len(p)  # Q's decompressed offset
    first = _member(a)
    return first + bytes(clash - len(first)) + _member(b) + _member(p, q), clash


def test_ids_are_unique_in_a_gzip_file_mixing_both_numberings(tmp_path):
    for name, (data, clash) in (("inner-first.warc.gz", _inner_then_member()),
                                 ("member-first.warc.gz", _member_then_inner())):
        path = tmp_path / name
        path.write_bytes(data)
        docs = read(path)
        at = [d for d in docs if d["offset"] == clash]
        assert len(at) == 2, name  # one numbered in the file, one in the decompressed stream
        assert len({d["id"] for d in docs}) == len(docs), name
        # The first of the two keeps the plain id; the second has its id in its numbering's space.
        first, second = at
        assert first["id"] == document_id("test", "x", clash)
        space = "gzip-member" if name == "inner-first.warc.gz" else "decompressed"
        assert second["id"] == document_id("test", "x", clash, space), name
        # Every other record has its plain id, and a record starting a member its member's offset.
        assert all(d["id"] == document_id("test", "x", d["offset"]) for d in docs if d is not second)
    assert [d["url"] for d in read(tmp_path / "inner-first.warc.gz")] == [
        "http://a.example/", "http://b.example/", "http://c.example/"]
    assert [d["url"] for d in read(tmp_path / "member-first.warc.gz")] == [
        "http://a.example/", "http://b.example/", "http://p.example/", "http://q.example/"]


def test_multi_record_member_gives_the_ids_of_the_uncompressed_file(tmp_path):
    """One member of several records, and files of one record per member: plain ids, as before."""
    records = [_page(f"r{i}", b"w" * (i * 100)) for i in range(5)]
    (tmp_path / "plain.warc").write_bytes(b"".join(records))
    (tmp_path / "whole.warc.gz").write_bytes(_member(*records))
    (tmp_path / "each.warc.gz").write_bytes(b"".join(_member(r) for r in records))
    plain = read(tmp_path / "plain.warc")
    assert [{**d, "file": None} for d in read(tmp_path / "whole.warc.gz")] == [{**d, "file": None} for d in plain]
    each = read(tmp_path / "each.warc.gz")
    starts = [sum(len(_member(r)) for r in records[:i]) for i in range(5)]
    assert [d["offset"] for d in each] == starts
    assert [d["id"] for d in each] == [document_id("test", "x", s) for s in starts]
