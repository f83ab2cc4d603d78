"""HTML bytes to plain text: charset detection, then Resiliparse (default) or Trafilatura.

Encoding: the byte-order mark, then the HTTP Content-Type charset (as HTML5 orders them), then
UTF-8 if the bytes are valid UTF-8 (most of the web is, whatever its <meta> says), then the <meta>
charset or statistical detection. A declared charset that does not decode the bytes is distrusted.
"""

import codecs

from resiliparse.extract.html2text import extract_plain_text
from resiliparse.parse.encoding import bytes_to_str, detect_encoding, map_encoding_to_html5
from resiliparse.parse.html import HTMLTree

from pipelines.sources.decoding import bom_encoding

EXTRACTORS = ("resiliparse", "trafilatura")


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


def html_to_text(content: bytes, declared_charset: str | None = None,
                 extractor: str = "resiliparse") -> dict:
    """Extract the main text of an HTML page. Returns {"text", "title", "encoding"}."""
    html, encoding = decode_html(content, declared_charset)
    tree = HTMLTree.parse(html)
    title = (tree.title or "").strip() or None
    if extractor == "resiliparse":
        # DCLM's setting: main content only, no navigation, no form fields, no alt texts.
        text = extract_plain_text(tree, main_content=True, alt_texts=False, form_fields=False,
                                  comments=False)
    elif extractor == "trafilatura":
        import trafilatura  # slow to import; only loaded when chosen

        # FineWeb's setting.
        text = trafilatura.extract(html, favor_precision=True, include_comments=False,
                                   include_tables=True, deduplicate=True) or ""
    else:
        raise ValueError(f"unknown extractor {extractor!r}; choose from {EXTRACTORS}")
    return {"text": text, "title": title, "encoding": encoding}
