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


def read_warc(raw, ctx: FileContext):
    records = ArchiveIterator(raw, arc2warc=True)
    offset = 0
    try:
        for record in records:
            if record.rec_type is None or not isinstance(record.raw_stream, LimitReader):
                # warcio yields a header-less record for a gzip member cut inside its headers.
                offset = records.get_record_offset()
                yield ctx.quarantine(offset, "MalformedRecord", "record without WARC-Type or Content-Length "
                                     "(a truncated file?); reading stopped here")
                return
            kind = record.rec_type
            # warcinfo, request, metadata, resource and revisit records are not documents, but are
            # read to their end too, so a cut-off one is noticed.
            payload = record.content_stream().read() if kind in ("response", "conversion") else None
            record.raw_stream.read()
            # warcio reads the record to its end to compute the offset, so ask only after reading.
            offset = records.get_record_offset()
            if record.raw_stream.limit > 0:
                yield ctx.quarantine(offset, "TruncatedRecord",
                                     f"record block ends {record.raw_stream.limit} bytes before its "
                                     f"Content-Length; reading stopped here", sample=payload)
                return
            if payload is None:
                continue
            try:
                yield from _warc_document(record, kind, payload, offset, ctx)
            except (BinaryContent, UndecodableText) as exc:
                yield ctx.quarantine(offset, exc, sample=payload)
    except Exception as exc:  # warcio: ArchiveLoadFailed; gzip: EOFError, zlib.error, OSError
        yield ctx.quarantine(offset, exc, f"{type(exc).__name__}: {exc} (reading stopped here)")


def _warc_document(record, kind: str, payload: bytes, offset: int, ctx: FileContext):
    headers = record.rec_headers
    metadata = {"warc_record_id": headers.get_header("WARC-Record-ID")}
    url, date = _uri(headers.get_header("WARC-Target-URI")), headers.get_header("WARC-Date")
    if kind == "response" and record.http_headers is not None:
        status = record.http_headers.get_statuscode()
        content_type = record.http_headers.get_header("Content-Type")
        metadata.update(http_status=int(status) if status and status.isdigit() else status,
                        content_type=content_type)
    else:
        status, content_type = None, record.content_type
        metadata["content_type"] = content_type
    mime = _mime(content_type)
    if kind == "response" and not str(status).startswith("2"):
        doc = ctx.document(offset, text="", url=url, date=date, metadata=metadata)
        yield ctx.reject(doc, "http_status", f"HTTP status {status}")
    elif mime in HTML_TYPES or (kind == "response" and not mime and payload.lstrip()[:1] == b"<"):
        yield ctx.document(offset, content=payload, content_type=content_type, url=url, date=date,
                           metadata=metadata)
    elif mime in TEXT_TYPES:
        text, encoding = decode_text(payload)
        if encoding != "utf-8":
            metadata["encoding"] = encoding
        yield ctx.document(offset, text=text, url=url, date=date, metadata=metadata)
    else:
        doc = ctx.document(offset, text="", url=url, date=date, metadata=metadata)
        yield ctx.reject(doc, "unsupported_content_type", f"content type {content_type!r}")


def _is_record_start(line: bytes) -> bool:
    return line.rstrip(b"\r\n") in (b"WARC/1.0", b"WARC/1.1")


def _parse_headers(lines: list[bytes]) -> dict:
    headers = {}
    for line in lines:
        key, sep, value = line.decode("utf-8", errors="replace").partition(":")
        if sep:
            headers[key.strip().lower()] = value.strip()
    return headers


def read_wet(raw, ctx: FileContext):
    """Records start at a `WARC/1.x` line at file start or after a blank line; headers end at the
    first blank line; the body runs to the next record start."""
    stream = decompressed(raw, ctx.file)
    offset = 0
    record_start, header_lines, body, in_headers = None, [], [], False
    previous_blank = True
    try:
        while True:
            line = stream.readline()
            if not line or (previous_blank and _is_record_start(line)):
                if record_start is not None:
                    yield from _wet_document(record_start, header_lines, body, ctx)
                if not line:
                    return
                record_start, header_lines, body, in_headers = offset, [], [], True
            elif in_headers:
                if line.strip():
                    header_lines.append(line)
                else:
                    in_headers = False
            elif record_start is not None:
                body.append(line)
            offset += len(line)
            previous_blank = not line.strip()
    except (EOFError, OSError) as exc:
        yield ctx.quarantine(record_start if record_start is not None else offset, exc,
                             f"{type(exc).__name__}: {exc} (reading stopped here)")


def _wet_document(offset: int, header_lines: list[bytes], body: list[bytes], ctx: FileContext):
    headers = _parse_headers(header_lines)
    if headers.get("warc-type") != "conversion":
        return
    payload = b"".join(body).rstrip(b"\r\n")
    try:
        text, encoding = decode_text(payload) if payload else ("", "utf-8")
    except (BinaryContent, UndecodableText) as exc:
        yield ctx.quarantine(offset, exc, sample=payload)
        return
    metadata = {"warc_record_id": headers.get("warc-record-id"), "content_type": headers.get("content-type")}
    if encoding != "utf-8":
        metadata["encoding"] = encoding
    yield ctx.document(offset, text=text, url=_uri(headers.get("warc-target-uri")), date=headers.get("warc-date"),
                       metadata=metadata)
