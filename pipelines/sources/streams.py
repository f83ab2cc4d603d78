"""Decompressing readers that fail loudly on truncated input.

Beam's CompressedFile and zstandard's stream_reader both return a short read, without an error,
when a compressed file is cut off, which would lose the tail of the file silently. gzip, bz2 and
lzma from the standard library raise EOFError; zstd gets a small reader here that does the same.
"""

import bz2
import gzip
import io
import lzma

import zstandard

_CHUNK = 1 << 20


class TruncatedInput(EOFError):
    """The compressed stream ended inside a frame."""


class _ZstdReader(io.RawIOBase):
    """Reads concatenated zstd frames; raises TruncatedInput if the input stops inside one."""

    def __init__(self, raw):
        self._raw = raw
        self._dctx = zstandard.ZstdDecompressor()
        self._obj = self._dctx.decompressobj()
        self._frame_started = False
        self._pending = b""
        self._done = False

    def readable(self):
        return True

    def readinto(self, buf):
        while not self._pending and not self._done:
            chunk = self._raw.read(_CHUNK)
            if not chunk:
                if self._frame_started:
                    raise TruncatedInput("zstd stream ended inside a frame")
                self._done = True
                break
            self._pending = self._feed(chunk)
        n = min(len(buf), len(self._pending))
        buf[:n] = self._pending[:n]
        self._pending = self._pending[n:]
        return n

    def _feed(self, chunk: bytes) -> bytes:
        out = []
        while chunk:
            self._frame_started = True
            out.append(self._obj.decompress(chunk))
            if not self._obj.eof:
                break
            chunk = self._obj.unused_data
            self._obj = self._dctx.decompressobj()
            self._frame_started = False
        return b"".join(out)


def compression_of(path: str) -> str | None:
    """The compression implied by a file name, or None."""
    name = path.lower()
    for suffix, kind in ((".gz", "gzip"), (".bz2", "bzip2"), (".zst", "zstd"), (".zstd", "zstd"), (".xz", "xz")):
        if name.endswith(suffix):
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
    kind = compression_of(path)
    if kind == "gzip":
        return gzip.GzipFile(fileobj=raw, mode="rb")
    if kind == "bzip2":
        return bz2.BZ2File(raw, mode="rb")
    if kind == "xz":
        return lzma.LZMAFile(raw, mode="rb")
    if kind == "zstd":
        return io.BufferedReader(_ZstdReader(raw), _CHUNK)
    return raw if isinstance(raw, io.BufferedIOBase) else io.BufferedReader(raw, _CHUNK)
