"""Decompressing readers that fail loudly on truncated input and hold a bounded amount.

Beam's CompressedFile and zstandard's stream_reader both return a short read, without an error,
when a compressed file is cut off, which would lose the tail of the file silently. gzip and bz2
from the standard library raise EOFError; zstd, xz and WARC's gzip members get readers here that
do the same. Every reader here decompresses at most what one read asks for, so a small file that
expands enormously (a "zip bomb") costs time, never memory. An xz stream also declares how much
memory its decoder takes (its dictionary, up to 1.5 GiB): one asking for more than _XZ_MEMORY is
refused, as libzstd refuses a zstd window over 128 MiB.
"""

import bz2
import collections
import gzip
import io
import lzma
import zlib

import zstandard

_CHUNK = 1 << 20
_GZIP_INPUT = 1 << 16  # compressed bytes per step: zlib copies what a step leaves unconsumed
_MAX_MEMBERS = 1 << 16  # gzip member starts remembered ahead of the reader
_XZ_MEMORY = 128 << 20  # xz -9 takes 65 MiB to decompress
_XZ_MAGIC = b"\xfd7zXZ\x00"

_MAGIC = ((b"\x1f\x8b", "gzip"), (b"BZh", "bzip2"), (b"\xfd7zXZ\x00", "xz"), (b"\x28\xb5\x2f\xfd", "zstd"))


# What a damaged compressed stream can raise, whatever its compression: a reader quarantines the rest
# of the file on any of these instead of letting one escape.
DECOMPRESSION_ERRORS = (EOFError, OSError, zlib.error, lzma.LZMAError, zstandard.ZstdError)


class TruncatedInput(EOFError):
    """The compressed stream ended inside a frame or member."""


class DecoderMemoryLimit(lzma.LZMAError):
    """The compressed stream needs a decoder larger than readers allow."""


class _ZstdFrames:
    """Passes compressed bytes through while following the zstd frame layout (RFC 8878) from its
    frame and block headers alone, so that the end of the input can be checked to fall between
    frames: zstandard's stream_reader stops silently inside a cut frame."""

    def __init__(self, raw):
        self._raw = raw
        self._state, self._want, self._got = "magic", 4, b""  # header bytes wanted and collected
        self._skip = 0  # block content or a skippable frame to pass over
        self._checksum = 0
        self._lost = False  # a layout not followed here; the decoder says what is wrong with it

    @property
    def between_frames(self) -> bool:
        return self._lost or (self._state == "magic" and not self._got and not self._skip)

    def read(self, size=-1):
        data = self._raw.read(size)
        pos, end = 0, len(data)
        while pos < end and not self._lost:
            if self._skip:
                step = min(self._skip, end - pos)
                self._skip -= step
                pos += step
                continue
            take = min(self._want - len(self._got), end - pos)
            self._got += data[pos:pos + take]
            pos += take
            if len(self._got) == self._want:
                header, self._got = self._got, b""
                self._header(int.from_bytes(header, "little"))
        return data

    def _header(self, value: int) -> None:
        if self._state == "magic":
            if value == 0xFD2FB528:
                self._state, self._want = "descriptor", 1
            elif value & 0xFFFFFFF0 == 0x184D2A50:
                self._state, self._want = "skippable", 4
            else:
                self._lost = True
        elif self._state == "skippable":
            self._skip, self._state, self._want = value, "magic", 4
        elif self._state == "descriptor":
            content_size, single_segment, dict_id = value >> 6, value >> 5 & 1, value & 3
            self._checksum = value >> 2 & 1
            # Window descriptor, dictionary id and content size: never 0 bytes together.
            rest = (not single_segment) + (0, 1, 2, 4)[dict_id] + (single_segment, 2, 4, 8)[content_size]
            self._state, self._want = "frame_header", rest
        elif self._state == "frame_header":
            self._state, self._want = "block", 3
        else:  # a block header: last-block flag, type (RLE blocks hold one byte), size
            last, kind, size = value & 1, value >> 1 & 3, value >> 3
            self._skip = 1 if kind == 1 else size
            if last:
                self._skip += 4 * self._checksum
                self._state, self._want = "magic", 4


class _ZstdReader(io.RawIOBase):
    """Concatenated zstd frames through zstandard's stream_reader (which fills the caller's buffer
    and no more); raises TruncatedInput if the input stops inside a frame."""

    def __init__(self, raw):
        self._frames = _ZstdFrames(raw)
        self._reader = zstandard.ZstdDecompressor().stream_reader(self._frames, read_across_frames=True,
                                                                  closefd=False)

    def readable(self):
        return True

    def readinto(self, buf):
        n = self._reader.readinto(buf)
        if not n and len(buf) and not self._frames.between_frames:
            raise TruncatedInput("zstd stream ended inside a frame")
        return n


class _XzReader(io.RawIOBase):
    """Concatenated xz streams (zero padding between them allowed), decompressed no further than
    each read asks, by a decoder of at most _XZ_MEMORY; raises TruncatedInput if the input stops
    inside a stream, DecoderMemoryLimit for a stream that needs a larger decoder, LZMAError for
    bytes after a stream that do not start one (lzma.LZMAFile ignores those)."""

    def __init__(self, raw):
        self._raw = raw
        self._in, self._in_offset = b"", 0  # input not yet given to a decoder, and its file offset
        self._decoder, self._stream_offset = None, 0  # the current stream's (None between streams)

    def readable(self):
        return True

    def _fill(self) -> bool:
        chunk = self._raw.read(_GZIP_INPUT)
        self._in += chunk
        return bool(chunk)

    def _start_stream(self) -> bool:
        """Skip zero padding; False at the end of the input."""
        while True:
            rest = self._in.lstrip(b"\0")
            self._in_offset += len(self._in) - len(rest)
            self._in = rest
            if len(self._in) >= len(_XZ_MAGIC) or not self._fill():
                break
        if not self._in:
            return False
        if not self._in.startswith(_XZ_MAGIC):
            raise lzma.LZMAError(f"bytes at offset {self._in_offset} are not an xz stream")
        self._decoder = lzma.LZMADecompressor(lzma.FORMAT_XZ, memlimit=_XZ_MEMORY)
        self._stream_offset = self._in_offset
        return True

    def readinto(self, buf):
        while True:
            if self._decoder is None and not self._start_stream():
                return 0
            decoder = self._decoder
            if decoder.needs_input:
                if not self._in and not self._fill():
                    raise TruncatedInput(f"xz stream ends inside the stream at offset {self._stream_offset}")
                data, self._in_offset, self._in = self._in, self._in_offset + len(self._in), b""
            else:  # output held back from the last input
                data = b""
            try:
                out = decoder.decompress(data, len(buf))
            except lzma.LZMAError as exc:
                if "memory usage limit" in str(exc).lower():
                    raise DecoderMemoryLimit(f"the xz stream at offset {self._stream_offset} needs more than "
                                             f"{_XZ_MEMORY >> 20} MiB to decompress (its dictionary); not "
                                             f"read") from None
                raise
            if decoder.eof:
                self._in_offset -= len(decoder.unused_data)
                self._in, self._decoder = decoder.unused_data, None
            if out:
                buf[:len(out)] = out
                return len(out)


class GzipMembers(io.RawIOBase):
    """Concatenated gzip members, decompressed no further than each read asks; raises
    TruncatedInput if the input stops inside a member. It remembers where recent members start,
    in the decompressed stream and in the file, so that a record starting a member can be given
    the member's offset in the file, as WARC indexes do."""

    def __init__(self, raw):
        self._raw = raw
        self._in, self._in_offset = b"", 0  # compressed bytes not yet decompressed, and their offset
        self._raw_eof = False
        self._member, self._member_offset = None, 0  # the current member's decompressor (None between members)
        self._out = 0  # decompressed bytes returned
        self._starts = collections.deque()  # (decompressed offset, file offset) of member starts

    def readable(self):
        return True

    def _fill(self) -> bool:
        if self._raw_eof:
            return False
        chunk = self._raw.read(_GZIP_INPUT)
        if not chunk:
            self._raw_eof = True
            return False
        self._in = self._in + chunk if self._in else chunk
        return True

    def _start_member(self) -> bool:
        """Skip zero padding between members; False at the end of the input."""
        while True:
            rest = self._in.lstrip(b"\0")
            self._in_offset += len(self._in) - len(rest)
            self._in = rest
            if len(self._in) >= 2 or not self._fill():
                break
        if not self._in:
            return False
        if not self._in.startswith(b"\x1f\x8b"):
            raise gzip.BadGzipFile(f"bytes at offset {self._in_offset} are not a gzip member")
        self._member, self._member_offset = zlib.decompressobj(16 + zlib.MAX_WBITS), self._in_offset
        self._starts.append((self._out, self._in_offset))
        if len(self._starts) > _MAX_MEMBERS:  # only for pathological files of tiny members
            self._starts.popleft()
        return True

    def readinto(self, buf):
        while True:
            if self._member is None and not self._start_member():
                return 0
            if not self._in and not self._fill():
                data = self._member.decompress(b"", len(buf))  # output held back by the last step
                if not data and not self._member.eof:
                    raise TruncatedInput(f"gzip stream ends inside the member at offset {self._member_offset}")
            else:
                data = self._member.decompress(self._in, len(buf))
            rest = self._member.unused_data if self._member.eof else self._member.unconsumed_tail
            self._in_offset += len(self._in) - len(rest)
            self._in = rest
            if self._member.eof:
                self._member = None
            if data:
                buf[:len(data)] = data
                self._out += len(data)
                return len(data)

    def file_offset(self, pos: int, exact: bool = True) -> int | None:
        """The file offset of the member that starts at decompressed offset `pos` (with
        exact=False, of the first member starting there or later), or None. Positions must be
        asked for in increasing order: those before `pos` are forgotten."""
        starts = self._starts
        while starts and starts[0][0] < pos:
            starts.popleft()
        return starts[0][1] if starts and (not exact or starts[0][0] == pos) else None


class Prefixed:
    """`stream` with `head`, bytes already read from it, put back in front. read() returns what is
    at hand (read1 where the stream has it), so that bytes decompressed before an error are
    returned before the error is raised; tell() counts the bytes returned."""

    def __init__(self, head: bytes, stream):
        self._head, self._stream, self._pos = head, stream, 0
        self._read = getattr(stream, "read1", stream.read)

    def read(self, size=-1):
        if self._head:
            data = self._head if size is None or size < 0 else self._head[:size]
            self._head = self._head[len(data):]
        else:
            data = self._read(size)
        self._pos += len(data)
        return data

    def tell(self):
        return self._pos


def read_head(stream, size: int) -> bytes:
    """The first `size` bytes of `stream` (fewer only at its end)."""
    read = getattr(stream, "read1", stream.read)
    parts, got = [], 0
    while got < size:
        part = read(size - got)
        if not part:
            break
        parts.append(part)
        got += len(part)
    return b"".join(parts)


def compression_of(path: str) -> str | None:
    """The compression implied by a file name, or None."""
    name = path.lower()
    for suffix, kind in ((".gz", "gzip"), (".bz2", "bzip2"), (".zst", "zstd"), (".zstd", "zstd"), (".xz", "xz")):
        if name.endswith(suffix):
            return kind
    return None


def sniff_compression(head: bytes) -> str | None:
    """The compression a file's first bytes show, or None."""
    for magic, kind in _MAGIC:
        if head.startswith(magic):
            return kind
    return None


def strip_compression_suffix(name: str) -> str:
    kind = compression_of(name)
    return name.rsplit(".", 1)[0] if kind else name


def decompressed(raw, path: str):
    """A buffered binary reader over `raw`, decompressed according to `path`'s extension.

    The standard library's readers are used as they are: wrapped in another BufferedReader, a
    large read that meets the truncation error would drop the data decompressed before it.
    """
    return decompress_as(raw, compression_of(path))


def decompress_as(raw, kind: str | None):
    """A buffered binary reader over `raw` (a raw or buffered binary stream), decompressed as
    `kind` says (None: not compressed)."""
    if kind == "gzip":
        return gzip.GzipFile(fileobj=raw, mode="rb")
    if kind == "bzip2":
        return bz2.BZ2File(raw, mode="rb")
    if kind == "xz":
        return io.BufferedReader(_XzReader(raw), _CHUNK)
    if kind == "zstd":
        return io.BufferedReader(_ZstdReader(raw), _CHUNK)
    return raw if isinstance(raw, io.BufferedIOBase) else io.BufferedReader(raw, _CHUNK)
