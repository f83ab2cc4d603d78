"""Readers on the real corpora of the shared data folder, without Beam."""

import bz2
import gzip
import json
from collections import Counter

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from conftest import REPO
from pipelines.sources import READERS, FileContext, Quarantined, Rejected, glob_base, infer_format, relative_location
from pipelines.extraction.html import decode_html, html_to_text
from pipelines.sources.text import strip_gutenberg
from pipelines.sources.wikipedia import wikitext_to_text


def read(path, fmt, **options):
    ctx = FileContext("test", fmt, str(path), path.name, options)
    with open(path, "rb") as raw:
        return list(READERS[fmt](raw, ctx))


def kinds(items):
    return Counter("doc" if isinstance(i, dict) else type(i).__name__ for i in items)


def warc_types(path) -> Counter:
    """The file's records by WARC-Type, as warcio counts them (16 responses in the shared file)."""
    from warcio.archiveiterator import ArchiveIterator

    with open(path, "rb") as fh:
        return Counter(record.rec_type for record in ArchiveIterator(fh))


def test_warc_reads_response_records_with_offsets_that_find_them_again(data_dir):
    path = data_dir / "cc_warc_2020_34_resiliparse" / "warcfile.warc.gz"
    docs = read(path, "warc")
    types = warc_types(path)
    assert {"warcinfo", "request", "metadata"} <= set(types) and types["response"] > 5
    assert kinds(docs) == {"doc": types["response"]}  # warcinfo, requests and metadata are not documents
    assert all(d["content"] and d["url"].startswith("http") for d in docs)
    # The offset is the record's gzip member: seeking there reads the same record back.
    from warcio.archiveiterator import ArchiveIterator

    with open(path, "rb") as fh:
        fh.seek(docs[5]["offset"])
        record = next(iter(ArchiveIterator(fh)))
        assert record.rec_headers.get_header("WARC-Target-URI") == docs[5]["url"]


def test_warc_from_wget_strips_angle_brackets_and_dechunks(data_dir):
    path = data_dir / "web_warc_dolma_wget" / "sample-0000.warc.gz"
    docs = read(path, "warc")
    types = warc_types(path)
    assert {"warcinfo", "request", "metadata", "resource"} <= set(types) and types["response"] > 5
    assert kinds(docs) == {"doc": types["response"]}  # 22 in the shared file
    assert not any(d["url"].startswith("<") for d in docs)
    # Two responses use chunked transfer encoding; warcio undoes it, so the HTML starts clean.
    assert all(d["content"].lstrip()[:1] == b"<" for d in docs)


def test_wet_reader_tolerates_wrong_content_lengths(data_dir):
    # cc_net's sample WET has LF line endings and Content-Length values counted in characters.
    docs = read(data_dir / "wet_ccnet_test_sample" / "sample.warc.txt", "wet")
    assert [d["url"] for d in docs] == ["http://sample_english.com", "http://sample_chinese.zh",
                                        "http://sample_russian.ru"]
    assert docs[0]["text"].startswith("Famous Mark Twain Quotes")
    assert docs[0]["text"].endswith("Truth isn't.")
    assert "WARC" not in docs[1]["text"]


def test_wet_matches_common_crawl_extraction_of_the_same_page(data_dir):
    wet = read(data_dir / "cc_whirlwind_warc_wet_wat" / "whirlwind.warc.wet.gz", "wet")
    warc = read(data_dir / "cc_whirlwind_warc_wet_wat" / "whirlwind.warc.gz", "warc")
    assert len(wet) == len(warc) == 1 and wet[0]["url"] == warc[0]["url"]
    extracted = html_to_text(warc[0]["content"], "utf-8")["text"]
    # Both say the same thing about the Aragonese village of Escopete.
    assert "Escopete" in wet[0]["text"] and "Escopete" in extracted


def test_wikipedia_dump_pages_redirects_and_offsets(data_dir):
    path = data_dir / "enwiki_xml_dump_sample" / "enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2"
    items = read(path, "wikipedia")
    assert kinds(items) == {"doc": 106, "Rejected": 100}
    assert {r.reason for r in items if isinstance(r, Rejected)} == {"wiki_redirect"}
    docs = [d for d in items if isinstance(d, dict)]
    anarchism = docs[0]
    assert anarchism["title"] == "Anarchism"
    assert anarchism["url"] == "https://en.wikipedia.org/wiki/Anarchism"
    assert anarchism["text"].startswith("Anarchism is a political philosophy")
    for markup in ("{{", "[[", "<ref", "|}", "Category:"):
        assert markup not in anarchism["text"]
    raw = bz2.decompress(path.read_bytes())
    assert all(raw[d["offset"]:d["offset"] + 6] == b"<page>" for d in docs)


def test_wikitext_rendering():
    text = wikitext_to_text("'''Bold''' claim.<ref>A footnote</ref> See [[Paris|the capital]] and "
                            "[[File:Map.png|thumb|A map]] [[Category:Cities]] [[de:Paris]].\n== History ==\n"
                            "{{Infobox|x=1}}Founded [http://example.org long ago].")
    assert text == "Bold claim. See the capital and   .\nHistory\nFounded long ago."


def test_gutenberg_header_and_footer_are_stripped(data_dir):
    docs = read(data_dir / "gutenberg_en" / "11-0.txt", "gutenberg")
    assert len(docs) == 1
    text = docs[0]["text"]
    assert "Project Gutenberg" not in text[:2000] and "Project Gutenberg" not in text[-3000:]
    assert "Alice was beginning to get very tired" in text[:5000]
    assert text.rstrip().endswith("THE END")
    assert docs[0]["title"] == "Alice’s Adventures in Wonderland"
    assert strip_gutenberg("no markers here") is None


def test_text_with_windows_punctuation_is_decoded(data_dir):
    # Clough & Stevenson's answers mix UTF-8 and Windows-1252 files.
    docs = read(data_dir / "plagiarism_short_answers_clough_stevenson" / "g2pA_taska.txt", "text")
    assert "‘Transport’" in docs[0]["text"]
    assert json.loads(docs[0]["metadata"])["encoding"] == "cp1252"


def test_text_split_on_separator_lines(data_dir):
    path = data_dir / "fortunes_multilingual" / "de" / "anekdoten"
    raw = path.read_bytes()
    entries = [e.strip(b"\n") for e in raw.split(b"\n%\n") if e.strip()]
    docs = read(path, "text", split="%")
    assert [d["text"] for d in docs] == [e.decode("utf-8") for e in entries]
    # Offsets are byte offsets of each entry in the file.
    assert all(raw[d["offset"]:].startswith(d["text"].encode("utf-8")) for d in docs)


def test_jsonl_takes_cc_net_fields(data_dir):
    items = read(data_dir / "ccnet_jsonl_dolma" / "cc_en_head-0091.jsonl.gz", "jsonl")
    lines = gzip.decompress((data_dir / "ccnet_jsonl_dolma" / "cc_en_head-0091.jsonl.gz").read_bytes()).splitlines()
    assert kinds(items) == {"doc": len(lines)} and len(lines) > 2  # 10 in the shared file
    doc = items[0]
    assert doc["url"] == "http://100kinvesting.com/2016/11/28/first-teleconference-calls-invoice-factoring/"
    assert doc["title"].startswith("First Teleconference Calls")
    assert doc["text"]
    meta = json.loads(doc["metadata"])
    assert meta["metadata"]["language"] == "en" and "text" not in meta
    # Offsets are byte offsets of the lines in the decompressed stream.
    raw = gzip.decompress((data_dir / "ccnet_jsonl_dolma" / "cc_en_head-0091.jsonl.gz").read_bytes())
    second = items[1]["offset"]
    assert raw[second - 1:second] == b"\n" and json.loads(raw[second:].split(b"\n", 1)[0])["text"] == items[1]["text"]


def test_parquet_rows(tmp_path, data_dir):
    rows = [json.loads(line) for line in gzip.open(data_dir / "ccnet_jsonl_dolma" / "cc_en_head-0174.jsonl.gz")]
    table = pa.Table.from_pylist([{"raw_content": r["text"], "url": r["metadata"]["url"]} for r in rows])
    pq.write_table(table, tmp_path / "docs.parquet")
    docs = read(tmp_path / "docs.parquet", "parquet")
    assert [d["text"] for d in docs] == [r["text"] for r in rows]
    assert [d["offset"] for d in docs] == list(range(len(rows)))
    assert docs[0]["url"] == rows[0]["metadata"]["url"]


def test_html_charsets(data_dir):
    page = "<html><head><title>Привет</title></head><body><p>Это проверка кодировки текста.</p></body></html>"
    cp1251 = page.encode("cp1251")
    assert html_to_text(cp1251, "windows-1251")["text"] == "Это проверка кодировки текста."
    # A wrong declaration that cannot decode the bytes is distrusted.
    assert decode_html(page.encode("utf-8"), "ascii")[1] == "utf-8"
    # No declaration: the <meta> tag decides for bytes that are not UTF-8.
    meta = page.replace("<head>", '<head><meta charset="windows-1251">').encode("cp1251")
    assert html_to_text(meta)["encoding"] == "cp1251"
    # Real Chinese spam pages served as gb2312.
    docs = [d for d in read(data_dir / "cc_warc_2020_34_resiliparse" / "warcfile.warc.gz", "warc")
            if "gb2312" in (d["content_type"] or "")]
    assert docs and all("\ufffd" not in html_to_text(d["content"], "gb2312")["text"] for d in docs)


def test_format_inference_and_ids():
    assert infer_format("x/CC-MAIN-1.warc.gz") == "warc"
    assert infer_format("x/CC-MAIN-1.warc.wet.gz") == "wet"
    assert infer_format("dump.xml.bz2") == "wikipedia"
    assert infer_format("a.jsonl.zst") == "jsonl"
    assert infer_format("a.json.gz") == "jsonl"
    assert infer_format("book.txt") == "text"
    assert infer_format("page.htm") == "html"
    assert infer_format("t.parquet") == "parquet"
    with pytest.raises(ValueError):
        infer_format("image.png")
    assert glob_base("gs://b/crawl/*/x.warc.gz") == "gs://b/crawl/"
    assert glob_base("/d/books/*.txt") == "/d/books/"
    assert relative_location("/d/books/a/b.txt", "/d/books/") == "a/b.txt"
    # Ids depend on the source name and the path under the glob, not on where the data lives.
    a = FileContext("s", "text", "/mnt/x/books/a.txt", "a.txt").document(0, text="t")
    b = FileContext("s", "text", "gs://bucket/books/a.txt", "a.txt").document(0, text="t")
    assert a["id"] == b["id"] and len(a["id"]) == 32
    assert FileContext("s", "text", "f", "a.txt").document(1, text="t")["id"] != a["id"]


def test_zstd_jsonl_and_its_truncation(tmp_path):
    import zstandard

    lines = b"".join(json.dumps({"text": f"document number {i}"}).encode() + b"\n" for i in range(20000))
    data = zstandard.ZstdCompressor().compress(lines)
    (tmp_path / "ok.jsonl.zst").write_bytes(data)
    (tmp_path / "cut.jsonl.zst").write_bytes(data[: len(data) // 2])
    assert kinds(read(tmp_path / "ok.jsonl.zst", "jsonl")) == {"doc": 20000}
    cut = read(tmp_path / "cut.jsonl.zst", "jsonl")
    assert isinstance(cut[-1], Quarantined) and cut[-1].error == "TruncatedInput"
    assert 0 < kinds(cut)["doc"] < 20000


# The ids of the first three documents of ccnet_jsonl_dolma/cc_en_head-0091.jsonl.gz read as source "test":
# the same in the shared data and in tests/data (an excerpt: the file's first lines).
FIRST_IDS = ["4558a48b0327f13f5b1782ee1506f678", "577df1bb7642fd568831e915a98bad4c", "91930e446f78e867e83d2054a276d4e9"]


def test_read_ids_are_stable(data_dir):
    """A document's id is XXH3-128 of source, location and the record's byte offset: fixed values (earlier
    runs' shards and dedup indexes hold them), the same from a fresh interpreter with another hash seed,
    and each offset the start of its line in the decompressed file."""
    import os
    import subprocess
    import sys

    import xxhash

    path = data_dir / "ccnet_jsonl_dolma" / "cc_en_head-0091.jsonl.gz"
    docs = read(path, "jsonl")
    ids = [d["id"] for d in docs]
    assert ids[:3] == FIRST_IDS and len(set(ids)) == len(ids) >= 6
    raw = gzip.decompress(path.read_bytes())
    for d in docs:
        assert d["offset"] == 0 or raw[d["offset"] - 1:d["offset"]] == b"\n"
        assert json.loads(raw[d["offset"]:].split(b"\n", 1)[0])["text"] == d["text"]
        assert d["id"] == xxhash.xxh3_128_hexdigest(f"test\x00{path.name}\x00{d['offset']}".encode())
    code = ("import json, sys; from pathlib import Path; from pipelines.sources import READERS, FileContext; "
            "p = Path(sys.argv[1]); raw = open(p, 'rb'); "
            "print(json.dumps([d['id'] for d in READERS['jsonl'](raw, FileContext('test', 'jsonl', str(p), p.name))]))")
    for seed in ("0", "4242"):
        other = subprocess.run([sys.executable, "-c", code, str(path)], cwd=REPO, capture_output=True, text=True,
                               env={**os.environ, "PYTHONHASHSEED": seed}, check=True)
        assert json.loads(other.stdout) == ids, other.stderr[-2000:]


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "utf-16"])
def test_split_offsets_are_byte_offsets_in_any_encoding(tmp_path, encoding):
    entries = ["première entrée\nsur deux lignes", "deuxième", "troisième « entrée »"]
    path = tmp_path / "fortunes"
    path.write_bytes(("\n%\n".join(entries) + "\n").encode(encoding))
    docs = read(path, "text", split="%")
    assert [d["text"] for d in docs] == entries
    raw = path.read_bytes()
    codec = {"utf-8-sig": "utf-8", "utf-16": "utf-16-le"}.get(encoding, encoding)
    assert all(raw[d["offset"]:].startswith(d["text"].encode(codec)) for d in docs)
