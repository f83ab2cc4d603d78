"""MediaWiki XML dumps (.xml, .xml.bz2): one document per article, wikitext rendered to plain text.

Parsed in a stream with expat, which reports the byte offset of every <page> and detects UTF-16
input from its byte-order mark. Redirects and pages outside the article namespace are rejected at
read time with their own reasons, so every page is accounted for.
"""

import re
import urllib.parse
import xml.parsers.expat

import mwparserfromhell
from mwparserfromhell.nodes import ExternalLink, Heading, Tag, Wikilink

from pipelines.sources.records import FileContext
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


class _DumpParser:
    """Collects pages from expat callbacks; `pages` fills up as bytes are fed."""

    def __init__(self):
        self.parser = xml.parsers.expat.ParserCreate()
        self.parser.buffer_text = True
        self.parser.StartElementHandler = self._start
        self.parser.EndElementHandler = self._end
        self.parser.CharacterDataHandler = self._chars
        self.stack: list[str] = []
        self.site: dict = {}
        self.page: dict | None = None
        self.pages: list[dict] = []
        self._field: str | None = None
        self._buf: list[str] = []

    def _start(self, name, attrs):
        parent = self.stack[-1] if self.stack else ""
        self.stack.append(name)
        if name == "page":
            self.page = {"offset": self.parser.CurrentByteIndex}
        elif name == "redirect" and self.page is not None:
            self.page["redirect"] = attrs.get("title", "")
        field = _PAGE_FIELDS.get((parent, name))
        if field and (self.page is not None or parent == "siteinfo") and field not in (self.page or self.site):
            self._field, self._buf = field, []

    def _chars(self, data):
        if self._field:
            self._buf.append(data)

    def _end(self, name):
        self.stack.pop()
        if self._field and _PAGE_FIELDS.get((self.stack[-1] if self.stack else "", name)) == self._field:
            target = self.page if self.page is not None else self.site
            target[self._field] = "".join(self._buf)
            self._field = None
        if name == "page" and self.page is not None:
            self.pages.append(self.page)
            self.page = None


def _page_url(base: str | None, title: str) -> str | None:
    if not base or "/wiki/" not in base:
        return None
    prefix = base.split("/wiki/")[0] + "/wiki/"
    return prefix + urllib.parse.quote(title.replace(" ", "_"), safe="/:()_,!'*-.~")


def read_wikipedia(raw, ctx: FileContext):
    stream = decompressed(raw, ctx.file)
    dump = _DumpParser()
    while True:
        try:
            chunk = stream.read(_CHUNK)
            dump.parser.Parse(chunk, not chunk)
        except (xml.parsers.expat.ExpatError, EOFError, OSError) as exc:
            yield from _finish_pages(dump, ctx)
            offset = dump.page["offset"] if dump.page else max(dump.parser.CurrentByteIndex, 0)
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
        # Rejected pages keep their raw wikitext as text: the page as read.
        if "redirect" in page:
            yield ctx.reject(ctx.document(offset, text=wikitext, **doc_args), "wiki_redirect",
                             f"redirect to {page['redirect']!r}")
            continue
        if page.get("ns", "0").strip() != "0":
            yield ctx.reject(ctx.document(offset, text=wikitext, **doc_args), "wiki_namespace",
                             f"ns={page.get('ns')}")
            continue
        if ctx.max_doc_bytes and len(wikitext) > ctx.max_doc_bytes:  # characters >= bytes/4: parse nothing huge
            yield ctx.reject(ctx.document(offset, text="", **doc_args), "too_large",
                             f"wikitext of {len(wikitext)} characters > max_doc_bytes={ctx.max_doc_bytes}")
            continue
        try:
            text = wikitext_to_text(wikitext)
        except Exception as exc:  # a parser bug on one page must not stop the dump
            yield ctx.quarantine(offset, exc, f"wikitext parse failed on {title!r}: {exc}",
                                 sample=wikitext.encode()[:512])
            continue
        yield ctx.document(offset, text=text, **doc_args)
