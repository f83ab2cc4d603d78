"""HTML bytes to plain text: charset detection, then the cascade (default), Resiliparse or Trafilatura.

The cascade (docs/extraction.md has its figures): Resiliparse's main-content extraction, with comment
sections kept where the page is a discussion (forum, Q&A, comment markup), lines repeated verbatim kept
once; where that gives an implausibly short text (under MIN_WORDS words: an article Resiliparse took
for a comment section, a page its heuristics emptied) it retries with comments kept, then falls back
to Trafilatura (its defaults, fast) and keeps the longer of the two. Resiliparse alone extracts most pages
(fast); Trafilatura, 10-20 times slower, sees the few per cent where Resiliparse fails.

Encoding: the byte-order mark, then the HTTP Content-Type charset (as HTML5 orders them), then
UTF-8 if the bytes are valid UTF-8 (most of the web is, whatever its <meta> says), then the <meta>
charset or statistical detection. A declared charset that does not decode the bytes is distrusted.
"""

import codecs
import re

from resiliparse.extract.html2text import extract_plain_text
from resiliparse.parse.encoding import bytes_to_str, detect_encoding, map_encoding_to_html5
from resiliparse.parse.html import HTMLTree

from pipelines.sources.decoding import bom_encoding

EXTRACTORS = ("cascade", "resiliparse", "trafilatura")
DEFAULT_EXTRACTOR = "cascade"

# Fewer words than this from Resiliparse is implausible for a page worth keeping: retry, fall back.
MIN_WORDS = 50
# Markup of a discussion: schema.org types in microdata (plain substrings, cheap to look for) or in
# JSON-LD; and the paths of a discussion in the page's canonical or og:url address.
_DISCUSSION_MARKUP = ("DiscussionForumPosting", "QAPage", "schema.org/Comment", "schema.org/Answer",
                      "schema.org/Question")
_DISCUSSION_LD = re.compile(r"\"@type\"\s*:\s*\"(?:Comment|Answer|Question)\"")
_DISCUSSION_PATH = re.compile(r"/(?:forums?|threads?|t|topics?|questions|discussions?|community|boards?)/", re.I)


def _python_codec(label: str | None) -> str | None:
    """A Python codec name for a charset label, via the WHATWG label table first."""
    if not label:
        return None
    label = label.strip().strip("\"'").lower()
    for name in (map_encoding_to_html5(label, fallback_utf8=False), label):
        if name:
            try:
                return codecs.lookup(name).name
            except LookupError:
                pass
    return None


def charset_from_content_type(content_type: str | None) -> str | None:
    if not content_type:
        return None
    for part in content_type.split(";")[1:]:
        key, _, value = part.partition("=")
        if key.strip().lower() == "charset":
            return value.strip()
    return None


def decode_html(content: bytes, declared_charset: str | None = None) -> tuple[str, str]:
    """(html text, encoding used)."""
    bom = bom_encoding(content)
    candidates = [bom, _python_codec(declared_charset), "utf-8",
                  _python_codec(detect_encoding(content, from_html_meta=True))]
    for encoding in candidates:
        if encoding:
            try:
                return content.decode(encoding), encoding
            except (UnicodeDecodeError, LookupError):
                continue
    detected = _python_codec(detect_encoding(content)) or "utf-8"
    # Nothing decodes cleanly: keep what the best guess can read and mark the encoding as lossy.
    return bytes_to_str(content, detected, errors="replace"), detected + "+replace"


def is_discussion(html: str) -> bool:
    """Whether the page is a discussion (forum thread, Q&A, comments as content), from its markup."""
    if any(marker in html for marker in _DISCUSSION_MARKUP):
        return True
    if '"@type"' in html and _DISCUSSION_LD.search(html):
        return True
    for marker in ("canonical", "og:url"):  # the page's own address: in the tag around the marker
        at = html.find(marker)
        if at >= 0:
            tag = html[html.rfind("<", 0, at):html.find(">", at) + 1]
            if _DISCUSSION_PATH.search(tag):
                return True
    return False


def drop_repeated_lines(text: str) -> str:
    """Each line once: a later line equal to an earlier one (case and white space aside) goes."""
    seen, kept = set(), []
    for line in text.split("\n"):
        key = " ".join(line.split()).lower()
        if key:
            if key in seen:
                continue
            seen.add(key)
        kept.append(line)
    return "\n".join(kept)


def _resiliparse(tree: HTMLTree, comments: bool) -> str:
    return extract_plain_text(tree, main_content=True, alt_texts=False, form_fields=False, comments=comments)


def _cascade(html: str, tree: HTMLTree) -> str:
    discussion = is_discussion(html)
    text = drop_repeated_lines(_resiliparse(tree, discussion))
    words = len(text.split())
    if words >= MIN_WORDS:
        return text
    if not discussion:  # e.g. an <article class="has-comments">: Resiliparse drops it as comments
        text = drop_repeated_lines(_resiliparse(tree, True))
        words = len(text.split())
        if words >= MIN_WORDS:
            return text
    import trafilatura  # slow to import; only loaded when needed

    # Its defaults but fast (no second opinion from readability and jusText): as good on these pages.
    fallback = trafilatura.extract(html, fast=True) or ""
    return fallback if len(fallback.split()) > words else text


def html_to_text(content: bytes, declared_charset: str | None = None,
                 extractor: str = DEFAULT_EXTRACTOR) -> dict:
    """Extract the main text of an HTML page. Returns {"text", "title", "encoding"}."""
    html, encoding = decode_html(content, declared_charset)
    tree = HTMLTree.parse(html)
    title = (tree.title or "").strip() or None
    if extractor == "cascade":
        text = _cascade(html, tree)
    elif extractor == "resiliparse":
        # DCLM's setting: main content only, no navigation, no form fields, no alt texts.
        text = _resiliparse(tree, comments=False)
    elif extractor == "trafilatura":
        import trafilatura  # slow to import; only loaded when chosen

        # FineWeb's setting.
        text = trafilatura.extract(html, favor_precision=True, include_comments=False,
                                   include_tables=True, deduplicate=True) or ""
    else:
        raise ValueError(f"unknown extractor {extractor!r}; choose from {EXTRACTORS}")
    return {"text": text, "title": title, "encoding": encoding}
