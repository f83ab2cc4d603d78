"""WARC files (response records, HTML extracted later) and WET files (conversion records, text).

WARC goes through warcio, which undoes chunked transfer and content encodings. warcio stops
quietly at a cut-off record, so a record whose block is shorter than its Content-Length is
quarantined here. WET is parsed by lines, as cc_net and C4 do, because WET files in the wild
(cc_net's own test data among them) carry wrong Content-Length values.
"""

from warcio.archiveiterator import ArchiveIterator
from warcio.limitreader import LimitReader

from pipelines.sources.decoding import BinaryContent, UndecodableText, decode_text
from pipelines.sources.records import FileContext
from pipelines.sources.streams import decompressed

HTML_TYPES = ("text/html", "application/xhtml+xml", "application/xml", "text/xml")
TEXT_TYPES = ("text/plain",)


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
    data = stream.read(limit + 1 if limit else -1)
    return None if limit and len(data) > limit else data


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


def read_warc(raw, ctx: FileContext):
    records = ArchiveIterator(raw, arc2warc=True)
    try:
        for record in records:
            if record.rec_type is None or not isinstance(record.raw_stream, LimitReader):
                # warcio yields a header-less record for a gzip member cut inside its headers.
                yield ctx.quarantine(records.get_record_offset(), "MalformedRecord",
                                     "record without WARC-Type or Content-Length (a truncated file?); "
                                     "reading stopped here")
                return
            kind = record.rec_type
            is_document = kind in ("response", "conversion")
            payload, described = None, None
            if is_document:
                described = _describe(record, kind)
                if described[3] is None:
                    payload = _read_at_most(record.content_stream(), ctx.max_doc_bytes)
                    if payload is None:
                        described = described[:3] + (("too_large", f"payload is larger than "
                                                                   f"max_doc_bytes={ctx.max_doc_bytes}"),)
            # Every record is read to its end (warcinfo, request, metadata, revisit ones too), so a
            # cut-off record is noticed; warcio computes the offset only then.
            _drain(record.raw_stream)
            offset = records.get_record_offset()
            if record.raw_stream.limit > 0:
                yield ctx.quarantine(offset, "TruncatedRecord",
                                     f"record block ends {record.raw_stream.limit} bytes before its "
                                     f"Content-Length; reading stopped here", sample=payload)
                return
            if is_document:
                yield _warc_document(record, kind, payload, described, offset, ctx)
    except Exception as exc:  # warcio: ArchiveLoadFailed; gzip: EOFError, zlib.error, OSError
        offset = getattr(records, "offset", 0)  # where the failing record starts
        yield ctx.quarantine(offset, exc, f"{type(exc).__name__}: {exc} (reading stopped here)")


def _warc_document(record, kind: str, payload: bytes | None, described, offset: int, ctx: FileContext):
    metadata, content_type, mime, rejected = described
    headers = record.rec_headers
    url, date = _uri(headers.get_header("WARC-Target-URI")), headers.get_header("WARC-Date")
    if rejected:
        return ctx.reject(ctx.document(offset, text="", url=url, date=date, metadata=metadata), *rejected)
    if mime in HTML_TYPES or (not mime and payload.lstrip()[:1] == b"<"):
        return ctx.document(offset, content=payload, content_type=content_type, url=url, date=date,
                            metadata=metadata)
    if mime in TEXT_TYPES:
        try:
            text, encoding = decode_text(payload)
        except (BinaryContent, UndecodableText) as exc:
            return ctx.quarantine(offset, exc, sample=payload)
        if encoding != "utf-8":
            metadata["encoding"] = encoding
        return ctx.document(offset, text=text, url=url, date=date, metadata=metadata)
    return ctx.reject(ctx.document(offset, text="", url=url, date=date, metadata=metadata),
                      "unsupported_content_type", f"content type {content_type!r}")


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
    decompressed stream (WET files are not indexed by gzip member)."""
    stream = decompressed(raw, ctx.file)
    limit = ctx.max_doc_bytes
    offset = 0
    record_start, header_lines, body, body_bytes, in_headers = None, [], [], 0, False
    previous_blank = True
    try:
        while True:
            line = stream.readline()
            if not line or (previous_blank and _is_record_start(line)):
                item = _wet_document(record_start, header_lines, body, body_bytes, ctx) \
                    if record_start is not None else None
                if item is not None:
                    yield item
                if not line:
                    return
                record_start, header_lines, body, body_bytes, in_headers = offset, [], [], 0, True
            elif in_headers:
                if line.strip():
                    header_lines.append(line)
                else:
                    in_headers = False
            elif record_start is not None:
                body_bytes += len(line)
                if not limit or body_bytes <= limit:  # past the limit the body is counted, not held
                    body.append(line)
            offset += len(line)
            previous_blank = not line.strip()
    except (EOFError, OSError) as exc:
        yield ctx.quarantine(record_start if record_start is not None else offset, exc,
                             f"{type(exc).__name__}: {exc} (reading stopped here)")


def _wet_document(offset: int, header_lines: list[bytes], body: list[bytes], body_bytes: int, ctx: FileContext):
    """A document, reject or quarantine entry for one record; None for records that are not documents."""
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
