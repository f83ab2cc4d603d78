"""Plain text files and Project Gutenberg books; loose HTML files.

A text file is one document, or one per entry when `split` names a separator line (`%` for
fortune files). Project Gutenberg's licence header and footer are removed whenever the file has
Gutenberg's start marker.

At most `max_doc_bytes` of a file (or of one entry of a split file) is held: a larger file or entry
is rejected `too_large`, and a split file goes on with its next entry.
"""

import io
import re

from pipelines.sources.decoding import (BinaryContent, UndecodableText, bom_encoding, check_not_binary,
                                        decode_text)
from pipelines.sources.records import FileContext, Quarantined, Rejected
from pipelines.sources.streams import DECOMPRESSION_ERRORS, decompressed

_PIECE = 1 << 20  # characters read at a time from a split file's lines
# What str.splitlines breaks lines at.
_LINE_BREAKS = frozenset("\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029")
# A truncated or corrupt compressed file, or a strict decoder meeting bytes it cannot decode.

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
    """The decompressed file, or a too_large reject if it holds more than `limit` bytes (0: no limit),
    or a quarantine entry if it is truncated or corrupt; nothing past limit + 1 bytes is decompressed."""
    try:
        data = decompressed(raw, ctx.file).read(limit + 1 if limit else -1)
    except DECOMPRESSION_ERRORS as exc:
        return ctx.quarantine(0, exc, f"{type(exc).__name__}: {exc} (reading stopped here)")
    if limit and len(data) > limit:
        return ctx.reject(ctx.document(0, text=""), "too_large",
                          f"file of more than {limit} bytes (read no further) > max_doc_bytes={limit}")
    return data


def read_text(raw, ctx: FileContext):
    separator = ctx.options.get("split")
    if separator:
        yield from _read_split(raw, ctx, separator)
        return
    data = _read_file(raw, ctx, ctx.max_doc_bytes)
    if isinstance(data, (Rejected, Quarantined)):
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


def _split_entries(lines, separator: str, encoding: str, ctx: FileContext, metadata: dict):
    """One document per entry between separator lines; the offset is the entry's byte offset in
    the file (for a file decoded with replacements, of the re-encoded text). `lines` are pieces of
    the text that end at line breaks, except where a line longer than a piece is cut. An entry over
    max_doc_bytes is counted, not held, and rejected `too_large`."""
    limit = ctx.max_doc_bytes
    length, offset = _byte_length(encoding)
    entry_start, entry, size, line_start = offset, [], 0, True

    def finish():
        if limit and size > limit:
            return ctx.reject(ctx.document(entry_start, text=""), "too_large",
                              f"entry of {size} bytes > max_doc_bytes={limit}")
        text = "".join(entry)
        return ctx.document(entry_start, text=text.strip("\n"), metadata=metadata or None) if text.strip() else None

    for line in lines:
        n = length(line)
        offset += n
        if line_start and line.strip() == separator:
            item = finish()
            if item is not None:
                yield item
            entry, entry_start, size = [], offset, 0
        else:
            size += n
            if limit and size > limit:
                entry = []
            else:
                entry.append(line)
        line_start = line[-1:] in _LINE_BREAKS
    item = finish()
    if item is not None:
        yield item


class _Chain(io.RawIOBase):
    """`head` (bytes already read from `stream`), then the rest of `stream`."""

    def __init__(self, head: bytes, stream):
        self._head, self._stream = memoryview(head), stream

    def readable(self):
        return True

    def readinto(self, buf):
        if self._head:
            n = min(len(buf), len(self._head))
            buf[:n] = self._head[:n]
            self._head = self._head[n:]
            return n
        data = self._stream.read(len(buf))
        buf[:len(data)] = data
        return len(data)


def _read_split(raw, ctx: FileContext, separator: str):
    """A file of entries between separator lines. A file of at most max_doc_bytes is decoded whole;
    a bigger one takes its encoding from its first max_doc_bytes and is decoded as it is read."""
    limit = ctx.max_doc_bytes
    stream = decompressed(raw, ctx.file)
    try:
        head = stream.read(limit + 1 if limit else -1)
    except DECOMPRESSION_ERRORS as exc:
        yield ctx.quarantine(0, exc, f"{type(exc).__name__}: {exc} (reading stopped here)")
        return
    if not head:
        return  # the read stage records an empty file
    try:
        if not limit or len(head) <= limit:
            text, encoding = decode_text(head)
            lines = text.splitlines(keepends=True)
        else:
            check_not_binary(head)
            # Cut at a line break, so that no character is cut.
            encoding = bom_encoding(head) or decode_text(head[:head.rfind(b"\n") + 1] or head)[1]
            lines = _decoded_lines(_Chain(head, stream), encoding)
    except (BinaryContent, UndecodableText) as exc:
        yield ctx.quarantine(0, exc, sample=head)
        return
    metadata = {"encoding": encoding} if encoding not in ("utf-8", "utf-8-sig") else {}
    entries = _split_entries(lines, separator, encoding, ctx, metadata)
    last = 0
    while True:
        try:
            item = next(entries)
        except StopIteration:
            return
        except DECOMPRESSION_ERRORS as exc:  # a cut or corrupt compressed file
            yield ctx.quarantine(last, exc, f"{type(exc).__name__}: {exc} (reading stopped after offset {last})")
            return
        last = (item.doc if isinstance(item, Rejected) else item)["offset"]
        yield item


def _decoded_lines(raw: io.RawIOBase, encoding: str):
    """The text of a binary stream in pieces of at most _PIECE characters that end at line breaks
    (str.splitlines' breaks) unless a line is longer; undecodable bytes become U+FFFD."""
    text = io.TextIOWrapper(io.BufferedReader(raw, _PIECE), encoding=encoding.split("+")[0], errors="replace",
                            newline="")
    while True:
        piece = text.readline(_PIECE)
        if not piece:
            return
        yield from piece.splitlines(keepends=True)


def read_html_file(raw, ctx: FileContext):
    """A loose HTML file: one document, extracted later like a WARC response."""
    data = _read_file(raw, ctx, ctx.max_doc_bytes)
    if isinstance(data, (Rejected, Quarantined)):
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
