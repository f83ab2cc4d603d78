"""HTML bytes to plain text: charset detection, then the cascade (default), Resiliparse or Trafilatura.

The cascade (docs/extraction.md has its figures and reasoning): boilerplate blocks (pop-ups, dialogs,
buttons, review and social widgets) go from the DOM; Resiliparse's main-content extraction runs once,
with comment sections kept where the page is a discussion (forum, Q&A, comment markup), and lines
repeated verbatim kept once. Where the markup names the post's body (`itemprop=articleBody`,
`entry-content`, ..., the page's only <article> or <main>) and that holds at least half the text, the
text is that body's part (marked in the same pass). Under MIN_WORDS words (an article Resiliparse took
for a comment section, a page its heuristics emptied) it retries with comments kept, then takes all the
page's visible text if that is longer. Where the marked body's visible text has AREA_SHARE times the
words of the text (a wiki's lists, a checklist the main-content rules dropped), that text instead; on
a page that is neither a discussion nor an article (og:type), also the content area's at AREA_SHARE
times or, without such an area, the page's at PAGE_SHARE times. One Resiliparse pass for nearly every page; no second library.

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
from pipelines.extraction.pruning import content_area, mark_root, main_text_root, prune_boilerplate, split_marked

EXTRACTORS = ("cascade", "resiliparse", "trafilatura")
DEFAULT_EXTRACTOR = "cascade"

# Fewer words than this from Resiliparse is implausible for a page worth keeping: retry, fall back.
MIN_WORDS = 50
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af]")
# The post body the markup names is the main text when it holds at least this share of the page's.
ROOT_SHARE = 0.5
# Markup of a discussion: schema.org types in microdata (plain substrings, cheap to look for) or in
# JSON-LD; and the paths of a discussion in the page's canonical or og:url address.
_DISCUSSION_MARKUP = ("DiscussionForumPosting", "QAPage", "schema.org/Comment", "schema.org/Answer",
                      "schema.org/Question")
_DISCUSSION_LD = re.compile(r"\"@type\"\s*:\s*\"(?:Comment|Answer|Question)\"")
_DISCUSSION_PATH = re.compile(r"/(?:forums?|threads?|t|topics?|questions|discussions?|community|boards?)/", re.I)
# Where the content area's visible text has at least this many times the words of the cascade's text,
# on a page that is neither a discussion nor an article (og:type), that visible text is the page's:
# a listing's items, a wiki's lists, a docs page's link lists that Resiliparse dropped. And where the
# page has no such area (or it is empty), all the page's visible text at PAGE_SHARE times.
AREA_SHARE = 2.7
PAGE_SHARE = 10
_OG_CONTENT = re.compile(r"content\s*=\s*[\"']?([^\"'>\s]*)", re.I)


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


def answers_marked(html: str) -> bool:
    """Whether a Q&A page marks its answers as schema.org items (microdata): the question and the
    answers are the main text, and the comment threads under each are not."""
    return "QAPage" in html and "schema.org/Answer" in html


def og_type(html: str) -> str:
    """The page's og:type (lowercase), or ""."""
    at = html.find("og:type")
    if at < 0:
        return ""
    found = _OG_CONTENT.search(html[html.rfind("<", 0, at):html.find(">", at) + 1])
    return found.group(1).lower() if found else ""


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


def _resiliparse(tree: HTMLTree, comments: bool, main_content: bool = True) -> str:
    return extract_plain_text(tree, main_content=main_content, alt_texts=False, form_fields=False, comments=comments)


def _words(text: str) -> int:
    """Words: runs between spaces, and one per two Chinese, Japanese or Korean characters (no spaces)."""
    return len(text.split()) + len(_CJK.findall(text)) // 2


def _with_heading(tree: HTMLTree, text: str) -> str:
    """The page's <h1> first where the text lacks it (a product's name above its content area)."""
    heading = tree.body.query_selector("h1") if tree.body is not None else None
    title = " ".join((heading.text or "").split()) if heading is not None else ""
    return f"{title}\n\n{text}" if title and title not in " ".join(text.split()) else text


def _wider(tree: HTMLTree, root, text: str, words: int, area_too: bool) -> str:
    """Where Resiliparse's main-content rules left under 1/AREA_SHARE of the visible text of the post
    body the markup names, that visible text; else, where area_too, that of the content area (at
    AREA_SHARE times) or of the whole page (PAGE_SHARE times); else the text. A visible text is only
    extracted where the element's DOM text (a cheap upper bound) has enough words."""
    if root is not None and len((root.text or "").split()) >= AREA_SHARE * words:
        inside = drop_repeated_lines(split_marked(_resiliparse_str(root.html))[0])
        if _words(inside) >= max(MIN_WORDS, AREA_SHARE * words):
            return inside
    if not area_too:
        return text
    area = content_area(tree)
    area_words = 0
    if area is not None and len((area.text or "").split()) >= AREA_SHARE * words:
        inside = split_marked(_resiliparse_str(area.html))[0]
        inside = drop_repeated_lines(_with_heading(tree, inside))
        area_words = _words(inside)
        if area_words >= max(MIN_WORDS, AREA_SHARE * words):
            return inside
    if area_words < MIN_WORDS and tree.body is not None and PAGE_SHARE * words <= len((tree.body.text or "").split()):
        everything = drop_repeated_lines(split_marked(_resiliparse(tree, True, main_content=False))[0])
        if _words(everything) >= PAGE_SHARE * words:
            return everything
    return text


def _resiliparse_str(html: str) -> str:
    return extract_plain_text(html, main_content=False, alt_texts=False, form_fields=False, comments=True)


def _cascade(html: str, tree: HTMLTree) -> str:
    discussion = is_discussion(html)
    # A discussion's posts are its main text (Resiliparse takes them for comments), but where a Q&A
    # page marks its answers as items, what it calls comments are the remarks under each post.
    comments = discussion and not answers_marked(html)
    prune_boilerplate(tree, discussion)
    root = main_text_root(tree)
    marked = root is not None and mark_root(tree, root)
    text, inside = split_marked(_resiliparse(tree, comments))
    text = drop_repeated_lines(text)
    words = _words(text)
    # The content area's or page's visible text: not on discussions and articles, where it holds the
    # comments, the related stories and the teasers around the post.
    wide = not discussion and og_type(html) != "article"
    if marked and inside is not None:
        inside = drop_repeated_lines(inside)
        inside_words = _words(inside)
        if inside_words >= max(MIN_WORDS, ROOT_SHARE * words):
            # the post's body without what the page puts around it
            return _wider(tree, root, inside, inside_words, wide)
    if words >= MIN_WORDS:
        return _wider(tree, root if marked else None, text, words, wide)
    if not comments:  # e.g. an <article class="has-comments">: Resiliparse drops it as comments
        text = drop_repeated_lines(split_marked(_resiliparse(tree, True))[0])
        words = _words(text)
        if words >= MIN_WORDS:
            return text
    # Resiliparse's main-content rules emptied the page: all the visible text of the post's body or
    # the page's content area (boilerplate blocks out), or of the whole page.
    if not marked:
        area = content_area(tree)
        marked = area is not None and mark_root(tree, area)
    everything, inside = split_marked(_resiliparse(tree, True, main_content=False))
    if marked and inside is not None and _words(inside) >= MIN_WORDS:
        everything = _with_heading(tree, inside)
    everything = drop_repeated_lines(everything)
    return everything if _words(everything) > words else text


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
