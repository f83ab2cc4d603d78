"""Plain text files and Project Gutenberg books; loose HTML files.

A text file is one document, or one per entry when `split` names a separator line (`%` for
fortune files). Project Gutenberg's licence header and footer are removed whenever the file has
Gutenberg's start marker.

At most `max_doc_bytes` of a file (or of one entry of a split file) is held: a larger file or entry
is rejected `too_large`, and a split file goes on with its next entry. A split file larger than
that is read more than once (its encoding is chosen from all of it first), never held whole.
"""

import codecs
import io
import re

from pipelines.sources.decoding import BinaryContent, StreamEncoding, UndecodableText, check_not_binary, decode_text
from pipelines.records import FileContext, Quarantined, Rejected
from pipelines.sources.streams import DECOMPRESSION_ERRORS, decompressed

_PIECE = 1 << 20  # characters read at a time from a split file's lines, bytes while choosing its encoding
_SAMPLE = 4 << 20  # bytes of a large split file that charset detection sees (see StreamEncoding)
# What str.splitlines breaks lines at.
_LINE_BREAKS = frozenset("\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029")
# A truncated or corrupt compressed file, or a strict decoder meeting bytes it cannot decode.
_READ_ERRORS = (*DECOMPRESSION_ERRORS, UnicodeDecodeError)

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


def _read_split(raw, ctx: FileContext, separator: str):
    """A file of entries between separator lines. A file of at most max_doc_bytes is decoded whole.
    A bigger one is read twice, never held: once to choose the encoding decode_text would give the
    whole file (see StreamEncoding; charset detection's choice is checked in a pass of its own),
    then, from the start again, entry by entry, decoded strictly with it (replacing only where
    decode_text would). Offsets are the entries' byte offsets in the file either way."""
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
            encoding, lines = _whole_encoding(head, stream, lambda: _reopened(raw, ctx), _SAMPLE), None
    except (BinaryContent, UndecodableText) as exc:
        yield ctx.quarantine(0, exc, sample=head)
        return
    if lines is None:
        head = stream = None  # not held while the entries are read
        lines = _decoded_lines(_reopened(raw, ctx), encoding)
    metadata = {"encoding": encoding} if encoding not in ("utf-8", "utf-8-sig") else {}
    entries = _split_entries(lines, separator, encoding, ctx, metadata)
    last = 0
    while True:
        try:
            item = next(entries)
        except StopIteration:
            return
        except _READ_ERRORS as exc:  # a cut or corrupt compressed file; bytes a BOM's encoding cannot decode
            yield ctx.quarantine(last, exc, f"{type(exc).__name__}: {exc} (reading stopped after offset {last})")
            return
        last = (item.doc if isinstance(item, Rejected) else item)["offset"]
        yield item


def _reopened(raw, ctx: FileContext):
    """The file decompressed again from its start."""
    raw.seek(0)
    return decompressed(raw, ctx.file)


def _whole_encoding(head: bytes, stream, reopen, sample_bytes: int) -> str:
    """The encoding of the whole stream, `head` being its first bytes, the rest read from `stream`
    (a cut or corrupt stream: of the bytes before the damage). `reopen()` gives the stream from its
    start again, for a check. Raises UndecodableText."""
    choice = StreamEncoding(sample_bytes)
    for start in range(0, len(head), _PIECE):
        choice.feed(head[start:start + _PIECE])
    try:
        read = getattr(stream, "read1", stream.read)  # what was decompressed before an error, first
        while piece := read(_PIECE):
            choice.feed(piece)
        choice.finish()
    except DECOMPRESSION_ERRORS:
        pass  # the entries before the damage are read, then it is quarantined

    def decodes(encoding: str) -> bool:
        decoder, stream = codecs.getincrementaldecoder(encoding)(), reopen()
        read = getattr(stream, "read1", stream.read)
        try:
            while piece := read(_PIECE):
                decoder.decode(piece)
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            return False
        except DECOMPRESSION_ERRORS:
            pass
        return True

    return choice.choose(decodes)


def _decoded_lines(stream, encoding: str):
    """The text of a binary stream in pieces of at most _PIECE characters that end at line breaks
    (str.splitlines' breaks) unless a line is longer; strict unless `encoding` says "+replace"."""
    codec, _, replace = encoding.partition("+")
    text = io.TextIOWrapper(stream, encoding=codec, errors="replace" if replace else "strict", newline="")
    try:
        while True:
            piece = text.readline(_PIECE)
            if not piece:
                return
            yield from piece.splitlines(keepends=True)
    finally:
        text.detach()  # the file is closed by its opener


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
