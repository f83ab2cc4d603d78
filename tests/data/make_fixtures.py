"""Make tests/data, the compact fixture set, from the shared data folder: excerpts of the parts the
tests read, at the same relative paths, so `make test` runs on a clone with nothing beside it.

    python tests/data/make_fixtures.py                      # ../shared/data -> tests/data
    python tests/data/make_fixtures.py --check              # the committed files are what it makes
    python tests/data/make_fixtures.py --source DIR --output DIR

Deterministic: the same shared data gives the same bytes (gzip members without a time stamp or a
name, zip entries with the original dates, bz2 as is). README.md beside this file says what each
excerpt is, where it comes from, its licence, and how it was cut; keep the two in step.
"""

import argparse
import bz2
import filecmp
import gzip
import hashlib
import html
import io
import re
import shutil
import sys
import tempfile
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEFAULT_SOURCE = HERE.parent.parent.parent / "shared" / "data"
sys.path.insert(0, str(HERE.parent.parent))  # the repository: pipelines.sources renders wikitext
KEEP = {"README.md", "make_fixtures.py", "__pycache__"}  # hand-written: never made or removed by this script


# --- helpers ---------------------------------------------------------------------------------------

def gz(data: bytes) -> bytes:
    """gzip without a file name or a time stamp: the same bytes in, the same bytes out."""
    return gzip.compress(data, compresslevel=9, mtime=0)


def warc_records(path: Path) -> list[tuple[str, str | None, bytes]]:
    """(WARC-Type, WARC-Target-URI, the record's gzip member as it is in the file) for each record."""
    from warcio.archiveiterator import ArchiveIterator

    data = path.read_bytes()
    records = []
    with open(path, "rb") as fh:
        iterator = ArchiveIterator(fh)
        for record in iterator:
            kind, uri = record.rec_type, record.rec_headers.get_header("WARC-Target-URI")
            iterator.read_to_end(record)
            start, length = iterator.get_record_offset(), iterator.get_record_length()
            records.append((kind, uri, data[start:start + length]))
    assert sum(len(r[2]) for r in records) <= len(data)
    return records


def split_entries(raw: bytes, limit: int) -> bytes:
    """The whole `%`-separated fortune entries that fit in the first `limit` bytes (at least one)."""
    cut = raw.rfind(b"\n%\n", 0, limit)
    return raw if len(raw) <= limit or cut < 0 else raw[:cut + 3]


# --- one function per folder: (source folder, output folder) ---------------------------------------

def cc_warc_2020_34_resiliparse(src: Path, out: Path) -> None:
    """warcinfo and the first 10 captures (request, response, metadata), gzip members copied as they are."""
    records = warc_records(src / "warcfile.warc.gz")
    kept, responses = [records[0]], 0
    for record in records[1:]:
        if record[0] == "request" and responses == 10:
            break
        responses += record[0] == "response"
        kept.append(record)
    assert kept[0][0] == "warcinfo" and responses == 10
    (out / "warcfile.warc.gz").write_bytes(b"".join(r[2] for r in kept))


def web_warc_dolma_wget(src: Path, out: Path) -> None:
    """warcinfo, the first 10 request/response pairs, and wget's closing metadata and resource records."""
    records = warc_records(src / "sample-0000.warc.gz")
    pairs = [r for r in records if r[0] in ("request", "response")]
    closing = [r for r in records if r[0] in ("metadata", "resource")]
    assert records[0][0] == "warcinfo" and [r[0] for r in pairs[:20]] == ["request", "response"] * 10
    (out / "sample-0000.warc.gz").write_bytes(b"".join(r[2] for r in [records[0]] + pairs[:20] + closing))


def cc_whirlwind_warc_wet_wat(src: Path, out: Path) -> None:
    """The page as WARC and as WET, unchanged (20 KB, one page); the WAT file is left out."""
    for name in ("whirlwind.warc.gz", "whirlwind.warc.wet.gz"):
        shutil.copyfile(src / name, out / name)


def wet_ccnet_test_sample(src: Path, out: Path) -> None:
    """cc_net's 3 KB test file (three hand-made records), unchanged: there is nothing to cut."""
    shutil.copyfile(src / "sample.warc.txt", out / "sample.warc.txt")


def ccnet_jsonl_dolma(src: Path, out: Path) -> None:
    """The first 6 documents (lines) of each file, re-gzipped."""
    for name in ("cc_en_head-0091.jsonl.gz", "cc_en_head-0174.jsonl.gz"):
        lines = gzip.decompress((src / name).read_bytes()).splitlines(keepends=True)
        (out / name).write_bytes(gz(b"".join(lines[:6])))


def _balanced(wikitext: str) -> bool:
    """Every template, link, table, reference and comment opened in `wikitext` is closed in it."""
    pairs = (("{{", "}}"), ("[[", "]]"), ("<!--", "-->"))
    if any(wikitext.count(a) != wikitext.count(b) for a, b in pairs):
        return False
    tables = [line.lstrip()[:2] for line in wikitext.splitlines() if line.lstrip()[:2] in ("{|", "|}")]
    opened = len(re.findall(r"<ref\b[^>]*(?<!/)>", wikitext))
    return tables.count("{|") == tables.count("|}") and opened == wikitext.count("</ref>")


def _cut_wikitext(escaped: bytes, keep: int) -> bytes:
    """The longest run of whole paragraphs, at most `keep` bytes long where possible, that leaves no
    markup open (or failing that renders without markup) and renders to 100 words or more: the
    XML-escaped text of one revision in, the same escaped text cut short out."""
    from pipelines.sources.wikipedia import wikitext_to_text

    if len(escaped) <= keep:
        return escaped
    ends = [m.start() for m in re.finditer(rb"\n\n", escaped)]
    fits = [e for e in ends if e <= keep][::-1] + [e for e in ends if e > keep]

    def wikitext(end: int) -> str:
        return html.unescape(escaped[:end].decode("utf-8"))

    def prose(text: str) -> bool:  # an infobox alone renders to nothing
        return len(text.split()) >= 100

    for end in fits:
        if _balanced(wikitext(end)) and prose(wikitext_to_text(wikitext(end))):
            return escaped[:end]
    # Markup the page itself leaves open somewhere (a <ref> never closed): a cut that renders clean.
    for end in fits:
        text = wikitext_to_text(wikitext(end))
        if prose(text) and not any(markup in text for markup in ("{{", "}}", "[[", "]]", "<ref", "{|", "|}")):
            return escaped[:end]
    return escaped


def enwiki_xml_dump_sample(src: Path, out: Path) -> None:
    """Every page (206, 100 redirects), each article's wikitext cut to its first paragraphs (about 5 KB)."""
    name = "enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2"
    xml = bz2.decompress((src / name).read_bytes())
    parts, pos = [], 0
    for match in re.finditer(rb'<text xml:space="preserve">(.*?)</text>', xml, re.S):
        parts += [xml[pos:match.start(1)], _cut_wikitext(match.group(1), 5000)]
        pos = match.end(1)
    parts.append(xml[pos:])
    (out / name).write_bytes(bz2.compress(b"".join(parts), 9))


def _gutenberg(raw: bytes, head_bytes: int, tail_bytes: int) -> bytes:
    """The Project Gutenberg header, the book's first `head_bytes` and last `tail_bytes` (whole
    paragraphs), then the footer with the licence, all as in the file (CRLF, BOM)."""
    start = raw.index(b"\r\n", raw.index(b"*** START OF")) + 2
    end = raw.rindex(b"\r\n", 0, raw.index(b"*** END OF")) + 2
    head = raw.index(b"\r\n\r\n", start + head_bytes) + 4
    tail = raw.rindex(b"\r\n\r\n", start, end - tail_bytes) + 4
    assert start < head < tail < end
    return raw[:head] + raw[tail:]


def gutenberg_en(src: Path, out: Path) -> None:
    """Each book cut short: header, opening chapters, the last paragraphs, footer. The HTML book: up
    to the end of chapter I, then its last paragraphs and footer."""
    for name, head in (("11-0.txt", 56_000), ("84-0.txt", 108_000), ("1342-0.txt", 50_000)):
        (out / name).write_bytes(_gutenberg((src / name).read_bytes(), head, 1500))
    raw = (src / "11-h.htm").read_bytes()
    cut = raw.rindex(b"<p>", 0, raw.index(b'<a name="link2HCH0002"'))
    resume = raw.rindex(b"<p>", 0, raw.index(b"Lastly, she pictured to herself"))
    (out / "11-h.htm").write_bytes(raw[:cut] + raw[resume:])


_UDHR = ("eng", "deu", "fra", "spa", "rus", "arb", "heb", "hin", "tha", "vie", "cmn_hans", "cmn_hant", "jpn", "kor")


def udhr2_unicode(src: Path, out: Path) -> None:
    """14 of the 388 languages, the files whole, re-zipped with their dates; the index entry as is."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(src / "udhr2.zip") as source, zipfile.ZipFile(buffer, "w") as target:
        wanted = {"udhr2/"} | {f"udhr2/{lang}.txt" for lang in _UDHR}
        for info in source.infolist():
            if info.filename in wanted:
                copy = zipfile.ZipInfo(info.filename, info.date_time)
                copy.external_attr, copy.create_system = info.external_attr, 3
                copy.compress_type = zipfile.ZIP_STORED if info.is_dir() else zipfile.ZIP_DEFLATED
                target.writestr(copy, source.read(info), compresslevel=9)
        assert len(target.infolist()) == len(wanted)
    (out / "udhr2.zip").write_bytes(buffer.getvalue())
    shutil.copyfile(src / "udhr2.xml", out / "udhr2.xml")


# (file, bytes kept: None for the whole file)
_FORTUNES = (("zh/chinese", 100_000), ("zh/COPYRIGHT.debian", None), ("ru/love", 64_000), ("ru/2001.03", None),
             ("ru/COPYRIGHT.debian", None), ("de/witze", 64_000), ("de/anekdoten", None), ("de/bahnhof", None),
             ("de/COPYRIGHT.debian", None), ("es/refranes.fortunes", 64_000), ("es/amistad.fortunes", None),
             ("es/COPYRIGHT.debian", None))


def fortunes_multilingual(src: Path, out: Path) -> None:
    """8 of the 181 fortune files (the big ones cut to their first whole entries), and each language's
    copyright file."""
    for name, limit in _FORTUNES:
        raw = (src / name).read_bytes()
        (out / name).parent.mkdir(parents=True, exist_ok=True)
        (out / name).write_bytes(raw if limit is None else split_entries(raw, limit))


_CONTAINERS = {f"{{http://www.w3.org/1999/xhtml}}{tag}" for tag in ("div", "dl", "dd", "ul", "ol", "table", "tbody")}


def _prune(element, budget: int) -> None:
    """Keep `element`'s children, in order, while they fit in `budget` bytes (as serialised); the first
    that does not fit is pruned the same way inside if it is a container (a section, a list, a table:
    whole paragraphs, items and rows stay whole) or else dropped, and the rest go. The white space
    before the element's end tag stays."""
    from lxml import etree

    used, children = len((element.text or "").encode()), list(element)
    for i, child in enumerate(children):
        size = len(etree.tostring(child, encoding="utf-8"))
        if used + size <= budget:
            used += size
            continue
        closing = children[-1].tail
        for later in children[i + 1:]:
            element.remove(later)
        if child.tag in _CONTAINERS and len(child):
            _prune(child, budget - used)
            child.tail = closing
        else:
            element.remove(child)
            if i:
                children[i - 1].tail = closing
            else:
                element.text = closing if (element.text or "").isspace() else element.text
        return


def _cut_page(raw: bytes, budget: int) -> bytes:
    """A DocBook XHTML page with its navigation header and footer, its main part pruned to about
    `budget` bytes; serialised by lxml, which gives these pages back byte for byte when nothing is cut."""
    from lxml import etree

    root = etree.fromstring(raw)
    body = root.find("{http://www.w3.org/1999/xhtml}body")
    [main] = [d for d in body if d.get("class") not in ("navheader", "navfooter")]
    _prune(main, budget)
    declaration = raw[:raw.index(b"\n") + 1]  # lxml would quote it with '
    return declaration + etree.tostring(root.getroottree(), encoding="utf-8") + b"\n"


_PAGES = tuple(f"en/{n}.en.html" for n in ("index", "pr01", *(f"ch{i:02d}" for i in range(1, 13)), "apa")) \
    + tuple(f"ja/ch{i:02d}.ja.html" for i in range(1, 10)) + ("fr/ch01.fr.html",)


def debian_reference_html(src: Path, out: Path) -> None:
    """The 15 English pages (main part cut to about 32 KB: enough notes and tips for the boilerplate
    test), the Japanese chapters 1 to 9 and the French chapter 1 (about 12 KB); the copyright file."""
    from lxml import etree

    for name in _PAGES:
        raw = (src / name).read_bytes()
        whole = etree.fromstring(raw)
        assert raw[:raw.index(b"\n") + 1] + etree.tostring(whole.getroottree(), encoding="utf-8") + b"\n" == raw
        (out / name).parent.mkdir(parents=True, exist_ok=True)
        (out / name).write_bytes(_cut_page(raw, 32_000 if name.startswith("en/") else 12_000))
    shutil.copyfile(src / "COPYRIGHT.debian", out / "COPYRIGHT.debian")


def ldnoobw(src: Path, out: Path) -> None:
    """The lists of the languages the fixtures and tests hold, whole."""
    for lang in ("en", "de", "fr", "es", "nl", "ru", "zh", "ja", "tlh"):
        shutil.copyfile(src / lang, out / lang)


def easylist_url_blocklist(src: Path, out: Path) -> None:
    """The header, the first 100 rules of easylist_general_block.txt, and the rules of
    easylist_adservers.txt for domains that start with d (doubleclick.net among them), re-gzipped."""
    lines = gzip.decompress((src / "easylist.txt.gz").read_bytes()).splitlines(keepends=True)
    marks = [i for i, line in enumerate(lines) if line.startswith(b"! *** easylist:")]
    sections = {lines[i].split()[2]: (i, marks[k + 1] if k + 1 < len(marks) else len(lines))
                for k, i in enumerate(marks)}
    header = lines[:sections[b"easylist:easylist/easylist_general_block.txt"][0]]
    general_start, _ = sections[b"easylist:easylist/easylist_general_block.txt"]
    ads_start, ads_end = sections[b"easylist:easylist/easylist_adservers.txt"]
    ads = [line for line in lines[ads_start + 1:ads_end] if line.startswith(b"||d")]
    assert b"||doubleclick.net^\n" in ads
    kept = header + lines[general_start:general_start + 101] + [lines[ads_start]] + ads
    (out / "easylist.txt.gz").write_bytes(gz(b"".join(kept)))


def wikitext2(src: Path, out: Path) -> None:
    """The first whole lines of test.txt, up to 64 KB, and the README."""
    raw = (src / "test.txt").read_bytes()
    (out / "test.txt").write_bytes(raw[:raw.rindex(b"\n", 0, 64_000) + 1])
    shutil.copyfile(src / "README", out / "README")


def dclm_human_quality_labels(src: Path, out: Path) -> None:
    """The first 60 of the 281 labelled documents (lines, unchanged)."""
    lines = (src / "agreement_data.jsonl").read_bytes().splitlines(keepends=True)
    (out / "agreement_data.jsonl").write_bytes(b"".join(lines[:60]))


def plagiarism_short_answers_clough_stevenson(src: Path, out: Path) -> None:
    """Task a: the 19 answers, the source text, and their rows of file_information.csv."""
    lines = (src / "file_information.csv").read_bytes().splitlines(keepends=True)
    rows = [line for line in lines[1:] if b",a," in line]
    (out / "file_information.csv").write_bytes(lines[0] + b"".join(rows))
    for row in rows:
        name = row.split(b",")[0].decode()
        shutil.copyfile(src / name, out / name)
    shutil.copyfile(src / "orig_taska.txt", out / "orig_taska.txt")


# Real pages whose main text an extractor setting lost (tests/test_extraction_quality.py): a Squarespace
# blog post whose <article> carries `has-comments`, forum threads, a product page; a blog post whose
# body the markup names (entry-content), a shop collection behind a pop-up.
WEB_PAGES = ("https://omalleytunstall.com/blog//legal-issues-related-to-getting-hurt-at-a-gym-in-north-carolina/",
             "https://www.anthropologie.com/collection-decorative-candles",
             "https://www.azurefarmlife.com/farm-blog/herbs-and-flowers-for-organic-pest-control-in-the-garden",
             "https://community.ricksteves.com/travel-forum/beyond-europe/first-trip-to-japan",
             "https://woodworkingmasterclasses.com/discussions/topic/starting-projects-of-an-absolute-beginner/",
             "https://pcpartpicker.com/product/FLRzK8/amd-ryzen-7-7800x3d-42-ghz-8-core-processor-100-100000910wof",
             "https://serverfault.com/questions/2888/why-is-raid-not-a-backup",
             "https://electronics.stackexchange.com/questions/429163/how-does-residential-electricity-work",
             "https://gamefaqs.gamespot.com/boards/189706-nintendo-switch/80702016",
             "https://www.webhostingtalk.com/showthread.php?t=1930933",
             "https://en.wikipedia.org/wiki/List_of_programming_languages",
             "https://www.bbc.com/news/technology",
             "https://www.sitanchen.com/cs224/f23/index.html",
             "https://somerhaus.space/event-and-wedding-planning-resources/wedding-planning-checklist/")


def web_pages_raw(src: Path, out: Path) -> None:
    import json

    records = warc_records(src / "wcxb_dev_sample.warc.gz")
    kept = [records[0]] + [r for r in records if r[0] == "response" and r[1] in WEB_PAGES]
    assert len(kept) == 1 + len(WEB_PAGES)
    (out / "wcxb_dev_sample.warc.gz").write_bytes(b"".join(r[2] for r in kept))
    with gzip.open(src / "ground_truth_wcxb_dev.json.gz", "rt", encoding="utf-8") as f:
        truth = json.load(f)
    chosen = {url: truth[url] for url in WEB_PAGES}
    (out / "ground_truth_wcxb_dev.json.gz").write_bytes(gz(json.dumps(chosen, indent=1, ensure_ascii=False).encode()))
    lines = (src / "index.jsonl").read_bytes().splitlines(keepends=True)
    (out / "index.jsonl").write_bytes(b"".join(line for line in lines if json.loads(line)["url"] in WEB_PAGES))


FOLDERS = (cc_warc_2020_34_resiliparse, web_warc_dolma_wget, cc_whirlwind_warc_wet_wat, wet_ccnet_test_sample,
           ccnet_jsonl_dolma, enwiki_xml_dump_sample, gutenberg_en, udhr2_unicode, fortunes_multilingual,
           debian_reference_html, ldnoobw, easylist_url_blocklist, wikitext2, plagiarism_short_answers_clough_stevenson,
           dclm_human_quality_labels, web_pages_raw)


def make(source: Path, output: Path) -> None:
    for path in sorted(output.iterdir()) if output.exists() else ():
        if path.name not in KEEP:
            shutil.rmtree(path) if path.is_dir() else path.unlink()
    for folder in FOLDERS:
        (output / folder.__name__).mkdir(parents=True)
        folder(source / folder.__name__, output / folder.__name__)
    (output / SUMS).write_text(checksums(output))


SUMS = "SHA256SUMS"  # of every excerpt, so a clone without the shared data can check them too


def checksums(root: Path) -> str:
    """`sha256  path` for every excerpt under root (sha256sum's format), sorted by path."""
    files = sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file() and "__pycache__" not in p.parts)
    return "".join(f"{hashlib.sha256((root / f).read_bytes()).hexdigest()}  {f}\n"
                   for f in files if f not in KEEP and f != SUMS)


def differences(a: Path, b: Path) -> list[str]:
    files = {str(p.relative_to(root)) for root in (a, b) for p in root.rglob("*") if p.is_file()} - KEEP
    return sorted(f for f in files if not ((a / f).is_file() and (b / f).is_file() and
                                           filecmp.cmp(a / f, b / f, shallow=False)))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--source", type=Path, default=DEFAULT_SOURCE, help="the shared data folder")
    parser.add_argument("--output", type=Path, default=HERE, help="where the fixtures go")
    parser.add_argument("--check", action="store_true", help="make them in a temporary folder and compare")
    args = parser.parse_args(argv)
    if not (args.source / "SOURCES.md").exists():
        parser.error(f"{args.source} is not the shared data folder (no SOURCES.md)")
    if not args.check:
        make(args.source, args.output)
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        make(args.source, Path(tmp))
        changed = differences(Path(tmp), args.output)
    for name in changed:
        print(f"differs from what make_fixtures.py makes: {name}", file=sys.stderr)
    return 1 if changed else 0


if __name__ == "__main__":
    sys.exit(main())
