"""Per-document stages and the one DoFn that runs any of them with the run's accounting.

A stage is a small object: `setup()` loads what it needs once per worker (models, the extraction
process), `apply(doc)` takes a copy of the document and returns it (possibly changed), a Rejected
or a Quarantined.
The logic itself lives in filters/ and pipelines/sources/; these classes only adapt it.
"""

import json
import os
import tempfile

import apache_beam as beam
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems
from apache_beam.utils.shared import Shared

from filters.base import FilterChain
from filters.decontaminate import DEFAULT_NGRAM, NgramIndex, file_ngrams, merge
from filters.langid import LanguageIdentifier
from filters.normalise import normalise_text
from pipelines.extraction.html import charset_from_content_type, html_to_text
from pipelines.records import Quarantined, Rejected
from pipelines.extraction.sandbox import ExtractionSandbox
from pipelines.transforms.metrics import CountingDoFn

REJECTS = "rejects"
QUARANTINE = "quarantine"


class Stage:
    name = ""
    counts_languages = False  # language ID: count its output per language (before the quality filters)

    def setup(self) -> None:
        pass

    def teardown(self) -> None:
        pass

    def apply(self, doc: dict):
        raise NotImplementedError

    def side_input(self, pipeline):
        """A side input the stage needs (given to `receive` before each document), or None."""
        return None

    def receive(self, value) -> None:
        pass


class Extract(Stage):
    """HTML (from WARC responses and HTML files) to text, under a per-document time limit.

    `timeout_s=0` extracts in-process, without the child process and without a limit.
    """

    name = "extract"

    def __init__(self, extractor: str = "resiliparse", timeout_s: float = 10.0):
        self.extractor = extractor
        self.timeout_s = timeout_s
        self._sandbox = None

    def setup(self):
        if self.timeout_s:
            self._sandbox = ExtractionSandbox(self.timeout_s)

    def teardown(self):
        if self._sandbox is not None:
            self._sandbox.close()

    def apply(self, doc):
        content = doc.pop("content", None)
        if content is None:
            return doc
        content_type = doc.pop("content_type", None)
        charset = charset_from_content_type(content_type)
        try:
            if self._sandbox is not None:
                result = self._sandbox.call(content, charset, self.extractor)
            else:
                result = html_to_text(content, charset, self.extractor)
        except Exception as exc:  # the sandbox's timeout, crash or error, or the extractor's own
            return Quarantined.of_document(doc, self.name, exc, content)
        doc["text"] = result["text"]
        doc["title"] = doc.get("title") or result["title"]
        if result["encoding"] not in ("utf-8", "utf-8-sig"):
            doc["metadata"] = _add_metadata(doc.get("metadata"), encoding=result["encoding"])
        if not result["text"].strip():
            return Rejected(doc, self.name, "no_text", f"{self.extractor} found no main text")
        return doc


def _add_metadata(metadata_json: str | None, **fields) -> str:
    data = json.loads(metadata_json) if metadata_json else {}
    data.update(fields)
    return json.dumps(data, ensure_ascii=False, sort_keys=True)


class Normalise(Stage):
    name = "normalise"

    def apply(self, doc):
        doc["text"] = normalise_text(doc["text"])
        if not doc["text"]:
            return Rejected(doc, self.name, "empty_text", "no text left after normalisation")
        return doc


class LanguageId(Stage):
    """Labels every document; drops those outside `keep` or under `min_score` (both optional).

    The model is loaded once per worker process and shared by its threads (Dataflow runs many
    per process; lid.176.bin is 126 MB).
    """

    name = "langid"
    counts_languages = True

    def __init__(self, model_path: str | None = None, keep: tuple[str, ...] = (), min_score: float = 0.0):
        self.model_path = model_path
        self.keep = tuple(keep)
        self.min_score = min_score
        self._shared = Shared()
        self._lid = None

    def setup(self):
        path = self.model_path
        self._lid = self._shared.acquire(lambda: LanguageIdentifier(_local_copy(path) if path else None),
                                         tag=path or "default")

    def apply(self, doc):
        lang, score = self._lid.identify(doc["text"])
        doc["lang"], doc["lang_score"] = lang, score
        if self.keep and lang not in self.keep:
            return Rejected(doc, self.name, "language_not_kept", f"lang={lang} not in {list(self.keep)}")
        if score < self.min_score:
            return Rejected(doc, self.name, "low_language_score", f"lang_score={score:.3f} < {self.min_score}")
        return doc


def _local_copy(path: str) -> str:
    """A local file for fastText, which cannot read gs:// itself."""
    if os.path.exists(path):
        return path
    local = os.path.join(tempfile.mkdtemp(prefix="lid-"), os.path.basename(path))
    with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as src, open(local, "wb") as dst:
        dst.write(src.read())
    return local


class Quality(Stage):
    """The run's filter chain, or the document's source's own."""

    name = "quality"

    def __init__(self, chain: FilterChain, by_source: dict[str, FilterChain] | None = None):
        self.chain = chain
        self.by_source = by_source or {}

    def apply(self, doc):
        decision = self.by_source.get(doc["source"], self.chain)(doc)
        doc["signals"] = decision.signals
        if decision.text is not None:  # a filter that cleans (C4's line rules) changed the text
            doc["text"] = decision.text
        if not decision.keep:
            return Rejected(doc, self.name, decision.reason, decision.detail)
        return doc


class RedactPii(Stage):
    """Replaces PII in the text; the counts per kind join the document's signals. Drops nothing."""

    name = "pii"

    def __init__(self, redactor):
        self.redactor = redactor

    def apply(self, doc):
        decision = self.redactor(doc)
        doc["signals"] = {**(doc.get("signals") or {}), **decision.signals}
        if decision.text is not None:
            doc["text"] = decision.text
        return doc


class Decontaminate(Stage):
    """Rejects a document that shares an n-gram with the evaluation texts (filters.decontaminate),
    reason `contaminated`, the first shared n-gram in the detail. The evaluation files are read and
    hashed in the pipeline, a file per task, and the sorted hashes reach every worker as a singleton
    side input of bytes (8 per n-gram), so any runner can run it."""

    name = "decontaminate"

    def __init__(self, paths: tuple[str, ...], n: int = DEFAULT_NGRAM):
        self.paths = tuple(paths)
        self.n = n
        self._header = self._index = None

    def side_input(self, pipeline):
        ngrams = (pipeline
                  | "DecontaminationFiles" >> beam.Create(list(self.paths))
                  | "SpreadDecontaminationFiles" >> beam.Reshuffle()
                  | "DecontaminationNgrams" >> beam.Map(file_ngrams, self.n)
                  | "MergeDecontaminationNgrams" >> beam.CombineGlobally(_MergeNgrams(self.n)))
        return beam.pvalue.AsSingleton(ngrams)

    def receive(self, payload: bytes):
        header = NgramIndex.header_of(payload)  # with the hashes' digest: a bundle that gets them anew
        if header != self._header:              # does not remake the index's table
            self._index, self._header = NgramIndex.from_bytes(payload), header

    def apply(self, doc):
        match = self._index.check(doc["text"], doc.get("lang"))
        if match is not None:
            return Rejected(doc, self.name, "contaminated", f'{self.n}-gram "{match}"')
        return doc


class _MergeNgrams(beam.CombineFn):
    """Per-file hash arrays -> the bytes of one NgramIndex."""

    def __init__(self, n: int):
        self.n = n

    def create_accumulator(self):
        return []

    def add_input(self, accumulator, hashes):
        accumulator.append(hashes)  # Beam lets a CombineFn change its accumulator in place
        return accumulator

    def merge_accumulators(self, accumulators):
        return [merge(a for acc in accumulators for a in acc)]

    def extract_output(self, accumulator):
        return NgramIndex(merge(accumulator), self.n).to_bytes()


class StageFn(CountingDoFn):
    """Runs one stage; kept documents go to the main output, the rest to tagged outputs, and every
    outcome is counted (pipelines.transforms.metrics)."""

    def __init__(self, stage: Stage):
        self.stage = stage

    def setup(self):
        super().setup()
        self.stage.setup()

    def teardown(self):
        self.stage.teardown()

    def process(self, doc):
        tag, result = run_stage(self, self.stage, doc)
        yield result if tag is None else beam.pvalue.TaggedOutput(tag, result)


class SideInputStageFn(StageFn):
    """StageFn for a stage with a side input."""

    def process(self, doc, side):
        self.stage.receive(side)
        yield from super().process(doc)


def run_stage(counting: CountingDoFn, stage: Stage, doc: dict) -> tuple[str | None, dict]:
    """(None, the document it kept), (REJECTS, a reject row) or (QUARANTINE, a quarantine row), counted
    on `counting`."""
    name = stage.name
    counting.count_in(name, doc)
    try:
        result = stage.apply(dict(doc))  # Beam inputs must not be changed; stages change their copy
    except Exception as exc:  # one bad document must not fail the bundle; a bug fails every one, loudly
        sample = doc.get("content") or (doc.get("text") or "")[:512].encode("utf-8", "replace")
        result = Quarantined.of_document(doc, name, exc, sample)
    if isinstance(result, Rejected):
        return REJECTS, counting.count_rejected(result.row())
    if isinstance(result, Quarantined):
        return QUARANTINE, counting.count_quarantined(result.row())
    size = counting.count_out(name, result)
    if stage.counts_languages:
        counting.counters.inc("identified", lang=result["lang"], source=result["source"])
        counting.counters.inc("identified_bytes", size, lang=result["lang"], source=result["source"])
    return None, result


def apply_stage(docs, stage: Stage):
    """docs -> (kept, rejects, quarantine) PCollections."""
    side = stage.side_input(docs.pipeline)
    fn = beam.ParDo(StageFn(stage)) if side is None else beam.ParDo(SideInputStageFn(stage), side)
    out = docs | f"Stage:{stage.name}" >> fn.with_outputs(REJECTS, QUARANTINE, main="kept")
    return out.kept, out[REJECTS], out[QUARANTINE]
