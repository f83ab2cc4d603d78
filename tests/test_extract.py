"""HTML extraction, and the child process that bounds its time per document."""

import time

import pytest

from pipelines.extraction.html import html_to_text
from pipelines.records import FileContext, Quarantined, Rejected
from pipelines.extraction.sandbox import ExtractionCrashed, ExtractionError, ExtractionSandbox, ExtractionTimeout
from pipelines.transforms.stages import Extract


def test_timeout_kills_the_call_and_the_next_call_works():
    sandbox = ExtractionSandbox(0.5, target="time:sleep")
    start = time.monotonic()
    with pytest.raises(ExtractionTimeout):
        sandbox.call(30)
    assert time.monotonic() - start < 5
    sandbox.timeout_s = 10  # a fresh child's start-up on a loaded machine can take longer than 0.5 s
    assert sandbox.call(0) is None  # a fresh child took over
    sandbox.close()


def test_crash_and_error_are_reported():
    sandbox = ExtractionSandbox(5, target="os:_exit")
    with pytest.raises(ExtractionCrashed, match="exit code 3"):
        sandbox.call(3)
    sandbox.close()
    sandbox = ExtractionSandbox(5)
    with pytest.raises(ExtractionError, match="unknown extractor"):
        sandbox.call(b"<p>x</p>", None, "no-such-extractor")
    sandbox.close()


def test_sandbox_gives_the_in_process_result(data_dir):
    page = (data_dir / "debian_reference_html" / "fr" / "ch01.fr.html").read_bytes()
    sandbox = ExtractionSandbox(10)
    try:
        assert sandbox.call(page, None, "resiliparse") == html_to_text(page, None, "resiliparse")
    finally:
        sandbox.close()


def test_both_extractors_find_the_main_text(data_dir):
    page = (data_dir / "gutenberg_en" / "11-h.htm").read_bytes()
    for extractor in ("resiliparse", "trafilatura"):
        result = html_to_text(page, None, extractor)
        assert "Alice was beginning to get very tired" in result["text"], extractor
        assert result["title"].startswith("Alice")


def _doc(content):
    return FileContext("s", "html", "f.html", "f.html").document(0, content=content, content_type="text/html")


def test_extract_stage_outcomes():
    stage = Extract(timeout_s=10)
    stage.setup()
    try:
        doc = stage.apply(_doc(b"<html><body><article><p>Plenty of words in a real paragraph of text here."
                               b"</p></article></body></html>"))
        assert doc["text"].startswith("Plenty of words") and "content" not in doc
        empty = stage.apply(_doc(b"<html><body><script>var x = 1;</script></body></html>"))
        assert isinstance(empty, Rejected) and empty.reason == "no_text"
    finally:
        stage.teardown()
    # A call that overruns (the sandbox's own test shows it does) is quarantined with the record's place.

    class Overrun:
        def call(self, *args):
            raise ExtractionTimeout("took longer than 0.5 s")

        def close(self):
            pass

    slow = Extract(timeout_s=0.5)
    slow._sandbox = Overrun()
    result = slow.apply(_doc(b"<p>x</p>"))
    assert isinstance(result, Quarantined) and result.error == "ExtractionTimeout"
    assert (result.stage, result.file, result.offset) == ("extract", "f.html", 0)


def test_a_stage_that_raises_quarantines_the_document():
    import apache_beam as beam

    from pipelines.transforms.stages import QUARANTINE, Stage, StageFn

    class Broken(Stage):
        name = "broken"

        def apply(self, doc):
            raise ZeroDivisionError("a bug in one stage")

    fn = StageFn(Broken())
    fn.setup()
    fn.start_bundle()
    doc = FileContext("s", "text", "f.txt", "f.txt").document(7, text="some text")
    [out] = list(fn.process(doc))
    assert isinstance(out, beam.pvalue.TaggedOutput) and out.tag == QUARANTINE
    assert (out.value["stage"], out.value["error"], out.value["offset"]) == ("broken", "ZeroDivisionError", 7)
    assert out.value["sample"] == b"some text"
