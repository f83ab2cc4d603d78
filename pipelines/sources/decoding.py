"""Bytes to text for plain-text formats: BOMs, UTF-8, then charset detection; binary is refused."""

import codecs

import charset_normalizer

_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
_SNIFF = 8192
# Bytes that are C0 controls in every text encoding; tab, newlines, form feed and ESC (ANSI colour
# codes in old text files) are allowed.
_CONTROL = bytes(b for b in range(32) if b not in b"\t\n\r\x0c\x1b")


class BinaryContent(ValueError):
    """The bytes are not text (NUL or other control bytes)."""


class UndecodableText(ValueError):
    """No encoding decodes the bytes."""


def bom_encoding(data: bytes) -> str | None:
    for bom, name in _BOMS:
        if data.startswith(bom):
            return name
    return None


def check_not_binary(data: bytes) -> None:
    """Raise BinaryContent if the first bytes hold NULs or many control bytes (and no UTF-16/32 BOM)."""
    if bom_encoding(data) in ("utf-16", "utf-32"):
        return
    head = data[:_SNIFF]
    nul = head.find(b"\x00")
    if nul >= 0:
        raise BinaryContent(f"NUL byte at offset {nul}")
    controls = len(head) - len(head.translate(None, _CONTROL))
    if head and controls / len(head) > 0.05:
        raise BinaryContent(f"{controls} control bytes in the first {len(head)} bytes")


def decode_text(data: bytes) -> tuple[str, str]:
    """Decode file bytes to (text, encoding). Raises BinaryContent or UndecodableText.

    Order: a BOM; strict UTF-8; else charset detection. Bytes outside ASCII that all fall in
    0x80-0x9F are Windows punctuation (curly quotes, dashes), which detectors often misread as a
    DOS code page, so that case is decoded as cp1252.
    """
    check_not_binary(data)
    encoding = bom_encoding(data)
    if encoding:
        return data.decode(encoding), encoding
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    high = {b for b in data if b >= 0x80}
    if high and all(0x80 <= b <= 0x9F for b in high):
        try:
            return data.decode("cp1252"), "cp1252"
        except UnicodeDecodeError:
            pass
    best = charset_normalizer.from_bytes(data).best()
    if best is None:
        raise UndecodableText("no encoding decodes these bytes")
    if best.encoding in ("utf_8", "utf-8"):
        # Mostly UTF-8 with a few invalid bytes: keep the valid text, mark the rest.
        return data.decode("utf-8", errors="replace"), "utf-8+replace"
    return str(best), best.encoding


_KINDS = (
    (b"\x7fELF", "an ELF executable"), (b"\x1f\x8b", "gzip data"), (b"\x28\xb5\x2f\xfd", "zstd data"),
    (b"BZh", "bzip2 data"), (b"\xfd7zXZ\x00", "xz data"), (b"PK\x03\x04", "a ZIP archive"),
    (b"PAR1", "a Parquet file"), (b"%PDF", "a PDF document"), (b"\x89PNG", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"), (b"GIF8", "a GIF image"),
)


def describe_content(head: bytes) -> str:
    """What a file's first bytes look like, for messages about content that does not match the
    file's name: 'an ELF executable', 'JSON', 'zero bytes', ..."""
    if not head:
        return "nothing (no bytes)"
    for magic, kind in _KINDS:
        if head.startswith(magic):
            return kind
    if not head.strip(b"\x00"):
        return "zero bytes"
    try:
        check_not_binary(head)
    except BinaryContent:
        return "binary data"
    text = head.removeprefix(codecs.BOM_UTF8).lstrip()
    if text[:1] in (b"{", b"["):
        return "JSON"
    if text[:14].lower().startswith((b"<!doctype html", b"<html")):
        return "HTML"
    return "XML or HTML" if text[:1] == b"<" else "text"
