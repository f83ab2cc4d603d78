"""Plain text files and Project Gutenberg books; loose HTML files.

A text file is one document, or one per entry when `split` names a separator line (`%` for
fortune files). Project Gutenberg's licence header and footer are removed whenever the file has
Gutenberg's start marker.
"""

import re

from pipelines.sources.decoding import BinaryContent, UndecodableText, check_not_binary, decode_text
from pipelines.sources.records import FileContext, Rejected
from pipelines.sources.streams import decompressed

SPLIT_FILE_FACTOR = 64  # a file split into entries may hold this many max-size documents

_PG_START = re.compile(
    r"^\s*(?:\*{3}\s*START OF (?:THE|THIS) PROJECT GUTENBERG E-?BOOK[^\n]*"
    r"|\*END\*THE SMALL PRINT[^\n]*"
    r"|\*{3}\s*START OF THE PROJECT GUTENBERG[^\n]*)$",
    re.IGNORECASE | re.MULTILINE,
)
_PG_END = re.compile(
    r"^\s*(?:\*{3}\s*END OF (?:THE|THIS) PROJECT GUTENBERG E-?BOOK[^\n]*"
    r"|End of (?:the )?Project Gutenberg(?:['\u2019]s)?\s[^\n]*"
    r"|\*{3}\s*END OF THE PROJECT GUTENBERG[^\n]*)$",
    re.IGNORECASE | re.MULTILINE,
)
_PG_TITLE = re.compile(r"^Title:\s*(.+)$", re.MULTILINE)


def strip_gutenberg(text: str) -> tuple[str, str | None] | None:
    """(body, title) without Project Gutenberg's header and footer, or None if not a PG text."""
    start = _PG_START.search(text)
    if not start:
        return None
    header = text[: start.start()]
    end = _PG_END.search(text, start.end())
    body = text[start.end(): end.start() if end else len(text)]
    title = _PG_TITLE.search(header)
    return body.strip("\r\n"), title.group(1).strip() if title else None


def _read_file(raw, ctx: FileContext, limit: int):
    """The decompressed file, or a too_large reject if it holds more than `limit` bytes (0: no limit).

    A truncated or corrupt compressed file raises (EOFError, OSError, zlib.error); the read stage
    quarantines it.
    """
    data = decompressed(raw, ctx.file).read(limit + 1 if limit else -1)
    if limit and len(data) > limit:
        return ctx.reject(ctx.document(0, text=""), "too_large", f"file is larger than {limit} bytes")
    return data


def read_text(raw, ctx: FileContext):
    separator = ctx.options.get("split")
    # A split file holds many documents, each checked against max_doc_bytes by the read stage.
    data = _read_file(raw, ctx, ctx.max_doc_bytes * SPLIT_FILE_FACTOR if separator else ctx.max_doc_bytes)
    if isinstance(data, Rejected):
        yield data
        return
    if not data:
        return  # the read stage records an empty file
    try:
        text, encoding = decode_text(data)
    except (BinaryContent, UndecodableText) as exc:
        yield ctx.quarantine(0, exc, sample=data)
        return
    metadata = {"encoding": encoding} if encoding not in ("utf-8", "utf-8-sig") else {}
    if separator:
        yield from _split_entries(text, separator, encoding, ctx, metadata)
        return
    title = None
    stripped = strip_gutenberg(text)
    if stripped is not None:
        text, title = stripped
        metadata["gutenberg_stripped"] = True
    yield ctx.document(0, text=text, title=title, metadata=metadata or None)


def _byte_length(encoding: str):
    """A function giving the encoded length of a piece of the decoded text, and the length of the
    byte-order mark before the first piece."""
    codec = encoding.split("+")[0]
    if codec in ("utf-16", "utf-32"):  # decode_text only names these when the file has a BOM
        return (lambda piece: len(piece.encode(codec + "-le"))), (2 if codec == "utf-16" else 4)
    if codec == "utf-8-sig":
        return (lambda piece: len(piece.encode("utf-8"))), 3
    return (lambda piece: len(piece.encode(codec, errors="replace"))), 0


def _split_entries(text: str, separator: str, encoding: str, ctx: FileContext, metadata: dict):
    """One document per entry between separator lines; the offset is the entry's byte offset in
    the file (for a file decoded with replacements, of the re-encoded text)."""
    length, offset = _byte_length(encoding)
    entry_start, entry = offset, []
    for line in text.splitlines(keepends=True):
        offset += length(line)
        if line.strip() == separator:
            if "".join(entry).strip():
                yield ctx.document(entry_start, text="".join(entry).strip("\n"), metadata=metadata or None)
            entry, entry_start = [], offset
        else:
            entry.append(line)
    if "".join(entry).strip():
        yield ctx.document(entry_start, text="".join(entry).strip("\n"), metadata=metadata or None)


def read_html_file(raw, ctx: FileContext):
    """A loose HTML file: one document, extracted later like a WARC response."""
    data = _read_file(raw, ctx, ctx.max_doc_bytes)
    if isinstance(data, Rejected):
        yield data
        return
    if not data:
        return
    try:
        check_not_binary(data)
    except BinaryContent as exc:
        yield ctx.quarantine(0, exc, sample=data)
        return
    yield ctx.document(0, content=data, content_type="text/html")
