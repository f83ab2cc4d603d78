"""Control characters from documents never reach report.html as themselves: a right-to-left override
in a source name or url would show it reordered, and NUL or BEL are invisible. They are shown as
visible escapes (`\\u202e`, `\\x00`), text keeps its tabs and newlines, and HTML stays escaped."""

import html.parser
import re

from pipelines.report.page import render

BIDI = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c"
# What may remain in the page: tab and newline (text shown as text); every other control is gone.
RAW_CONTROL = re.compile(f"[\x00-\x08\x0b-\x1f\x7f-\x9f{BIDI}]")

SOURCE = "wiki\u202egpj.exe"  # shown on screen as "wikiexe.jpg" if the override reached the page
URL = "https://example.org/\u2066a\u2069?q=\"x\"&y=<b>"
TEXT = "first line\tcell\nNUL\x00 BEL\x07 then \u200fmarks\u061c and <script>alert(1)</script>\r\nlast \u202dline"


def summary() -> dict:
    stage = {"stage": "quality", "in": 2, "out": 1, "in_bytes": 100, "out_bytes": 50,
             "rejected": {"too\u202eshort": 1}, "quarantined": {}}
    return {
        "run": "/runs/x", "fingerprint": "f" * 64, "created": "2026-01-01",
        "totals": {"records": 2, "files": 1, "kept": 1, "rejected": 1, "quarantined": 0},
        "sources": {SOURCE: {"documents": 2}},
        "stages": [stage],
        "languages": {"identified": {"en": {"documents": 2, "bytes": 100}}, "kept": {"en": {"documents": 1, "bytes": 50}}},
        "signals": {},
        "dedup": {"entering": 1, "removed": {"exact_dedup": 0, "near_dedup": 0}, "share_removed": 0.0,
                  "sample_clusters": [{"stage": "exact_dedup", "keeper": "id\u202e1", "size": 2,
                                       "documents": [{"id": "id\u202e1", "role": "kept", "text": TEXT}]}]},
        "rejects": [{"stage": "quality", "reason": "too\u202eshort", "count": 1,
                     "samples": [{"id": "doc\x071", "source": SOURCE, "url": URL, "detail": "words\x00=3",
                                  "text": TEXT}]}],
        "shards": [{"path": "documents/en/part-0.parquet", "kind": "documents", "rows": 1, "bytes": 50}],
        "tokens": None,
        "training": None,
    }


class _Text(html.parser.HTMLParser):
    """The page's text as a browser would show it (entities decoded), and every attribute value."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.text, self.attrs, self.pre = [], [], []
        self._in_pre = False

    def handle_starttag(self, tag, attrs):
        self.attrs += [v or "" for _, v in attrs]
        self._in_pre |= tag == "pre"

    def handle_endtag(self, tag):
        self._in_pre &= tag != "pre"

    def handle_data(self, data):
        self.text.append(data)
        if self._in_pre:
            self.pre.append(data)


def test_controls_from_text_urls_and_source_names_are_shown_escaped():
    page = render(summary(), "report", {"funnel": "funnel.png", "languages": "languages.png", "signals": {},
                                        "dedup": "dedup.png"})
    assert not RAW_CONTROL.search(page), repr(RAW_CONTROL.search(page).group())
    parsed = _Text()
    parsed.feed(page)
    shown = "".join(parsed.text)
    assert not RAW_CONTROL.search(shown) and not any(RAW_CONTROL.search(a) for a in parsed.attrs)
    # Visible instead: the source name, url, id, reason and detail escaped where they are shown.
    assert "wiki\\u202egpj.exe" in shown
    assert 'https://example.org/\\u2066a\\u2069?q="x"&y=<b>' in shown
    assert "doc\\x071" in shown and "words\\x00=3" in shown and "too\\u202eshort" in shown
    # The text keeps its tab and newlines; the rest shows as escapes; its HTML is text, not markup.
    pre = [p for p in parsed.pre if p.startswith("first line")]
    assert len(pre) == 2  # the rejected document and the cluster's
    assert pre[0] == ("first line\tcell\nNUL\\x00 BEL\\x07 then \\u200fmarks\\u061c and "
                      "<script>alert(1)</script>\nlast \\u202dline")
    assert "<script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "&lt;b&gt;" in page and "&quot;x&quot;" in page
