"""Document JSONL (.jsonl, .json.gz, .jsonl.zst, ...) and Parquet files.

The text is the `text_field` option, or else the first of `text`, `raw_content` (cc_net) and
`content`. `url`, `title` and `date` come from the record or its `metadata` object; every other
field is kept in the document's metadata JSON.
"""

import json
import zlib

import pyarrow.parquet as pq
import zstandard

from pipelines.sources.records import SAMPLE_BYTES, FileContext
from pipelines.sources.streams import decompressed

TEXT_FIELDS = ("text", "raw_content", "content")
_DATE_FIELDS = ("date", "created", "timestamp")


def _pick(record: dict, names) -> object:
    nested = record.get("metadata") if isinstance(record.get("metadata"), dict) else {}
    for name in names:
        for holder in (record, nested):
            value = holder.get(name)
            if value is not None:
                return value
    return None


def record_to_document(record: dict, offset: int, ctx: FileContext):
    """A document from one JSON object or Parquet row, or a quarantine entry if it has no text."""
    text_field = ctx.options.get("text_field")
    names = (text_field,) if text_field else TEXT_FIELDS
    field = next((n for n in names if n in record), None)
    text = record.get(field) if field else None
    if not isinstance(text, str):
        found = f"{field!r} is {type(text).__name__}" if field else f"none of {list(names)} present"
        return ctx.quarantine(offset, "NoTextField", f"record has no text field: {found}",
                              sample=json.dumps(record, default=str)[:SAMPLE_BYTES].encode())
    url, title, date = _pick(record, ("url",)), _pick(record, ("title",)), _pick(record, _DATE_FIELDS)
    metadata = {k: v for k, v in record.items() if k != field}
    return ctx.document(offset, text=text, url=str(url) if url is not None else None,
                        title=str(title) if title is not None else None,
                        date=str(date) if date is not None else None, metadata=metadata or None)


def _lines(stream, limit: int):
    """(offset, line, too_long) for each line; a line over `limit` bytes is skipped, not held."""
    offset = 0
    while True:
        line = stream.readline(limit + 1 if limit > 0 else -1)
        if not line:
            return
        start, offset = offset, offset + len(line)
        too_long = limit > 0 and len(line) > limit and not line.endswith(b"\n")
        while too_long and not line.endswith(b"\n"):
            line = stream.readline(1 << 20)
            offset += len(line)
            if not line:
                break
        yield start, offset - start, line, too_long


def read_jsonl(raw, ctx: FileContext):
    limit = ctx.max_doc_bytes
    lines = _lines(decompressed(raw, ctx.file), limit)
    position = 0  # where the next line starts
    while True:
        try:
            start, length, line, too_long = next(lines)
        except StopIteration:
            return
        except (EOFError, OSError, zlib.error, zstandard.ZstdError) as exc:  # truncated or corrupt
            yield ctx.quarantine(position, exc, f"{type(exc).__name__}: {exc} (reading stopped here)")
            return
        position = start + length
        if too_long:
            yield ctx.reject(ctx.document(start, text=""), "too_large",
                             f"line of {length} bytes is larger than max_doc_bytes={limit}")
            continue
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except (ValueError, RecursionError) as exc:  # JSONDecodeError, UnicodeDecodeError, absurd nesting
            yield ctx.quarantine(start, exc, f"{type(exc).__name__}: {str(exc)[:500]}", sample=line)
            continue
        if not isinstance(record, dict):
            yield ctx.quarantine(start, "NotAnObject", f"JSON line is a {type(record).__name__}, not an object",
                                 sample=line)
            continue
        yield record_to_document(record, start, ctx)


def read_parquet(raw, ctx: FileContext):
    parquet = pq.ParquetFile(raw)
    row = 0
    for batch in parquet.iter_batches(batch_size=1024):
        for record in batch.to_pylist():
            yield record_to_document(record, row, ctx)
            row += 1
