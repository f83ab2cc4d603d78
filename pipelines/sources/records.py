"""What a reader yields: documents, documents rejected at read time, and quarantined records.

A document is a plain dict with the fields of schemas.DOCUMENT_SCHEMA that are known at read time
(dicts of primitives are cheap to move through Beam). A document that still needs HTML extraction
carries `content` (bytes) and `content_type` instead of `text`.
"""

import json
from dataclasses import dataclass, field

import xxhash

SAMPLE_BYTES = 512


def document_id(source: str, location: str, offset: int) -> str:
    """Stable id: a 128-bit hash of source name, location in the source and record offset."""
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
    """A record that could not be read or extracted: where it is and what went wrong."""

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


@dataclass
class FileContext:
    """One input file of one source: everything a reader needs to make records."""

    source: str
    format: str
    file: str  # the path as matched (local path or gs:// URL)
    location: str  # the path relative to the source glob's base directory, used in ids
    options: dict = field(default_factory=dict)

    def document(self, offset: int, *, text: str | None = None, content: bytes | None = None,
                 content_type: str | None = None, url: str | None = None, title: str | None = None,
                 date: str | None = None, metadata: dict | None = None) -> dict:
        doc = {
            "id": document_id(self.source, self.location, offset),
            "source": self.source,
            "format": self.format,
            "file": self.file,
            "offset": offset,
            "url": url,
            "title": title,
            "date": date,
            "metadata": json.dumps(metadata, ensure_ascii=False, sort_keys=True, default=str) if metadata else None,
        }
        if content is not None:
            doc["content"] = content
            doc["content_type"] = content_type
        else:
            doc["text"] = text
        return doc

    def quarantine(self, offset: int, error: BaseException | str, message: str | None = None, *,
                   stage: str = "read", sample: bytes | None = None, record_id: str | None = None) -> Quarantined:
        name = error if isinstance(error, str) else type(error).__name__
        return Quarantined(
            source=self.source, format=self.format, file=self.file, offset=offset, stage=stage,
            error=name, message=message if message is not None else str(error)[:2000],
            record_id=record_id, sample=sample[:SAMPLE_BYTES] if sample else None,
        )

    def reject(self, doc: dict, reason: str, detail: str | None = None) -> Rejected:
        return Rejected(doc=doc, stage="read", reason=reason, detail=detail)
