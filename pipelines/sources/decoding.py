"""Bytes to text for plain-text formats: BOMs, UTF-8, then charset detection; binary is refused."""

import codecs
import re

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
    if encoding:  # the BOM names the encoding; a few invalid bytes after it are replaced, not fatal
        try:
            return data.decode(encoding), encoding
        except UnicodeDecodeError:
            return data.decode(encoding, errors="replace"), encoding + "+replace"
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


_NOT_ASCII = re.compile(rb"[\x80-\xff]")
_BELOW_LATIN1 = bytes(range(0xA0))  # deleted, what is left of a piece is its bytes 0xA0-0xFF
_SAMPLE_LINE = 4096  # longer lines are left out of a detection sample


class StreamEncoding:
    """decode_text's choice of encoding for a stream too large to hold, made from its pieces in
    order (feed each, finish, then choose): a BOM; UTF-8 if the whole stream decodes strictly as
    UTF-8; cp1252 if every byte over 0x7F is in 0x80-0x9F and cp1252 decodes them all; else charset
    detection, kept only if it decodes the whole stream, else cp1252 or latin-1.

    Charset detection sees the whole stream if it is at most `sample_bytes` long (then the choice
    is decode_text's), else its first sample_bytes / 2 (cut at a line end) and up to as much again
    of the lines holding bytes over 0x7F after them, from anywhere in the stream: a file whose first
    megabytes are ASCII is judged by its other characters. Nothing else is held."""

    def __init__(self, sample_bytes: int):
        self._utf8 = codecs.getincrementaldecoder("utf-8")()
        self._cp1252 = codecs.getincrementaldecoder("cp1252")()
        self.bom = None
        self.utf8 = self.cp1252 = True
        self.only_c1 = True  # every byte over 0x7F is in 0x80-0x9F
        self._budget = sample_bytes
        self._head, self._head_size = [], 0  # the stream's first bytes, up to the budget
        self._lines, self._room = [], sample_bytes // 2  # lines over 0x7F after the first half
        self._partial, self._long_line = b"", False  # a line begun in the last piece
        self._pos = 0  # stream offset of the next piece

    def feed(self, data: bytes) -> None:
        if not self._pos:
            self.bom = bom_encoding(data)
        if self.utf8:
            try:
                self._utf8.decode(data)
            except UnicodeDecodeError:
                self.utf8 = False
        if self.cp1252:
            try:
                self._cp1252.decode(data)
            except UnicodeDecodeError:
                self.cp1252 = False
        if self.only_c1 and data.translate(None, _BELOW_LATIN1):
            self.only_c1 = False
        if self._head_size < self._budget:
            part = data[:self._budget - self._head_size]
            self._head.append(part)
            self._head_size += len(part)
        if self._room > 0 and self._pos + len(data) > self._budget // 2:
            self._take_lines(data, max(self._budget // 2 - self._pos, 0))
        self._pos += len(data)

    def _take_lines(self, data: bytes, skip: int) -> None:
        """Lines of `data` holding bytes over 0x7F into the sample, none starting before `skip`."""
        if self._long_line:  # the rest of a line too long for the sample
            end = data.find(b"\n") + 1
            if not end:
                return
            data, skip, self._long_line = data[end:], max(skip - end, 0), False
        data, skip = self._partial + data, skip + len(self._partial)
        end = data.rfind(b"\n") + 1
        self._partial = data[end:]
        if len(self._partial) > _SAMPLE_LINE:
            self._partial, self._long_line = b"", True
        begin = data.rfind(b"\n", 0, skip) + 1 if skip else 0
        while self._room > 0:
            found = _NOT_ASCII.search(data, begin, end)
            if not found:
                return
            start = data.rfind(b"\n", begin, found.start()) + 1 or begin
            stop = data.find(b"\n", found.start(), end) + 1
            if stop - start <= min(_SAMPLE_LINE, self._room):
                self._lines.append(data[start:stop])
                self._room -= stop - start
            begin = stop

    def finish(self) -> None:
        """The stream has ended (a multi-byte character cut at its end does not decode)."""
        for decoder, attribute in ((self._utf8, "utf8"), (self._cp1252, "cp1252")):
            try:
                decoder.decode(b"", final=True)
            except UnicodeDecodeError:
                setattr(self, attribute, False)

    def _sample(self) -> bytes:
        head = b"".join(self._head)
        if self._pos <= self._budget:
            return head
        head = head[:self._budget // 2]
        return head[:head.rfind(b"\n") + 1] + b"".join(self._lines)

    def choose(self, decodes) -> str:
        """The encoding; `decodes(encoding)` says whether one decodes the whole stream (another
        pass over it). Raises UndecodableText if charset detection finds none."""
        if self.bom:  # a BOM names the encoding; a few invalid bytes after it are replaced, not fatal
            return self.bom if decodes(self.bom) else self.bom + "+replace"
        if self.utf8:
            return "utf-8"
        if self.only_c1 and self.cp1252:
            return "cp1252"
        best = charset_normalizer.from_bytes(self._sample()).best()
        if best is None:
            raise UndecodableText("no encoding decodes these bytes")
        if best.encoding in ("utf_8", "utf-8"):
            return "utf-8+replace"  # mostly UTF-8 with a few invalid bytes, as decode_text
        if best.encoding == "latin_1" or (best.encoding == "cp1252" and self.cp1252) or decodes(best.encoding):
            return best.encoding
        return "cp1252" if self.cp1252 else "latin_1"
