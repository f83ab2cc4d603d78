"""Wikipedia XML, Parquet, JSONL and text readers on hostile input: bounded memory, nothing lost.

Bombs expand to 256 MiB (the readers' limit is the default 16 MiB unless a test says otherwise) and
are written streaming or from repeated compressed blocks. Each is read by the reader alone in a
fresh process, whose peak RSS (ru_maxrss) is what is checked.
"""

import bz2
import gzip
import json
import lzma
import os
import struct
import zlib
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipelines.sources import READERS, FileContext, Quarantined, Rejected
from reader_bombs import measure

MIB = 1 << 20
BOMB_MIB = 256
RSS_LIMIT_MB = 400  # the interpreter with the readers imported takes about 100 MB


def read(path: Path, fmt: str, **options) -> list:
    with open(path, "rb") as raw:
        return list(READERS[fmt](raw, FileContext("test", fmt, str(path), path.name, options)))


def offset_of(item) -> int:
    if isinstance(item, Quarantined):
        return item.offset
    return (item.doc if isinstance(item, Rejected) else item)["offset"]


# --- Wikipedia ---------------------------------------------------------------------------------

_SITE = (b'<mediawiki xmlns="http://www.mediawiki.org/xml/export-0.10/"><siteinfo><dbname>enwiki</dbname>'
         b'<base>https://en.wikipedia.org/wiki/Main_Page</base></siteinfo>\n')
_AFTER = (b'<page><title>After</title><ns>0</ns><id>3</id><revision><id>4</id><text xml:space="preserve">'
          b"The page after the bomb is read.</text></revision></page>\n</mediawiki>\n")


def _page(title: bytes) -> bytes:
    return (b"<page><title>" + title + b'</title><ns>0</ns><id>1</id><revision><id>2</id>'
            b'<text xml:space="preserve">')


def write_bz2_streams(path: Path, head: bytes, body: bytes, repeat: int, tail: bytes) -> None:
    """head, `repeat` copies of body, tail: each its own bz2 stream (readers take concatenated
    streams), so the body is compressed once."""
    block = bz2.compress(body, 1)
    with open(path, "wb") as out:
        out.write(bz2.compress(head))
        for _ in range(repeat):
            out.write(block)
        out.write(bz2.compress(tail))


def test_wikipedia_page_bomb_is_counted_not_held(tmp_path):
    path = tmp_path / "bomb.xml.bz2"
    write_bz2_streams(path, _SITE + _page(b"Bomb"), b"a" * (16 * MIB), BOMB_MIB // 16,
                      b"</text></revision></page>\n" + _AFTER)
    result = measure(path, "wikipedia")
    bomb, after = result["items"]
    assert bomb["kind"] == "reject" and bomb["reason"] == "too_large" and bomb["title"] == "Bomb"
    assert bomb["offset"] == len(_SITE)
    assert f"{BOMB_MIB * MIB + len(b'Bomb012')} bytes" in bomb["detail"]  # all of the page's text fields
    # The next page is read, at its offset in the file.
    head = _SITE + _page(b"Bomb")
    assert after == {"kind": "doc", "offset": len(head) + BOMB_MIB * MIB + len(b"</text></revision></page>\n"),
                     "title": "After", "text": "The page after the bomb is read."}
    assert result["rss_mb"] < RSS_LIMIT_MB, result["rss_mb"]


def test_wikipedia_page_bomb_in_utf16(tmp_path):
    """UTF-16 takes expat all the way (no skipping ahead): still counted, not held."""
    path = tmp_path / "bomb16.xml.bz2"
    write_bz2_streams(path, "\ufeff".encode("utf-16-le") + (_SITE + _page(b"Wide")).decode().encode("utf-16-le"),
                      "a".encode("utf-16-le") * (8 * MIB), 4,
                      (b"</text></revision></page>\n" + _AFTER).decode().encode("utf-16-le"))
    items = read(path, "wikipedia")
    assert [(type(i).__name__, getattr(i, "reason", None)) for i in items] == [("Rejected", "too_large"),
                                                                                ("dict", None)]
    assert f"{32 * MIB + 7} bytes" in items[0].detail and items[1]["text"] == "The page after the bomb is read."


def test_wikipedia_comment_bomb_stops_with_a_quarantine(tmp_path):
    """expat holds a comment (or tag, or attribute) whole until it ends: reading stops once one
    passes max_doc_bytes, with a record of where."""
    path = tmp_path / "comment.xml.bz2"
    good = _page(b"Good") + b"Kept.</text></revision></page>\n"
    write_bz2_streams(path, _SITE + good + b"<!--", b"c" * (16 * MIB), BOMB_MIB // 16, b"-->" + _AFTER)
    result = measure(path, "wikipedia")
    doc, quarantine = result["items"]
    assert doc["title"] == "Good"
    assert quarantine["kind"] == "quarantine" and quarantine["error"] == "XmlTooLarge"
    assert quarantine["offset"] == len(_SITE + good)
    assert result["rss_mb"] < RSS_LIMIT_MB, result["rss_mb"]


def test_wikipedia_nesting_bomb_stops_with_a_quarantine(tmp_path):
    path = tmp_path / "deep.xml"
    path.write_bytes(_SITE + _page(b"Deep") + b"x</text></revision></page>\n" + b"<a>" * 100_000)
    items = read(path, "wikipedia")
    assert isinstance(items[0], dict) and items[0]["title"] == "Deep"
    assert isinstance(items[1], Quarantined) and items[1].error == "XmlTooLarge" and "nested" in items[1].message


# --- Parquet -----------------------------------------------------------------------------------

_SCHEMA = pa.schema([("text", pa.string()), ("url", pa.string())])


def test_parquet_rows_of_64_mib_in_their_own_row_groups(tmp_path):
    """The adversary's shape: a row group per 64 MiB row, judged from the metadata, never read."""
    path = tmp_path / "rows.parquet"
    value = "a" * (64 * MIB)
    with pq.ParquetWriter(path, _SCHEMA, compression="zstd", use_dictionary=False) as writer:
        writer.write_table(pa.table({"text": ["a small document"], "url": ["http://x/0"]}, schema=_SCHEMA))
        for i in range(1, BOMB_MIB // 64 + 1):
            writer.write_table(pa.table({"text": [value], "url": [f"http://x/{i}"]}, schema=_SCHEMA))
        writer.write_table(pa.table({"text": ["the last one"], "url": ["http://x/5"]}, schema=_SCHEMA))
    del value
    assert path.stat().st_size < 100_000
    result = measure(path, "parquet")
    kinds = [(i["kind"], i["offset"]) for i in result["items"]]
    assert kinds == [("doc", 0), ("reject", 1), ("reject", 2), ("reject", 3), ("reject", 4), ("doc", 5)]
    rejects = result["items"][1:5]
    assert all(r["reason"] == "too_large" and "metadata" in r["detail"] for r in rejects)
    assert [r["url"] for r in rejects] == [f"http://x/{i}" for i in range(1, 5)]  # small fields kept
    assert result["rss_mb"] < RSS_LIMIT_MB, result["rss_mb"]


def test_parquet_rows_of_64_mib_in_one_row_group(tmp_path):
    """A value cannot be skipped inside a row group: rows are read one at a time and measured in
    Arrow, so at most about one row is held."""
    path = tmp_path / "group.parquet"
    big = pa.array(["a" * (64 * MIB)])
    small = pa.array(["a small document"])
    texts = pa.chunked_array([small] + [big] * (BOMB_MIB // 64) + [small])  # one buffer, shared
    table = pa.table({"text": texts, "url": [f"http://x/{i}" for i in range(len(texts))]})
    pq.write_table(table, path, compression="zstd", use_dictionary=False, row_group_size=len(texts))
    del big, texts, table
    assert pq.ParquetFile(path).metadata.num_row_groups == 1
    result = measure(path, "parquet")
    assert [(i["kind"], i["offset"]) for i in result["items"]] == [
        ("doc", 0), ("reject", 1), ("reject", 2), ("reject", 3), ("reject", 4), ("doc", 5)]
    assert all(f"row of {64 * MIB + len('http://x/1')} bytes" in i["detail"] for i in result["items"][1:5])
    assert result["rss_mb"] < RSS_LIMIT_MB, result["rss_mb"]


def _dictionary_bomb(path: Path, entry_mib: int, rows: int) -> None:
    """One row group whose rows all point at one dictionary entry: a few KB on disk, rows x entry
    bytes once decoded (written without the Arrow schema, so it reads back as plain strings)."""
    texts = pa.DictionaryArray.from_arrays(pa.array([0] * rows, pa.int32()), pa.array(["d" * (entry_mib * MIB)]))
    table = pa.table({"text": texts, "url": [f"http://x/{i}" for i in range(rows)]})
    pq.write_table(table, path, compression="zstd", store_schema=False)


def test_parquet_dictionary_bomb(tmp_path):
    path = tmp_path / "dictionary.parquet"
    _dictionary_bomb(path, 20, 12)  # 240 MiB decoded from one 20 MiB entry
    assert path.stat().st_size < 100_000
    result = measure(path, "parquet")
    assert [(i["kind"], i.get("reason"), i["offset"]) for i in result["items"]] == [
        ("reject", "too_large", i) for i in range(12)]
    assert result["rss_mb"] < RSS_LIMIT_MB, result["rss_mb"]


def test_parquet_dictionary_page_too_large_to_decode(tmp_path):
    """A dictionary page over 4 x max_doc_bytes and 64 MiB is not decoded: each of its row group's
    rows is quarantined, so that the file's records still add up."""
    path = tmp_path / "dictionary.parquet"
    _dictionary_bomb(path, 65, 12)
    result = measure(path, "parquet", max_doc_bytes=4 * MIB)
    assert [(i["kind"], i["error"], i["offset"]) for i in result["items"]] == [
        ("quarantine", "DictionaryTooLarge", row) for row in range(12)]
    assert all("rows 0 to 11 not read" in i["message"] for i in result["items"])
    assert result["rss_mb"] < RSS_LIMIT_MB, result["rss_mb"]


def test_parquet_ordinary_dictionary_pages_are_read_at_any_max_doc_bytes(tmp_path, data_dir):
    """pyarrow's dictionary pages pass 1 MB: a max_doc_bytes under 256 KB quarantined whole row
    groups of small documents as DictionaryTooLarge. The same documents at every limit."""
    path = tmp_path / "ordinary.parquet"
    pq.write_table(pa.Table.from_pylist(_real_rows(data_dir, 400)), path)  # pyarrow's defaults
    column = pq.ParquetFile(path).metadata.row_group(0).column(0)
    assert column.has_dictionary_page and column.data_page_offset - column.dictionary_page_offset > MIB
    expected = read(path, "parquet")
    assert len(expected) == 400 and all(isinstance(d, dict) for d in expected)
    for limit in (MIB, 200_000, 100_000):
        assert read(path, "parquet", max_doc_bytes=limit) == expected, limit


def _real_rows(data_dir, count: int) -> list[dict]:
    rows = []
    for name in ("cc_en_head-0091.jsonl.gz", "cc_en_head-0174.jsonl.gz"):
        rows += [json.loads(line) for line in gzip.open(data_dir / "ccnet_jsonl_dolma" / name)]
    return [{"text": f"{i}: " + rows[i % len(rows)]["text"], "url": rows[i % len(rows)]["metadata"]["url"]}
            for i in range(count)]


def test_damaged_parquet_page_loses_only_its_row_group(tmp_path, data_dir):
    """64 rows in two row groups; a damaged page in the first costs its 32 rows, not the file."""
    path = tmp_path / "damaged.parquet"
    rows = _real_rows(data_dir, 64)
    pq.write_table(pa.Table.from_pylist(rows), path, row_group_size=32, use_dictionary=False)
    column = pq.ParquetFile(path).metadata.row_group(0).column(0)
    data = bytearray(path.read_bytes())
    middle = column.data_page_offset + column.total_compressed_size // 2
    data[middle:middle + 64] = b"\xff" * 64  # snappy data that cannot be decompressed
    path.write_bytes(bytes(data))

    items = read(path, "parquet")
    docs = [i for i in items if isinstance(i, dict)]
    quarantined = [i for i in items if isinstance(i, Quarantined)]
    assert [d["offset"] for d in docs] == list(range(32, 64))
    assert [d["text"] for d in docs] == [r["text"] for r in rows[32:]]
    # Each lost row is one quarantine entry at its row: the file's 64 records add up.
    assert len(items) == 64 and [q.offset for q in quarantined] == list(range(32))
    assert all(q.file == str(path) and q.error and "rows 0 to 31" in q.message for q in quarantined)


def _damage_page(path: Path, group: int) -> None:
    """Bytes in the middle of row group `group`'s first column chunk that cannot be decompressed."""
    column = pq.ParquetFile(path).metadata.row_group(group).column(0)
    data = bytearray(path.read_bytes())
    middle = column.data_page_offset + column.total_compressed_size // 2
    data[middle:middle + 64] = b"\xff" * 64
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("limit", [16 * MIB, 0, 20_000])
def test_damaged_row_group_among_small_ones(tmp_path, data_dir, limit):
    """Ten row groups of 8 rows, read in one pass: a damaged page in the sixth costs its 8 rows,
    one quarantine entry each, whatever batch it fell in; the groups around it are read whole."""
    path = tmp_path / "groups.parquet"
    rows = _real_rows(data_dir, 80)
    rows = [{**r, "text": r["text"][:2000]} for r in rows]
    pq.write_table(pa.Table.from_pylist(rows), path, row_group_size=8, use_dictionary=False)
    _damage_page(path, 5)
    items = read(path, "parquet", max_doc_bytes=limit)
    assert [(type(i).__name__, offset_of(i)) for i in items] == [
        ("Quarantined" if 40 <= row < 48 else "dict", row) for row in range(80)]
    assert [d["text"] for d in items if isinstance(d, dict)] == [r["text"] for r in rows[:40] + rows[48:]]
    assert all("rows 40 to 47, the rest of row group 5" in i.message for i in items[40:48])


def test_lost_rows_past_the_cap_share_one_entry(tmp_path, data_dir, monkeypatch):
    """A damaged footer can claim any number of rows: past _MAX_LOST_ROWS lost rows in a file, one
    entry stands for the rest of a row group."""
    from pipelines.sources import tabular

    monkeypatch.setattr(tabular, "_MAX_LOST_ROWS", 5)
    path = tmp_path / "groups.parquet"
    pq.write_table(pa.Table.from_pylist(_real_rows(data_dir, 16)), path, row_group_size=8, use_dictionary=False)
    _damage_page(path, 0)
    items = read(path, "parquet")
    assert [(type(i).__name__, offset_of(i)) for i in items] == [("Quarantined", row) for row in range(6)] + [
        ("dict", row) for row in range(8, 16)]
    assert "this entry stands for rows 5 to 7" in items[5].message


def test_parquet_row_group_size_changes_nothing(tmp_path, data_dir):
    """Row groups of any size, read in runs or one by one, with or without dictionaries, give the
    same documents and rejects at the same rows."""
    rows = [{**r, "text": r["text"][:15_000]} for r in _real_rows(data_dir, 120)]
    rows[7]["text"] = "x" * 30_000  # over the smaller limit
    table = pa.Table.from_pylist(rows)

    def outline(items):
        return [(type(i).__name__, offset_of(i), i.reason if isinstance(i, Rejected) else
                 i.error if isinstance(i, Quarantined) else i["id"] + i["text"]) for i in items]

    for limit in (16 * MIB, 20_000, 0):
        expected = None
        for size in (120, 37, 3, 1):
            for dictionary in (True, False):
                path = tmp_path / "groups.parquet"  # one name: ids follow it
                pq.write_table(table, path, row_group_size=size, use_dictionary=dictionary)
                got = outline(read(path, "parquet", max_doc_bytes=limit))
                expected = expected or got
                assert got == expected, (limit, size, dictionary)
        assert [kind for kind, _, _ in expected] == ["dict"] * 7 + ["Rejected" if limit == 20_000 else "dict"] + \
            ["dict"] * 112


def test_parquet_file_that_is_not_parquet(tmp_path):
    path = tmp_path / "junk.parquet"
    path.write_bytes(b"PAR1" + os.urandom(1000))
    [q] = read(path, "parquet")
    assert isinstance(q, Quarantined) and q.offset == 0


def test_parquet_rows_with_nested_fields_are_sized_whole(tmp_path):
    """A row's size counts every field, lists and structs included; repeated strings are read as
    dictionaries (one row can repeat an entry endlessly) and expanded only for accepted rows."""
    path = tmp_path / "nested.parquet"
    table = pa.table({"text": ["short", "short", "short"],
                      "tags": [["x"] * 3, ["y" * 1000] * 2000, None],
                      "meta": [{"k": "v"}, {"k": "w"}, {"k": "z" * 3000}]})
    pq.write_table(table, path, row_group_size=3)
    items = read(path, "parquet", max_doc_bytes=2500)
    assert [(type(i).__name__, offset_of(i)) for i in items] == [("dict", 0), ("Rejected", 1), ("Rejected", 2)]
    assert json.loads(items[0]["metadata"]) == {"tags": ["x"] * 3, "meta": {"k": "v"}}
    assert "row of 2000006 bytes" in items[1].detail and "row of 3005 bytes" in items[2].detail


# --- JSONL and text ------------------------------------------------------------------------------

def test_millions_of_identical_lines_are_each_accounted_for(tmp_path):
    """Unproductive records cost what any record costs: every line is one item, in order (the speed
    is measured by bench/bombs.py). 100k identical documents, then 100k identical bad lines."""
    line = json.dumps({"text": "the same line again " * 50}).encode() + b"\n"
    bad = b"{not json" + b"!" * (len(line) - 11) + b"\n"
    block, bad_block = gzip.compress(line * 1000, 1), gzip.compress(bad * 1000, 1)
    path = tmp_path / "same.jsonl.gz"
    with open(path, "wb") as out:  # gzip members, concatenated
        for _ in range(100):
            out.write(block)
        for _ in range(100):
            out.write(bad_block)
    n, docs, quarantined = 100_000, 0, 0
    with open(path, "rb") as raw:
        for i, item in enumerate(READERS["jsonl"](raw, FileContext("test", "jsonl", str(path), path.name))):
            if i < n:
                assert isinstance(item, dict) and item["offset"] == i * len(line)
                docs += 1
            else:
                assert isinstance(item, Quarantined) and item.offset == n * len(line) + (i - n) * len(bad)
                quarantined += 1
    assert (docs, quarantined) == (n, n)


def test_jsonl_line_bomb(tmp_path):
    """A 256 MiB line, then a good one: the big line is counted (its size reported), not held."""
    path = tmp_path / "line.jsonl.gz"
    with open(path, "wb") as out:
        out.write(gzip.compress(b'{"text": "'))
        block = gzip.compress(b"z" * (16 * MIB), 1)
        for _ in range(BOMB_MIB // 16):
            out.write(block)
        out.write(gzip.compress(b'"}\n{"text": "next"}\n'))
    result = measure(path, "jsonl")
    big, doc = result["items"]
    size = BOMB_MIB * MIB + len(b'{"text": ""}\n')
    assert big["reason"] == "too_large" and f"line of {size} bytes" in big["detail"]
    assert doc["offset"] == size and doc["text"] == "next"
    assert result["rss_mb"] < RSS_LIMIT_MB, result["rss_mb"]


def test_split_text_bomb_keeps_reading_entries(tmp_path):
    """A fortune file whose middle entries are 128 MiB of lines and a 128 MiB line: each is counted
    and rejected, the entries around them read."""
    path = tmp_path / "fortunes.txt.gz"
    lines = gzip.compress((b"x" * 1023 + b"\n") * (16 * 1024), 1)  # 16 MiB of 1 KiB lines
    one_line = gzip.compress(b"y" * (16 * MIB), 1)
    half = BOMB_MIB // 32
    with open(path, "wb") as out:
        out.write(gzip.compress(b"first entry\n%\n"))
        for _ in range(half):
            out.write(lines)
        out.write(gzip.compress(b"%\n"))
        for _ in range(half):
            out.write(one_line)
        out.write(gzip.compress(b"\n%\nlast entry\n"))
    result = measure(path, "text", split="%")
    first, lines_entry, line_entry, last = result["items"]
    assert first == {"kind": "doc", "offset": 0, "title": None, "text": "first entry"}
    assert lines_entry["reason"] == "too_large" and lines_entry["offset"] == 14
    assert f"entry of {half * 16 * MIB} bytes" in lines_entry["detail"]
    assert line_entry["reason"] == "too_large" and line_entry["offset"] == 14 + half * 16 * MIB + 2
    assert f"entry of {half * 16 * MIB + 1} bytes" in line_entry["detail"]
    assert last["text"] == "last entry" and last["offset"] == 14 + 2 * half * 16 * MIB + 2 + 1 + 2
    assert result["rss_mb"] < RSS_LIMIT_MB, result["rss_mb"]


def _latin1_fortunes() -> bytes:
    """85 KB of Latin-1 entries, the first 51 KB of them ASCII."""
    plain = "".join(f"Entry number {i}: a plain saying with nothing accented in it.\n%\n" for i in range(800))
    accented = "".join(f"Im Café {i} trinkt man Kaffee, über Straßen und Plätze.\n%\n" for i in range(600))
    return (plain + accented).encode("latin-1")


def _outline(items) -> list[tuple]:
    return [(type(i).__name__, offset_of(i), i.get("id"), i.get("text"), i.get("metadata")) if isinstance(i, dict)
            else (type(i).__name__, offset_of(i)) for i in items]


def test_split_file_larger_than_the_limit_is_decoded_as_a_whole(tmp_path):
    """The encoding of a split file over max_doc_bytes was taken from its first max_doc_bytes
    (ASCII here: UTF-8) and the rest decoded with replacements (Caf\ufffd), shifting later offsets.
    Now it is chosen from the whole file: the entries are those of the file decoded whole."""
    data = _latin1_fortunes()
    (tmp_path / "cafe").write_bytes(data)
    (tmp_path / "cafe.gz").write_bytes(gzip.compress(data))

    def read_as_cafe(name: str, limit: int) -> list:  # one location, so one set of ids
        with open(tmp_path / name, "rb") as raw:
            ctx = FileContext("test", "text", str(tmp_path / name), "cafe", {"split": "%", "max_doc_bytes": limit})
            return list(READERS["text"](raw, ctx))

    whole = read_as_cafe("cafe", 0)
    assert whole[-1]["text"] == "Im Café 599 trinkt man Kaffee, über Straßen und Plätze."
    encoding = json.loads(whole[-1]["metadata"])["encoding"]
    assert encoding in ("cp1250", "cp1252", "latin_1", "iso8859_15")  # charset detection's pick
    for name in ("cafe", "cafe.gz"):
        items = read_as_cafe(name, 40_000)
        assert _outline(items) == _outline(whole), name
        assert items[-1]["offset"] == data.rindex(b"Im Caf")


def test_split_file_with_a_bom_and_a_bad_byte_keeps_every_entry(tmp_path):
    """A BOM names the encoding but one invalid byte after it was fatal: read whole, the file was
    quarantined; read in two passes, the entries decoded ahead of the bad byte were lost with it.
    Now it is decoded with a replacement there, whichever way it is read."""
    entries = [f"entry {i} café\n" * 3 for i in range(2000)] + ["bad \ufffd byte\n", "after\n"]
    data = b"\xef\xbb\xbf" + "%\n".join(entries).encode().replace("\ufffd".encode(), b"\xff")
    path = tmp_path / "bom.txt"
    path.write_bytes(data)
    for limit in (0, 4096):  # read whole, and in two passes
        with open(path, "rb") as raw:
            items = list(READERS["text"](raw, FileContext("t", "text", str(path), "bom", {"split": "%",
                                                                                       "max_doc_bytes": limit})))
        assert all(isinstance(item, dict) for item in items), limit
        assert [item["text"] for item in items[-2:]] == ["bad \ufffd byte", "after"], limit
        assert len(items) == 2002 and json.loads(items[0]["metadata"])["encoding"] == "utf-8-sig+replace"


def test_large_split_files_read_as_decoded_whole(tmp_path, data_dir):
    """Real fortune files, and the same in legacy encodings, read with a max_doc_bytes far below
    their size: the same entries, offsets, ids, texts and encodings as decoding the file whole
    (entries over the limit rejected)."""
    fortunes = data_dir / "fortunes_multilingual"
    cases = [("de/witze", "utf-8"), ("de/witze", "cp1252"), ("es/refranes.fortunes", "latin-1"),
             ("ru/love", "cp1251"), ("ru/love", "koi8_r"), ("zh/chinese", "utf-8")]
    for name, encoding in cases:
        text = (fortunes / name).read_text()
        path = tmp_path / name.replace("/", "-")
        path.write_bytes(text.encode(encoding, errors="replace"))
        whole = read(path, "text", split="%", max_doc_bytes=0)
        items = read(path, "text", split="%", max_doc_bytes=40_000)
        assert len(items) == len(whole) > 50, name  # 59 entries in the excerpt of zh/chinese, 5,263 in the file
        for got, expected in zip(_outline(items), _outline(whole)):
            if got[0] == "Rejected":  # an entry over 40 KB
                assert got[1] == expected[1], (name, encoding)
            else:
                assert got == expected, (name, encoding)


def test_cut_split_file_keeps_the_entries_before_the_cut(tmp_path):
    data = gzip.compress(_latin1_fortunes())
    path = tmp_path / "cut.gz"
    path.write_bytes(data[:-100])
    items = read(path, "text", split="%", max_doc_bytes=40_000)
    assert all(isinstance(i, dict) for i in items[:-1]) and len(items) > 1300
    assert isinstance(items[-1], Quarantined) and items[-1].error == "EOFError"
    assert "Café" in items[-2]["text"] and json.loads(items[-2]["metadata"])["encoding"] != "utf-8+replace"


def test_text_and_html_bombs_are_read_no_further_than_the_limit(tmp_path):
    """gzip, bzip2 and zstd alike: a file that decompresses past max_doc_bytes is rejected after
    max_doc_bytes + 1 bytes, in bounded memory."""
    import zstandard

    zeros = bytes(16 * MIB)
    compress = {"gz": lambda data: gzip.compress(data, 1), "bz2": bz2.compress}
    for suffix in ("gz", "bz2", "zst"):
        for name, fmt in (("book.txt", "text"), ("page.html", "html")):
            path = tmp_path / f"{name}.{suffix}"
            if suffix == "zst":  # one frame
                compressor = zstandard.ZstdCompressor().compressobj()
                path.write_bytes(compressor.compress(b"<html>") + b"".join(
                    compressor.compress(zeros) for _ in range(BOMB_MIB // 16)) + compressor.flush())
            else:  # concatenated streams
                path.write_bytes(compress[suffix](b"<html>") + compress[suffix](zeros) * (BOMB_MIB // 16))
            result = measure(path, fmt)
            [reject] = result["items"]
            assert reject["reason"] == "too_large" and "more than 16777216 bytes" in reject["detail"], path.name
            assert result["rss_mb"] < RSS_LIMIT_MB, (path.name, result["rss_mb"])


# --- xz ------------------------------------------------------------------------------------------

def _xz(parts, preset: int = 0) -> bytes:
    compressor = lzma.LZMACompressor(lzma.FORMAT_XZ, filters=[{"id": lzma.FILTER_LZMA2, "preset": preset}])
    return b"".join(compressor.compress(part) for part in parts) + compressor.flush()


def _declare_dictionary(xz: bytes, code: int) -> bytes:
    """One xz stream of one LZMA2 block, its block header declaring dictionary size `code` (37:
    1.5 GiB) instead: a decoder allocates what is declared and fills it as it goes."""
    size = (xz[12] + 1) * 4
    header = bytearray(xz[12:12 + size])
    at = header.index(b"\x21\x01", 2) + 2  # LZMA2's filter id, its properties' size, the dictionary size
    header[at] = code
    header[-4:] = struct.pack("<I", zlib.crc32(bytes(header[:-4])))
    return xz[:12] + bytes(header) + xz[12 + size:]


def test_xz_declaring_a_huge_dictionary_is_quarantined_unread(tmp_path):
    """lzma.LZMAFile's memory followed the dictionary the file declares: 80 KB of .jsonl.xz
    declaring 1.5 GiB and holding 512 MiB took 600 MB RSS read with max_doc_bytes=1000."""
    line = b'{"text": "' + b"x" * MIB + b'"}\n'
    path = tmp_path / "dictionary.jsonl.xz"
    path.write_bytes(_declare_dictionary(_xz([line] * 512 + [b'{"text": "last"}\n']), 37))
    assert path.stat().st_size < 100_000
    result = measure(path, "jsonl", max_doc_bytes=1000)
    [quarantine] = result["items"]
    assert quarantine["error"] == "DecoderMemoryLimit" and quarantine["offset"] == 0
    assert "needs more than 128 MiB" in quarantine["message"]
    assert result["rss_mb"] < RSS_LIMIT_MB, result["rss_mb"]


def test_xz_reads_as_before(tmp_path, data_dir):
    """Within the decoder limit (xz -9 and below): the documents of the same file gzipped, streams
    concatenated with zero padding between them; a cut stream or bytes after it that are not a
    stream are quarantined after the documents before them."""
    plain = gzip.decompress((data_dir / "ccnet_jsonl_dolma" / "cc_en_head-0091.jsonl.gz").read_bytes())
    (tmp_path / "docs.jsonl").write_bytes(plain)

    def strip_file(items):  # file and id follow the file's name
        return [{**i, "file": None, "id": None} if isinstance(i, dict) else i for i in items]

    expected = strip_file(read(tmp_path / "docs.jsonl", "jsonl"))
    half = plain.index(b"\n", len(plain) // 2) + 1
    variants = {"whole": lzma.compress(plain, preset=9),
                "streams": lzma.compress(plain[:half]) + bytes(8) + lzma.compress(plain[half:]) + bytes(4)}
    for name, data in variants.items():
        (tmp_path / name).mkdir()
        (tmp_path / name / "docs.jsonl.xz").write_bytes(data)
        assert strip_file(read(tmp_path / name / "docs.jsonl.xz", "jsonl")) == expected, name
    whole = variants["whole"]
    for name, data, error in (("cut", whole[:len(whole) // 2], "TruncatedInput"),
                              ("garbage", lzma.compress(plain[:half]) + b"not xz" * 10, "LZMAError")):
        (tmp_path / name).mkdir()
        (tmp_path / name / "docs.jsonl.xz").write_bytes(data)
        items = read(tmp_path / name / "docs.jsonl.xz", "jsonl")
        assert strip_file(items[:-1]) == expected[:len(items) - 1] and len(items) > 1, name
        assert isinstance(items[-1], Quarantined) and items[-1].error == error, name
    assert len(items) == plain[:half].count(b"\n") + 1
