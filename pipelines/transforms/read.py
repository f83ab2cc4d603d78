"""Reading: source globs -> files -> records, through Beam FileSystems (local paths, gs://, ...)."""

import os

import apache_beam as beam
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

from pipelines.config import SourceSpec
from pipelines.sources import READERS, FileContext, Quarantined, Rejected, glob_base, infer_format, relative_location
from pipelines.transforms.metrics import CountingDoFn, doc_bytes
from pipelines.transforms.stages import QUARANTINE, REJECTS

STAGE = "read"


def match_files(pattern: str) -> list[str]:
    """The files a glob matches, sorted; local directories are not files."""
    paths = sorted(m.path for m in FileSystems.match([pattern])[0].metadata_list)
    return [p for p in paths if "://" in p or not os.path.isdir(p)]


class MatchSourceFiles(beam.DoFn):
    """(source index, glob) -> (source index, path), in a stable order."""

    def process(self, element):
        index, pattern = element
        for path in match_files(pattern):
            yield index, path


class ReadFile(CountingDoFn):
    """One file -> documents (main), read-time rejects and quarantine rows (tagged)."""

    def __init__(self, sources: list[SourceSpec], max_doc_bytes: int):
        self.sources = sources
        self.max_doc_bytes = max_doc_bytes

    def process(self, element):
        index, path = element
        spec = self.sources[index]
        ctx = FileContext(source=spec.name, format=spec.type or "unknown", file=path,
                          location=relative_location(path, glob_base(spec.glob)),
                          options={**spec.options, "max_doc_bytes": self.max_doc_bytes})
        self.counters.inc("files", source=spec.name)
        try:
            ctx.format = spec.type or infer_format(path)
        except ValueError as exc:
            yield from self._route(ctx.quarantine(0, exc), ctx)
            return
        produced, last_offset = 0, 0
        try:
            with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as raw:
                for item in READERS[ctx.format](raw, ctx):
                    produced += 1
                    last_offset = item.offset if isinstance(item, Quarantined) else (
                        item.doc if isinstance(item, Rejected) else item)["offset"]
                    yield from self._route(item, ctx)
        except Exception as exc:  # a reader bug or an I/O error: the rest of the file is unreadable
            produced += 1
            yield from self._route(ctx.quarantine(last_offset, exc, f"{type(exc).__name__}: {exc} "
                                                   f"(reading stopped after offset {last_offset})"), ctx)
        if not produced:
            size = FileSystems.match([path])[0].metadata_list[0].size_in_bytes
            error, message = ("EmptyFile", "the file is empty") if size == 0 else (
                "NoRecords", f"no records found in {size} bytes")
            yield from self._route(ctx.quarantine(0, error, message), ctx)

    def _route(self, item, ctx: FileContext):
        source = ctx.source
        self.counters.inc("records", source=source)
        if isinstance(item, dict):
            size = doc_bytes(item)
            self.counters.inc("records_bytes", size, source=source)
            if self.max_doc_bytes and size > self.max_doc_bytes:
                item.pop("content", None)
                item.update(text="", content_type=None)
                item = ctx.reject(item, "too_large", f"{size} bytes > max_doc_bytes={self.max_doc_bytes}")
            else:
                self.count_out(STAGE, item, size)
                yield item
                return
        if isinstance(item, Rejected):
            yield beam.pvalue.TaggedOutput(REJECTS, self.count_rejected(item.row()))
        else:
            yield beam.pvalue.TaggedOutput(QUARANTINE, self.count_quarantined(item.row()))


class ReadSources(beam.PTransform):
    """PBegin -> (documents, rejects, quarantine)."""

    def __init__(self, sources: list[SourceSpec], max_doc_bytes: int, reshuffle: bool = True):
        super().__init__()
        self.sources = sources
        self.max_doc_bytes = max_doc_bytes
        self.reshuffle = reshuffle

    def expand(self, pbegin):
        files = (pbegin
                 | "Globs" >> beam.Create(list(enumerate(s.glob for s in self.sources)))
                 | "MatchFiles" >> beam.ParDo(MatchSourceFiles())
                 | "SpreadFiles" >> beam.Reshuffle())
        out = files | "ReadFiles" >> beam.ParDo(ReadFile(self.sources, self.max_doc_bytes)).with_outputs(
            REJECTS, QUARANTINE, main="docs")
        docs = out.docs
        if self.reshuffle:
            # A file is read by one worker; spreading its records lets extraction and the
            # per-document stages use every worker.
            docs = docs | "SpreadRecords" >> beam.Reshuffle()
        return docs, out[REJECTS], out[QUARANTINE]
