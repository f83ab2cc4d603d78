"""MediaWiki XML dumps (.xml, .xml.bz2): one document per article, wikitext rendered to plain text.

Parsed in a stream with expat, which reports the byte offset of every <page> and detects UTF-16
input from its byte-order mark. Redirects and pages outside the article namespace are rejected at
read time with their own reasons, so every page is accounted for.

Memory is bounded by `max_doc_bytes` whatever the page: text beyond it is counted, not held, and
the page is rejected `too_large` with its size; a single tag, attribute or comment bigger than that
(which expat would hold whole) or absurd nesting stops the file with a quarantine entry.
"""

import re
import urllib.parse
import xml.parsers.expat

import mwparserfromhell
from mwparserfromhell.nodes import ExternalLink, Heading, Tag, Wikilink

from pipelines.records import FileContext
from pipelines.sources.streams import decompressed

_CHUNK = 1 << 20
# Tags whose contents are not running text: footnotes, tables, galleries, formulas, data.
_DROP_TAGS = frozenset({"ref", "table", "references", "gallery", "math", "chem", "ce", "timeline", "imagemap",
                        "score", "graph", "templatedata", "mapframe", "maplink", "syntaxhighlight",
                        "source", "inputbox", "categorytree", "section", "noinclude"})
# Link namespaces that are media or bookkeeping, not text.
_DROP_LINK_NAMESPACES = frozenset({"file", "image", "category", "media"})
_REFS = re.compile(r"<ref\b[^>/]*/>|<ref\b[^>]*>.*?</ref\s*>", re.DOTALL | re.IGNORECASE)
_PAGE_FIELDS = {("page", "title"): "title", ("page", "ns"): "ns", ("page", "id"): "page_id",
                ("revision", "id"): "revision_id", ("revision", "timestamp"): "timestamp",
                ("revision", "text"): "wikitext", ("revision", "model"): "model",
                ("siteinfo", "base"): "base", ("siteinfo", "dbname"): "dbname"}


def _is_dropped_link(link: Wikilink) -> bool:
    title = str(link.title).strip()
    prefix, sep, _ = title.partition(":")
    if not sep or title.startswith(":"):
        return False
    prefix = prefix.strip().lower()
    # Interlanguage links ([[de:Anarchismus]]) carry no text of this article.
    return prefix in _DROP_LINK_NAMESPACES or (2 <= len(prefix) <= 3 and prefix.isalpha())


def _strip(code) -> str:
    """mwparserfromhell's strip_code, minus footnotes, media and category links, in one pass."""
    parts = []
    for node in code.nodes:
        if isinstance(node, Tag):
            if str(node.tag).strip().lower() in _DROP_TAGS:
                continue
            if node.contents is not None and not node.self_closing:
                parts.append(_strip(node.contents))
            elif str(node.tag).strip().lower() == "br":
                parts.append("\n")
        elif isinstance(node, Wikilink):
            if not _is_dropped_link(node):
                parts.append(_strip(node.text if node.text is not None else node.title))
        elif isinstance(node, Heading):
            parts.append(_strip(node.title).strip())
        elif isinstance(node, ExternalLink):
            if node.title is not None:  # the link's display text; bare URLs are dropped
                parts.append(_strip(node.title))
        else:
            stripped = node.__strip__(normalize=True, collapse=True, keep_template_params=False)
            if stripped:
                parts.append(str(stripped))
    return "".join(parts)


def wikitext_to_text(wikitext: str) -> str:
    # Footnotes go before parsing: unbalanced '' inside a <ref> makes the parser read the tag as text.
    wikitext = _REFS.sub("", wikitext)
    text = _strip(mwparserfromhell.parse(wikitext)).strip("\n")
    while "\n\n\n" in text:
        text = text.replace("\n\n\n", "\n\n")
    return text


class XmlTooLarge(ValueError):
    """A construct the reader cannot stream through within its memory bound."""


# MediaWiki dumps nest five deep; expat keeps every open element, so depth is bounded.
_MAX_DEPTH = 256


def _utf8_size(text: str) -> int:
    return len(text) if text.isascii() else len(text.encode("utf-8", "surrogatepass"))


class _DumpParser:
    """Collects pages from expat callbacks; `pages` fills up as bytes are fed.

    The fields of one page (or of <siteinfo>) hold at most `limit` bytes of text together (0: no
    limit): past it, the page is marked `too_large` and its text is only counted.
    """

    def __init__(self, limit: int = 0):
        self.parser = xml.parsers.expat.ParserCreate()
        self.parser.buffer_text = True
        self.parser.buffer_size = 1 << 16  # fewer callbacks through multi-gigabyte text
        self.parser.StartElementHandler = self._start
        self.parser.EndElementHandler = self._end
        self.parser.CharacterDataHandler = self._chars
        self.parser.StartCdataSectionHandler = lambda: setattr(self, "_in_cdata", True)
        self.parser.EndCdataSectionHandler = lambda: setattr(self, "_in_cdata", False)
        self.limit = limit
        self.skipped = 0  # bytes of over-limit text passed over without expat (see skip)
        self.ascii_compatible = False  # set by the reader from the first bytes
        self.stack: list[str] = []
        self.site: dict = {}
        self.page: dict | None = None
        self.pages: list[dict] = []
        self._field: str | None = None
        self._buf: list[str] = []
        self._bytes = 0  # text bytes of the current page's (or siteinfo's) fields, held or not
        self._in_cdata = False

    def _start(self, name, attrs):
        parent = self.stack[-1] if self.stack else ""
        if len(self.stack) >= _MAX_DEPTH:
            raise XmlTooLarge(f"elements nested more than {_MAX_DEPTH} deep")
        self.stack.append(name)
        if name == "page":
            self.page = {"offset": self.offset()}
            self._bytes = 0
        elif name == "siteinfo":
            self._bytes = 0
        elif name == "redirect" and self.page is not None:
            self.page["redirect"] = attrs.get("title", "")
        field = _PAGE_FIELDS.get((parent, name))
        if field and (self.page is not None or parent == "siteinfo") and field not in (self.page or self.site):
            self._field, self._buf = field, []

    def _chars(self, data):
        if self._field:
            self._bytes += _utf8_size(data)
            if self.limit and self._bytes > self.limit:
                self._buf = []  # counted from here on, not held
                if self.page is not None:
                    self.page["too_large"] = self._bytes
            else:
                self._buf.append(data)

    def _end(self, name):
        self.stack.pop()
        if self._field and _PAGE_FIELDS.get((self.stack[-1] if self.stack else "", name)) == self._field:
            target = self.page if self.page is not None else self.site
            if not (self.limit and self._bytes > self.limit):
                target[self._field] = "".join(self._buf)
            self._field, self._buf = None, []
        if name == "page" and self.page is not None:
            if "too_large" in self.page:
                self.page["too_large"] = self._bytes
                self.page.pop("wikitext", None)
            self.pages.append(self.page)
            self.page = None

    def offset(self) -> int:
        """The byte offset in the file of expat's current event."""
        return max(self.parser.CurrentByteIndex, 0) + self.skipped

    def held_bytes(self, fed: int) -> int:
        """Bytes fed that expat has not got through: an unfinished tag, attribute or comment."""
        return fed - max(self.parser.CurrentByteIndex, 0)

    def skip(self, chunk: bytes, fed: int) -> int:
        """How many leading bytes of `chunk` expat need not see: in the text of a field already over
        the limit, everything up to the next '<' is character data to count, and expat (a few
        hundred MB/s) would be the slowest step through gigabytes of it. Only between tokens (expat
        holds nothing), outside CDATA, and in an encoding where b'<' is always '<'."""
        if not (self._field and self.limit and self._bytes > self.limit and self.ascii_compatible
                and not self._in_cdata and self.held_bytes(fed) == 0):
            return 0
        cut = chunk.find(b"<")
        n = len(chunk) if cut < 0 else cut
        self._bytes += n
        self.skipped += n
        return n


def _page_url(base: str | None, title: str) -> str | None:
    if not base or "/wiki/" not in base:
        return None
    prefix = base.split("/wiki/")[0] + "/wiki/"
    return prefix + urllib.parse.quote(title.replace(" ", "_"), safe="/:()_,!'*-.~")


def read_wikipedia(raw, ctx: FileContext):
    stream = decompressed(raw, ctx.file)
    limit = ctx.max_doc_bytes
    dump = _DumpParser(limit)
    fed = 0  # bytes given to expat
    while True:
        try:
            chunk = stream.read(_CHUNK)
            if not fed and not dump.skipped:  # UTF-16 and UTF-32 have a BOM or NULs up front
                dump.ascii_compatible = not chunk.startswith((b"\xff\xfe", b"\xfe\xff")) and b"\0" not in chunk[:4]
            skip = dump.skip(chunk, fed)
            if skip:
                chunk = chunk[skip:]
                if not chunk:
                    continue
            fed += len(chunk)
            dump.parser.Parse(chunk, not chunk)
            if limit and dump.held_bytes(fed) > limit + _CHUNK:
                raise XmlTooLarge(f"an XML tag, attribute or comment of more than {dump.held_bytes(fed)} "
                                  f"bytes (max_doc_bytes={limit}); reading stopped here")
        except (xml.parsers.expat.ExpatError, XmlTooLarge, EOFError, OSError) as exc:
            yield from _finish_pages(dump, ctx)
            offset = dump.page["offset"] if dump.page else dump.offset()
            yield ctx.quarantine(offset, exc, f"{type(exc).__name__}: {exc}")
            return
        yield from _finish_pages(dump, ctx)
        if not chunk:
            return


def _finish_pages(dump: _DumpParser, ctx: FileContext):
    pages, dump.pages = dump.pages, []
    for page in pages:
        title = page.get("title", "")
        metadata = {k: page[k] for k in ("page_id", "revision_id", "ns", "model") if k in page}
        if dump.site.get("dbname"):
            metadata["wiki"] = dump.site["dbname"]
        offset = page["offset"]
        wikitext = page.get("wikitext", "")
        doc_args = dict(url=_page_url(dump.site.get("base"), title), title=title, date=page.get("timestamp"),
                        metadata=metadata)
        if "too_large" in page:  # checked first: its text was not kept
            yield ctx.reject(ctx.document(offset, text="", **doc_args), "too_large",
                             f"page text of {page['too_large']} bytes > max_doc_bytes={ctx.max_doc_bytes}")
            continue
        # Rejected pages keep their raw wikitext as text: the page as read.
        if "redirect" in page:
            yield ctx.reject(ctx.document(offset, text=wikitext, **doc_args), "wiki_redirect",
                             f"redirect to {page['redirect']!r}")
            continue
        if page.get("ns", "0").strip() != "0":
            yield ctx.reject(ctx.document(offset, text=wikitext, **doc_args), "wiki_namespace",
                             f"ns={page.get('ns')}")
            continue
        try:
            text = wikitext_to_text(wikitext)
        except Exception as exc:  # a parser bug on one page must not stop the dump
            yield ctx.quarantine(offset, exc, f"wikitext parse failed on {title!r}: {exc}",
                                 sample=wikitext.encode()[:512])
            continue
        yield ctx.document(offset, text=text, **doc_args)
