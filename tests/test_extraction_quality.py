"""The default extraction keeps the main text of real pages that a single extractor's setting lost.

Pages of the WCXB dev set (web_pages_raw: the shared data, or the same records in tests/data), scored
as bench/extraction.py scores them: words of the kept text against the human ground truth.
"""

import gzip
import json
import sys
from pathlib import Path

import pytest
from fastwarc.warc import ArchiveIterator, WarcRecordType

from pipelines.sources.html import charset_from_content_type, html_to_text

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))
from extraction import prf  # noqa: E402

SQUARESPACE = "https://www.azurefarmlife.com/farm-blog/herbs-and-flowers-for-organic-pest-control-in-the-garden"
FORUM = "https://community.ricksteves.com/travel-forum/beyond-europe/first-trip-to-japan"
FORUM_TOPIC = "https://woodworkingmasterclasses.com/discussions/topic/starting-projects-of-an-absolute-beginner/"
PRODUCT = "https://pcpartpicker.com/product/FLRzK8/amd-ryzen-7-7800x3d-42-ghz-8-core-processor-100-100000910wof"


@pytest.fixture(scope="module")
def pages(data_dir):
    folder = data_dir / "web_pages_raw"
    with gzip.open(folder / "ground_truth_wcxb_dev.json.gz", "rt", encoding="utf-8") as f:
        truth = json.load(f)
    wanted, found = {SQUARESPACE, FORUM, FORUM_TOPIC, PRODUCT}, {}
    with open(folder / "wcxb_dev_sample.warc.gz", "rb") as f:
        for record in ArchiveIterator(f, record_types=WarcRecordType.response):
            url = record.headers["WARC-Target-URI"]
            if url in wanted:
                charset = charset_from_content_type(record.http_headers.get("Content-Type"))
                found[url] = (record.reader.read(), charset, truth[url]["ground_truth"]["main_content"])
    assert set(found) == wanted
    return found


def _f1(pages, url, extractor="cascade"):
    content, charset, gold = pages[url]
    text = html_to_text(content, charset, extractor)["text"]
    return text, prf(text, gold)[2]


def test_squarespace_article_with_a_has_comments_class_survives(pages):
    # Resiliparse with comments=False (DCLM's option) drops the whole <article class="... has-comments">.
    text, f1 = _f1(pages, SQUARESPACE)
    assert "We are huge fans of living an organic life and honestly believe" in text
    assert f1 > 0.9
    assert _f1(pages, SQUARESPACE, "resiliparse")[1] < 0.1


@pytest.mark.parametrize("url", [FORUM, FORUM_TOPIC])
def test_forum_threads_keep_their_posts(pages, url):
    text, f1 = _f1(pages, url)
    assert f1 > 0.9
    assert _f1(pages, url, "resiliparse")[1] < 0.5  # the posts are comment sections to DCLM's setting
    first_paragraph = pages[url][2].split("\n\n")[0]
    assert " ".join(first_paragraph.split()[:8]) in " ".join(text.split())


def test_product_page_keeps_its_description(pages):
    text, f1 = _f1(pages, PRODUCT)
    assert "Command Decorating Clips 3FB7J" in text and "Price History" in text
    assert f1 > 0.8


def test_the_cascade_is_deterministic(pages):
    for content, charset, _ in pages.values():
        assert html_to_text(content, charset) == html_to_text(content, charset)
