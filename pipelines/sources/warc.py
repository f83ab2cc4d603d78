"""WARC files (response records, HTML extracted later) and WET files (conversion records, text).

WARC records are parsed by warcio; chunked transfer and content encodings are undone here, with
warcio's de-chunker. warcio stops quietly at a cut-off record, so a record whose block is
shorter than its Content-Length is quarantined here. WET is parsed by lines, as cc_net and C4
do, because WET files in the wild (cc_net's own test data among them) carry wrong
Content-Length values.

Both readers hold at most max_doc_bytes of a record (plus a constant), whatever the file holds:
lines are read in bounded pieces, headers are bounded, decompression goes no further than a read
asks. A file whose content is not WARC (or ARC) is quarantined as a FormatMismatch rather than
parsed as something else.
"""

import io
import zlib

from warcio.archiveiterator import ArchiveIterator
from warcio.bufferedreaders import BufferedReader, ChunkedDataReader
from warcio.limitreader import LimitReader
from warcio.utils import BUFF_SIZE

from pipelines.sources.decoding import BinaryContent, UndecodableText, decode_text, describe_content
from pipelines.records import FileContext
from pipelines.sources.streams import (DECOMPRESSION_ERRORS, GzipMembers, Prefixed, decompress_as, decompressed,
                                       read_head, sniff_compression)

try:  # as in warcio: brotli bodies are decoded only where brotli is installed
    import brotli
except ImportError:  # pragma: no cover
    brotli = None

HTML_TYPES = ("text/html", "application/xhtml+xml", "application/xml", "text/xml")
TEXT_TYPES = ("text/plain",)

_HEADER_BYTES = 1 << 20  # a record's header lines together (WARC and HTTP); real ones take a few kB
_LINE_BYTES = 1 << 20  # WET lines are read in pieces of at most this
_SNIFF_BYTES = 1024
_SLACK = 1 << 20  # what chunked framing may add to a body that decodes to max_doc_bytes
_PIECE = 1 << 20
_ENCODED_INPUT = 1 << 16


class OversizedHeader(ValueError):
    """A record's header lines take more than _HEADER_BYTES."""


class ContentDecodingError(ValueError):
    """An HTTP body is not valid for its Content-Encoding."""


_BROTLI_ERRORS = (brotli.error,) if brotli else ()


def _short(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {str(exc)[:300]}"


def _uri(value: str | None) -> str | None:
    # WARC 1.0 writers such as wget wrap the URI in angle brackets.
    return value.strip().strip("<>") if value else value


def _mime(content_type: str | None) -> str:
    return (content_type or "").split(";")[0].strip().lower()


def _drain(stream) -> None:
    while stream.read(1 << 20):
        pass


def _read_at_most(stream, limit: int) -> bytes | None:
    """The stream's bytes, or None if it holds more than `limit` (0: no limit). Decoded HTTP bodies
    can be far larger than their record (gzip), so the decoded size is what is bounded."""
    parts, size = [], 0
    while not limit or size <= limit:
        part = stream.read(min(_PIECE, limit + 1 - size) if limit else _PIECE)
        if not part:
            break
        parts.append(part)
        size += len(part)
    return None if limit and size > limit else b"".join(parts)


def _describe(record, kind: str) -> tuple[dict, str | None, str | None, tuple[str, str] | None]:
    """(metadata, content type, MIME type, reject reason and detail or None) from the headers alone,
    so records that will be rejected are never read into memory."""
    headers = record.rec_headers
    metadata = {"warc_record_id": headers.get_header("WARC-Record-ID")}
    if kind == "conversion":
        metadata["content_type"] = record.content_type
        return metadata, record.content_type, _mime(record.content_type), None
    if record.http_headers is None:  # dns: and other non-HTTP responses
        metadata["content_type"] = record.content_type
        return metadata, record.content_type, None, ("not_http", f"record content type {record.content_type!r}")
    status = record.http_headers.get_statuscode()
    content_type = record.http_headers.get_header("Content-Type")
    metadata.update(http_status=int(status) if status and status.isdigit() else status, content_type=content_type)
    mime = _mime(content_type)
    if not str(status).startswith("2"):
        return metadata, content_type, mime, ("http_status", f"HTTP status {status}")
    if mime and mime not in HTML_TYPES + TEXT_TYPES:
        return metadata, content_type, mime, ("unsupported_content_type", f"content type {content_type!r}")
    return metadata, content_type, mime, None


class _Decoded:
    """An HTTP body undone from its Content-Encoding, inflating at most what each read asks
    (warcio inflates a whole chunk or block at once, so a small body could expand without
    bound). As in warcio, a body that fails to decode from its first bytes on is taken as not
    encoded after all; one that fails later raises ContentDecodingError."""

    def __init__(self, stream, encoding: str):
        self._stream, self._encoding = stream, encoding
        self._decoder = self._new(encoding)
        self._tail = b""  # input not yet decoded (zlib), or raw bytes to pass through
        self._seen = []  # the input read before the first output, to pass through if decoding fails
        self._output = False
        self._done = False
        self._passthrough = False

    @staticmethod
    def _new(encoding: str):
        if encoding == "br":
            return brotli.Decompressor()
        return zlib.decompressobj({"gzip": 16 + zlib.MAX_WBITS, "deflate": zlib.MAX_WBITS,
                                   "raw-deflate": -zlib.MAX_WBITS}[encoding])

    def read(self, size: int) -> bytes:
        while True:
            if self._passthrough:
                if self._tail:
                    data, self._tail = self._tail[:size], self._tail[size:]
                    return data
                return self._stream.read(size)
            if self._done:
                return b""
            try:
                data = self._step(size)
            except (zlib.error, *_BROTLI_ERRORS) as exc:
                if self._output:
                    raise ContentDecodingError(f"{self._encoding} body: {str(exc)[:200]}") from None
                if self._encoding == "deflate":  # servers send raw deflate as "deflate" too
                    self._encoding, self._decoder = "raw-deflate", self._new("raw-deflate")
                    self._tail = b"".join(self._seen)
                else:
                    self._passthrough, self._tail = True, b"".join(self._seen)
                continue
            if data:
                self._output, self._seen = True, []
                return data

    def _step(self, size: int) -> bytes:
        """One decoding step: some output, or b"" (with self._done set at the end)."""
        decoder = self._decoder
        if self._encoding == "br":
            chunk = b""
            if decoder.can_accept_more_data():  # else output is still held back from the last input
                chunk = self._stream.read(_ENCODED_INPUT)
                if not self._output:
                    self._seen.append(chunk)
                if not chunk:  # a cut-off body ends here, as in warcio
                    self._done = True
                    return b""
            data = decoder.process(chunk, output_buffer_limit=size)
            self._done = decoder.is_finished()
            return data
        if not self._tail:
            self._tail = self._stream.read(_ENCODED_INPUT)
            if not self._output:
                self._seen.append(self._tail)
            if not self._tail:  # a cut-off body ends here, as in warcio
                self._done = True
                return decoder.decompress(b"", size)
        data = decoder.decompress(self._tail, size)
        self._tail = decoder.unconsumed_tail
        self._done = decoder.eof
        return data


_ENCODINGS = ("gzip", "deflate", "br") if brotli else ("gzip", "deflate")


def _content_stream(record):
    """The record's payload, undone from chunked transfer and content encoding (as warcio's
    content_stream, with bounded inflation)."""
    if not record.http_headers:
        return record.raw_stream
    stream = record.raw_stream
    if record.http_headers.get_header("transfer-encoding") == "chunked":
        stream = ChunkedDataReader(stream)
    encoding = (record.http_headers.get_header("content-encoding") or "").lower()
    return _Decoded(stream, encoding) if encoding in _ENCODINGS else stream


def _payload(record, limit: int) -> tuple[bytes | None, str | None]:
    """(payload, None), or (None, why it is too large)."""
    size = record.raw_stream.limit  # the body's bytes left after the HTTP headers
    if limit and size > limit + _SLACK:  # no content encoding makes a body smaller than this
        return None, f"payload of {size} bytes > max_doc_bytes={limit}"
    payload = _read_at_most(_content_stream(record), limit)
    if payload is None:
        return None, f"payload over max_doc_bytes={limit} once decoded ({limit + 1} bytes read so far)"
    return payload, None


class _Lines(BufferedReader):
    """warcio's line reader with a record's header lines bounded: warcio reads each header line
    whole, so a file of zeros or one long line would be held entire. Decompression is done before
    warcio sees the stream."""

    def __init__(self, stream):
        super().__init__(stream, block_size=BUFF_SIZE)
        self.header_bytes = 0  # read by readline since the last read or record start

    def read(self, length=None):
        self.header_bytes = 0
        return super().read(length)

    def readline(self, length=None):
        room = _HEADER_BYTES - self.header_bytes + 1
        want = room if length is None or length < 0 else min(length, room)
        parts = []
        while want > 0:
            if self.empty():
                self._fillbuff()
                if self.empty():
                    break
            part = self.buff.readline(want)
            parts.append(part)
            want -= len(part)
            if part.endswith(b"\n"):
                break
        line = b"".join(parts)
        self.header_bytes += len(line)
        if self.header_bytes > _HEADER_BYTES:
            raise OversizedHeader(f"record headers longer than {_HEADER_BYTES} bytes (a line without end, "
                                  f"or not a WARC record)")
        return line


class _Archive(ArchiveIterator):
    def __init__(self, stream):
        super().__init__(stream, arc2warc=True)
        self.reader = _Lines(self.fh)


def _open_archive(raw):
    """(decompressed stream, GzipMembers or None). The compression is sniffed from the first bytes,
    as warcio does, whatever the file's name says."""
    magic = read_head(raw, 6)
    kind = sniff_compression(magic)
    raw = Prefixed(magic, raw)
    if kind == "gzip":
        members = GzipMembers(raw)
        return io.BufferedReader(members, 1 << 20), members
    return (decompress_as(raw, kind) if kind else raw), None


def read_warc(raw, ctx: FileContext):
    """WARC (and ARC) records, gzipped per record or whole, or compressed with zstd, bzip2 or xz.

    A record's offset is where it starts in the file for an uncompressed file and for a gzip file
    with one member per record (the norm, what WARC indexes point at). Otherwise (a WARC gzipped
    as one member, or compressed another way) it is the record's offset in the decompressed
    stream: a member holding several records has one file offset for all of them.

    Ids are document_id(source, location, offset), so a WARC gzipped whole has the ids of the
    uncompressed WARC. A gzip file can mix the two numberings (a member holding several records
    next to members of one record), where a record starting a member at file offset N and a
    record inside a member at offset N of the decompressed stream are two records: a record whose
    offset is no larger than the last offset given a plain id in the other numbering has its id in
    a space of its own numbering, document_id(source, location, offset, "gzip-member" or
    "decompressed"), so that ids are unique within a file. Files of one record per member and
    files of one member never meet that case; their ids are the plain ones.
    """
    records, members = None, None
    pos, inside = 0, False  # the current record's start, or the end of the last one (decompressed)
    plain = {"gzip-member": -1, "decompressed": -1}  # the last offset given a plain id, per numbering

    def where(decompressed_pos: int, exact: bool = True) -> int:
        at = members.file_offset(decompressed_pos, exact) if members else None
        return decompressed_pos if at is None else at

    def place(decompressed_pos: int) -> tuple[int, str | None]:
        """The offset of the record starting at `decompressed_pos` and the space of its id (None:
        plain). Both numberings increase through the file, so comparing with the other's last
        plain offset is enough to keep the plain ids apart."""
        if members is None:
            return decompressed_pos, None
        at = members.file_offset(decompressed_pos)
        space, other = ("decompressed", "gzip-member") if at is None else ("gzip-member", "decompressed")
        offset = decompressed_pos if at is None else at
        if offset <= plain[other]:
            return offset, space
        plain[space] = offset
        return offset, None

    try:
        stream, members = _open_archive(raw)
        head = read_head(stream, _SNIFF_BYTES)
        if not head:
            return  # the read stage records an empty file
        if not head.startswith((b"WARC/", b"filedesc://")):  # ARC files start with their filedesc record
            yield ctx.quarantine(0, "FormatMismatch", f"the content is not WARC or ARC: it looks like "
                                 f"{describe_content(head)} (first bytes {head[:32]!r})", sample=head)
            return
        records = _Archive(Prefixed(head, stream))
        for record in records:
            records.reader.header_bytes = 0
            pos, inside = records.offset, True
            if record.rec_type is None or not isinstance(record.raw_stream, LimitReader):
                # warcio yields a header-less record for a gzip member cut inside its headers.
                yield ctx.quarantine(where(pos), "MalformedRecord",
                                     "record without WARC-Type or Content-Length (a truncated file?); "
                                     "reading stopped here")
                return
            kind = record.rec_type
            is_document = kind in ("response", "conversion")
            payload, described, undecodable = None, None, None
            if is_document:
                described = _describe(record, kind)
                if described[3] is None:
                    try:
                        payload, too_large = _payload(record, ctx.max_doc_bytes)
                    except ContentDecodingError as exc:
                        undecodable, too_large = exc, None
                    if too_large:
                        described = described[:3] + (("too_large", too_large),)
            # Every record is read to its end (warcinfo, request, metadata, revisit ones too), so a
            # cut-off record is noticed.
            _drain(record.raw_stream)
            offset, space = place(pos)
            if record.raw_stream.limit > 0:
                yield ctx.quarantine(offset, "TruncatedRecord",
                                     f"record block ends {record.raw_stream.limit} bytes before its "
                                     f"Content-Length; reading stopped here", sample=payload)
                return
            pos, inside = records.fh.tell() - records.reader.rem_length(), False
            if undecodable is not None:
                yield ctx.quarantine(offset, undecodable)
            elif is_document:
                yield _warc_document(record, kind, payload, described, offset, space, ctx)
    except Exception as exc:  # warcio: ArchiveLoadFailed; decompression: EOFError, zlib.error, OSError
        if inside:  # in the record starting at pos
            offset = where(pos)
        elif records is not None and records.offset >= pos:  # in the next record's headers
            offset = where(records.offset)
        else:  # after the record ending at pos
            offset = where(pos, exact=False)
        if isinstance(exc, EOFError):
            yield ctx.quarantine(offset, "TruncatedRecord", f"the file ends inside this record ({_short(exc)}); "
                                 f"reading stopped here")
        else:
            yield ctx.quarantine(offset, exc, f"{_short(exc)} (reading stopped here)")


def _warc_document(record, kind: str, payload: bytes | None, described, offset: int, space: str | None,
                   ctx: FileContext):
    metadata, content_type, mime, rejected = described
    headers = record.rec_headers
    fields = dict(url=_uri(headers.get_header("WARC-Target-URI")), date=headers.get_header("WARC-Date"),
                  metadata=metadata, offset_space=space)
    if rejected:
        return ctx.reject(ctx.document(offset, text="", **fields), *rejected)
    if mime in HTML_TYPES or (not mime and payload.lstrip()[:1] == b"<"):
        return ctx.document(offset, content=payload, content_type=content_type, **fields)
    if mime in TEXT_TYPES:
        try:
            text, encoding = decode_text(payload)
        except (BinaryContent, UndecodableText) as exc:
            return ctx.quarantine(offset, exc, sample=payload)
        if encoding != "utf-8":
            metadata["encoding"] = encoding
        return ctx.document(offset, text=text, **fields)
    return ctx.reject(ctx.document(offset, text="", **fields), "unsupported_content_type",
                      f"content type {content_type!r}")


def _is_record_start(line: bytes) -> bool:
    return line.rstrip(b"\r\n") in (b"WARC/1.0", b"WARC/1.1")


def _parse_headers(lines: list[bytes]) -> dict:
    headers = {}
    for line in lines:
        key, sep, value = line.decode("utf-8", errors="replace").partition(":")
        if sep:
            headers[key.strip().lower()] = value.strip()
    return headers


# Record types that carry no document; any other type that is not `conversion` is quarantined.
_WET_NON_DOCUMENTS = ("warcinfo", "metadata", "request", "response", "resource", "revisit")


def read_wet(raw, ctx: FileContext):
    """Records start at a `WARC/1.x` line at file start or after a blank line; headers end at the
    first blank line; the body runs to the next record start. Offsets are positions in the
    decompressed stream (WET files are not indexed by gzip member).

    Lines are read in pieces of at most _LINE_BYTES, and a body is counted, not held, past
    max_doc_bytes, so a huge record is rejected and reading goes on with the next one. A file
    whose first line (blank lines aside) is not a record start is not a WET file."""
    stream = decompressed(raw, ctx.file)
    limit = ctx.max_doc_bytes
    offset = 0
    record_start, header_lines, header_bytes, body, body_bytes, in_headers = None, [], 0, [], 0, False
    previous_blank, line_start = True, True
    try:
        while True:
            piece = stream.readline(_LINE_BYTES)
            starts_line, line_start = line_start, piece.endswith(b"\n")
            if not piece or (starts_line and previous_blank and _is_record_start(piece)):
                item = _wet_document(record_start, header_lines, header_bytes, body, body_bytes, ctx) \
                    if record_start is not None else None
                if item is not None:
                    yield item
                if not piece:
                    return
                record_start, header_lines, header_bytes, body, body_bytes, in_headers = offset, [], 0, [], 0, True
            elif record_start is None:
                if piece.strip():
                    yield ctx.quarantine(0, "FormatMismatch", f"the content is not WET: it looks like "
                                         f"{describe_content(piece[:_SNIFF_BYTES])} (first bytes {piece[:32]!r})",
                                         sample=piece)
                    return
            elif in_headers:
                if starts_line and not piece.strip():
                    in_headers = False
                else:
                    header_bytes += len(piece)
                    if header_bytes <= _HEADER_BYTES:
                        header_lines.append(piece)
            else:
                body_bytes += len(piece)
                if not limit or body_bytes <= limit:  # past the limit the body is counted, not held
                    body.append(piece)
            offset += len(piece)
            previous_blank = starts_line and line_start and not piece.strip()
    except DECOMPRESSION_ERRORS as exc:
        yield ctx.quarantine(record_start if record_start is not None else offset, exc,
                             f"{_short(exc)} (reading stopped here)")


def _wet_document(offset: int, header_lines: list[bytes], header_bytes: int, body: list[bytes], body_bytes: int,
                  ctx: FileContext):
    """A document, reject or quarantine entry for one record; None for records that are not documents."""
    if header_bytes > _HEADER_BYTES:
        return ctx.quarantine(offset, "MalformedRecord", f"record headers longer than {_HEADER_BYTES} bytes",
                              sample=b"".join(header_lines))
    headers = _parse_headers(header_lines)
    kind = headers.get("warc-type")
    url, date = _uri(headers.get("warc-target-uri")), headers.get("warc-date")
    metadata = {"warc_record_id": headers.get("warc-record-id"), "content_type": headers.get("content-type")}
    if kind in _WET_NON_DOCUMENTS:
        return None
    if kind != "conversion":
        return ctx.quarantine(offset, "MalformedRecord", f"WARC-Type {kind!r} in a WET file",
                              sample=b"".join(header_lines))
    if ctx.max_doc_bytes and body_bytes > ctx.max_doc_bytes:
        return ctx.reject(ctx.document(offset, text="", url=url, date=date, metadata=metadata), "too_large",
                          f"{body_bytes} bytes > max_doc_bytes={ctx.max_doc_bytes}")
    payload = b"".join(body).rstrip(b"\r\n")
    try:
        text, encoding = decode_text(payload) if payload else ("", "utf-8")
    except (BinaryContent, UndecodableText) as exc:
        return ctx.quarantine(offset, exc, sample=payload)
    if encoding != "utf-8":
        metadata["encoding"] = encoding
    return ctx.document(offset, text=text, url=url, date=date, metadata=metadata)
