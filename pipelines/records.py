"""What a reader yields: documents, documents rejected at read time, and quarantined records.

A document is a plain dict with the fields of schemas.DOCUMENT_SCHEMA that are known at read time
(dicts of primitives are cheap to move through Beam). A document that still needs HTML extraction
carries `content` (bytes) and `content_type` instead of `text`.
"""

import json
import re
from dataclasses import dataclass, field

import xxhash

SAMPLE_BYTES = 512
DEFAULT_MAX_DOC_BYTES = 16 << 20
# JSON escapes can carry unpaired surrogates, which no UTF-8 writer accepts.
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def clean_str(value: str | None) -> str | None:
    """The string with unpaired surrogates replaced by U+FFFD (paired ones never reach a str)."""
    if not value or value.isascii():  # the common case, and a surrogate is never ASCII
        return value
    return _LONE_SURROGATE.sub("\ufffd", value)


def document_id(source: str, location: str, offset: int, space: str | None = None) -> str:
    """Stable id: a 128-bit hash of source name, location in the source and record offset. `space`
    names a second numbering of offsets in one file (see read_warc), whose ids are kept apart."""
    if space:
        location = f"{location}#{space}"
    return xxhash.xxh3_128_hexdigest(f"{source}\x00{location}\x00{offset}".encode())


@dataclass
class Rejected:
    """A document dropped by a stage, with the rule that dropped it."""

    doc: dict
    stage: str
    reason: str
    detail: str | None = None
    duplicate_of: str | None = None

    def row(self) -> dict:
        return {**self.doc, "stage": self.stage, "reason": self.reason, "detail": self.detail,
                "duplicate_of": self.duplicate_of}


@dataclass
class Quarantined:
    """A record that could not be read or processed: where it is and what went wrong."""

    source: str
    format: str
    file: str
    offset: int
    stage: str
    error: str
    message: str
    record_id: str | None = None
    sample: bytes | None = None

    def row(self) -> dict:
        return dict(self.__dict__)

    @classmethod
    def of_document(cls, doc: dict, stage: str, error: BaseException, sample: bytes | None = None) -> "Quarantined":
        """A document that a stage failed on."""
        return cls(source=doc["source"], format=doc["format"], file=doc["file"], offset=doc["offset"], stage=stage,
                   error=type(error).__name__, message=clean_str(str(error))[:2000], record_id=doc["id"],
                   sample=sample[:SAMPLE_BYTES] if sample else None)


@dataclass
class FileContext:
    """One input file of one source: everything a reader needs to make records."""

    source: str
    format: str
    file: str  # the path as matched (local path or gs:// URL)
    location: str  # the path relative to the source glob's base directory, used in ids
    options: dict = field(default_factory=dict)

    @property
    def max_doc_bytes(self) -> int:
        """Readers bound what they hold in memory by this (0: no bound)."""
        return int(self.options.get("max_doc_bytes", DEFAULT_MAX_DOC_BYTES))

    def document(self, offset: int, *, text: str | None = None, content: bytes | None = None,
                 content_type: str | None = None, url: str | None = None, title: str | None = None,
                 date: str | None = None, metadata: dict | None = None, offset_space: str | None = None) -> dict:
        """A document at `offset`; `offset_space` names the numbering the offset is in where a file
        has two (see document_id)."""
        doc = {
            "id": document_id(self.source, self.location, offset, offset_space),
            "source": self.source,
            "format": self.format,
            "file": self.file,
            "offset": offset,
            "url": clean_str(url),
            "title": clean_str(title),
            "date": clean_str(date),
            "metadata": clean_str(json.dumps(metadata, ensure_ascii=False, sort_keys=True, default=str))
            if metadata else None,
        }
        if content is not None:
            doc["content"] = content
            doc["content_type"] = content_type
        else:
            doc["text"] = clean_str(text)
        return doc

    def quarantine(self, offset: int, error: BaseException | str, message: str | None = None, *,
                   stage: str = "read", sample: bytes | None = None, record_id: str | None = None) -> Quarantined:
        name = error if isinstance(error, str) else type(error).__name__
        return Quarantined(
            source=self.source, format=self.format, file=self.file, offset=offset, stage=stage,
            error=name, message=clean_str(message if message is not None else str(error))[:2000],
            record_id=record_id, sample=sample[:SAMPLE_BYTES] if sample else None,
        )

    def reject(self, doc: dict, reason: str, detail: str | None = None) -> Rejected:
        return Rejected(doc=doc, stage="read", reason=reason, detail=detail)
