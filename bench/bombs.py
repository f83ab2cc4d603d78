"""Decompression and format bombs through the read path: peak memory and time per bomb.

    python bench/bombs.py [--size 5GiB] [--only NAME,...] [--max-doc-bytes N] [--json out.json]

Each bomb is written streaming into a temporary folder (none is ever whole in memory), then read
in a fresh process by the read stage's own code (pipelines.transforms.read.ReadFile, outside Beam),
which reports its peak RSS (ru_maxrss), the seconds spent reading and what came out: documents,
rejects by reason and quarantine entries by error. A process past --kill-mb of RSS is killed, so an
unbounded reader cannot take the machine down. The target is under 500 MB and 60 s for each bomb.

Bombs, at --size S (5 GiB by default: what each expands to):
  wet-zeros         .warc.wet.gz of S zero bytes, one gzip member
  warc-zeros        .warc.gz of S zero bytes, no WARC header at all
  warc-one-member   .warc.gz gzipped whole (one member): a response of S bytes of HTML, then a page
  wiki-page         .xml.bz2 (one bz2 stream) with one page of S bytes of text, then a page
  parquet-rows      S / 64 MiB rows of 64 MiB (80 at 5 GiB), a row group each, zstd, then a small row
  parquet-group     the same rows in one row group, a page each
  parquet-dict      the same rows in one row group, all pointing at one 64 MiB dictionary entry
  jsonl-zst         .jsonl.zst: one JSON line of S / 5 bytes (1 GiB at 5 GiB), then a small line
  jsonl-lines       .jsonl.gz of S / 1 KiB identical 1 KiB documents (5.2M at 5 GiB)
  jsonl-xz          .jsonl.xz: the same line of S / 5 bytes, then a small line
  xz-dictionary     .jsonl.xz declaring a 1.5 GiB dictionary, holding S / 5 bytes of 1 MiB lines: a
                    decoder fills what the file declares (lzma.LZMAFile took 600 MB for 512 MiB)
"""

import argparse
import bz2
import json
import os
import resource
import struct
import subprocess
import sys
import tempfile
import time
import zlib
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

MIB = 1 << 20
BLOCK = 16 * MIB
ROW = 64 * MIB


# --- writers: each takes (path, size) and writes the bomb streaming -----------------------------

def _blocks(size: int, byte: bytes = b"\0"):
    block = byte * BLOCK
    while size > 0:
        yield block[:size] if size < BLOCK else block
        size -= BLOCK


def _gzip(path: Path, parts) -> None:
    compressor = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    with open(path, "wb") as out:
        for part in parts:
            out.write(compressor.compress(part))
        out.write(compressor.flush())


def wet_zeros(path: Path, size: int) -> None:
    _gzip(path, _blocks(size))


def warc_zeros(path: Path, size: int) -> None:
    _gzip(path, _blocks(size))


def _warc_response(uri: bytes, length: int) -> bytes:
    """A WARC response record's headers and HTTP head, for an HTML body of `length` bytes."""
    http = b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n\r\n"
    return (b"WARC/1.0\r\nWARC-Type: response\r\nWARC-Target-URI: " + uri
            + b"\r\nWARC-Date: 2024-01-01T00:00:00Z\r\nContent-Type: application/http; msgtype=response"
            + b"\r\nContent-Length: " + str(len(http) + length).encode() + b"\r\n\r\n" + http)


def warc_one_member(path: Path, size: int) -> None:
    page = b"<html><body><p>The page after the bomb.</p></body></html>"
    _gzip(path, [_warc_response(b"http://bomb.example/", size), b"<html>", *_blocks(size - 6, b"a"),
                 b"\r\n\r\n", _warc_response(b"http://page.example/", len(page)), page, b"\r\n\r\n"])


def wiki_page(path: Path, size: int) -> None:
    compressor = bz2.BZ2Compressor(9)
    head = (b'<mediawiki xmlns="http://www.mediawiki.org/xml/export-0.10/"><siteinfo><dbname>enwiki</dbname>'
            b"</siteinfo>\n<page><title>Bomb</title><ns>0</ns><id>1</id><revision><id>2</id>"
            b'<text xml:space="preserve">')
    tail = (b"</text></revision></page>\n<page><title>After</title><ns>0</ns><id>3</id><revision><id>4</id>"
            b'<text xml:space="preserve">The page after the bomb.</text></revision></page>\n</mediawiki>\n')
    with open(path, "wb") as out:
        for part in (head, *_blocks(size, b"a"), tail):
            out.write(compressor.compress(part))
        out.write(compressor.flush())


def _parquet_rows(size: int) -> int:
    return max(1, size // ROW)


def parquet_rows(path: Path, size: int) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = pa.schema([("text", pa.string()), ("url", pa.string())])
    big = pa.array(["a" * ROW])
    with pq.ParquetWriter(path, schema, compression="zstd", use_dictionary=False) as writer:
        for i in range(_parquet_rows(size)):
            writer.write_table(pa.table({"text": big, "url": [f"http://x/{i}"]}, schema=schema))
        writer.write_table(pa.table({"text": ["a small document"], "url": ["http://x/last"]}, schema=schema))


def parquet_group(path: Path, size: int) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = _parquet_rows(size)
    texts = pa.chunked_array([pa.array(["a" * ROW])] * rows + [pa.array(["a small document"])])  # one buffer
    table = pa.table({"text": texts, "url": [f"http://x/{i}" for i in range(rows + 1)]})
    pq.write_table(table, path, compression="zstd", use_dictionary=False, row_group_size=rows + 1)


def parquet_dict(path: Path, size: int) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = _parquet_rows(size)
    texts = pa.DictionaryArray.from_arrays(pa.array([0] * rows + [1], pa.int32()),
                                           pa.array(["a" * ROW, "a small document"]))
    table = pa.table({"text": texts, "url": [f"http://x/{i}" for i in range(rows + 1)]})
    pq.write_table(table, path, compression="zstd", store_schema=False)  # read back as plain strings


def jsonl_zst(path: Path, size: int) -> None:
    import zstandard

    compressor = zstandard.ZstdCompressor(level=3).compressobj()
    with open(path, "wb") as out:
        for part in (b'{"text": "', *_blocks(size // 5, b"z"), b'"}\n{"text": "the line after the bomb"}\n'):
            out.write(compressor.compress(part))
        out.write(compressor.flush())


def _xz(path: Path, parts, dictionary: int | None = None) -> None:
    """An xz stream of one block (LZMA2, preset 0); `dictionary`: the dictionary size byte its
    block header declares instead (37: 1.5 GiB)."""
    import lzma

    compressor = lzma.LZMACompressor(lzma.FORMAT_XZ, filters=[{"id": lzma.FILTER_LZMA2, "preset": 0}])
    with open(path, "w+b") as out:
        for part in parts:
            out.write(compressor.compress(part))
        out.write(compressor.flush())
        if dictionary is not None:
            out.seek(12)  # after the stream header: the block header, its size first
            size = (out.read(1)[0] + 1) * 4
            out.seek(12)
            header = bytearray(out.read(size))
            at = header.index(b"\x21\x01", 2) + 2  # LZMA2's filter id and properties size: the dictionary
            header[at] = dictionary
            header[-4:] = struct.pack("<I", zlib.crc32(bytes(header[:-4])))
            out.seek(12)
            out.write(header)


def jsonl_xz(path: Path, size: int) -> None:
    _xz(path, (b'{"text": "', *_blocks(size // 5, b"z"), b'"}\n{"text": "the line after the bomb"}\n'))


def xz_dictionary(path: Path, size: int) -> None:
    line = b'{"text": "' + b"x" * MIB + b'"}\n'
    _xz(path, [*(line for _ in range(max(1, size // 5 // len(line)))), b'{"text": "the last line"}\n'],
        dictionary=37)


def jsonl_lines(path: Path, size: int) -> None:
    line = json.dumps({"text": "The same document, again and again. " * 28}).encode()
    line = line[:-2].ljust(1021, b" ") + b'"}\n'  # 1 KiB with its newline
    _gzip(path, (line * 1024 for _ in range(max(1, size // len(line) // 1024))))


BOMBS = {
    "wet-zeros": ("zeros.warc.wet.gz", "wet", wet_zeros),
    "warc-zeros": ("zeros.warc.gz", "warc", warc_zeros),
    "warc-one-member": ("whole.warc.gz", "warc", warc_one_member),
    "wiki-page": ("page.xml.bz2", "wikipedia", wiki_page),
    "parquet-rows": ("rows.parquet", "parquet", parquet_rows),
    "parquet-group": ("group.parquet", "parquet", parquet_group),
    "parquet-dict": ("dict.parquet", "parquet", parquet_dict),
    "jsonl-zst": ("line.jsonl.zst", "jsonl", jsonl_zst),
    "jsonl-lines": ("lines.jsonl.gz", "jsonl", jsonl_lines),
    "jsonl-xz": ("line.jsonl.xz", "jsonl", jsonl_xz),
    "xz-dictionary": ("dictionary.jsonl.xz", "jsonl", xz_dictionary),
}

# The expanded size of each bomb at --size S.
EXPANDED = {"jsonl-zst": lambda s: s // 5, "jsonl-xz": lambda s: s // 5, "xz-dictionary": lambda s: s // 5,
            "parquet-rows": lambda s: _parquet_rows(s) * ROW,
            "parquet-group": lambda s: _parquet_rows(s) * ROW, "parquet-dict": lambda s: _parquet_rows(s) * ROW}


# --- the reading process ---------------------------------------------------------------------------

def read_one(path: str, fmt: str, max_doc_bytes: int) -> dict:
    """Read `path` as ReadFile does in the pipeline; what came out, seconds and peak RSS."""
    from pipelines.config import SourceSpec
    from pipelines.transforms.read import ReadFile
    from pipelines.transforms.stages import QUARANTINE, REJECTS

    baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    read = ReadFile([SourceSpec(name="bomb", glob=path, type=fmt)], max_doc_bytes)
    read.setup()
    out: Counter = Counter()
    notes = []
    start = time.perf_counter()
    for item in read.process((0, path)):
        tag = getattr(item, "tag", None)
        if tag == REJECTS:
            out[f"rejected {item.value['reason']}"] += 1
        elif tag == QUARANTINE:
            out[f"quarantined {item.value['error']}"] += 1
            if len(notes) < 3:
                notes.append(item.value["message"][:200])
        else:
            out["docs"] += 1
    return {"seconds": time.perf_counter() - start, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "import_rss_mb": baseline, "yielded": dict(out), "notes": notes}


def _rss_mb(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def run_one(path: Path, fmt: str, max_doc_bytes: int, timeout: float, kill_mb: float) -> dict:
    """read_one in a fresh process, killed past `timeout` seconds or `kill_mb` of RSS."""
    # sh forks the reader from a small process: ru_maxrss carries over an exec, not a fork.
    child = subprocess.Popen(["sh", "-c", '"$0" "$@"; exit $?', sys.executable, __file__, "--read", str(path), fmt,
                              str(max_doc_bytes)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)})
    start, peak, killed = time.monotonic(), 0.0, None
    while child.poll() is None:
        # The reader is sh's only child: find it to watch its memory.
        for pid in _children(child.pid):
            peak = max(peak, _rss_mb(pid))
        if peak > kill_mb:
            killed = f"killed at {peak:.0f} MB RSS"
        elif time.monotonic() - start > timeout:
            killed = f"killed after {timeout:.0f} s"
        if killed:
            for pid in _children(child.pid):
                os.kill(pid, 9)
            child.kill()
            break
        time.sleep(0.05)
    stdout, stderr = child.communicate()
    if killed:
        return {"seconds": time.monotonic() - start, "peak_rss_mb": peak, "yielded": {}, "error": killed}
    if child.returncode:
        return {"seconds": time.monotonic() - start, "peak_rss_mb": peak, "yielded": {},
                "error": stderr.strip().splitlines()[-1] if stderr.strip() else f"exit {child.returncode}"}
    return json.loads(stdout.splitlines()[-1])


def _children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(p) for p in f.read().split()]
    except OSError:
        return []


def _size(text: str) -> int:
    units = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30}
    text = text.strip().lower().removesuffix("b").removesuffix("i")
    return int(float(text[:-1]) * units[text[-1]]) if text[-1] in units else int(text)


def _human(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", default="5GiB", help="what each bomb expands to (e.g. 256MiB, 5GiB)")
    parser.add_argument("--only", default="", help=f"comma-separated bombs, of {', '.join(BOMBS)}")
    parser.add_argument("--max-doc-bytes", type=int, default=16 * MIB)
    parser.add_argument("--timeout", type=float, default=600, help="seconds before a reader is killed")
    parser.add_argument("--kill-mb", type=float, default=3000, help="RSS at which a reader is killed")
    parser.add_argument("--tmp", default=None, help="folder for the bombs (default: a temporary one)")
    parser.add_argument("--json", default=None, help="also write the results here")
    parser.add_argument("--read", nargs=3, metavar=("PATH", "FORMAT", "MAX_DOC_BYTES"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.read:
        print(json.dumps(read_one(args.read[0], args.read[1], int(args.read[2]))))
        return 0

    size = _size(args.size)
    names = [n for n in args.only.split(",") if n] or list(BOMBS)
    unknown = set(names) - set(BOMBS)
    if unknown:
        parser.error(f"unknown bombs: {', '.join(sorted(unknown))}")
    results = []
    with tempfile.TemporaryDirectory(dir=args.tmp, prefix="bombs-") as tmp:
        for name in names:
            file_name, fmt, write = BOMBS[name]
            path = Path(tmp) / file_name
            started = time.perf_counter()
            write(path, size)
            made = time.perf_counter() - started
            result = run_one(path, fmt, args.max_doc_bytes, args.timeout, args.kill_mb)
            result.update(bomb=name, compressed=path.stat().st_size, expanded=EXPANDED.get(name, lambda s: s)(size),
                          written_s=round(made, 1))
            path.unlink()
            results.append(result)
            print(f"{name}: {_row(result)}", file=sys.stderr, flush=True)

    print(f"\nBombs at --size {args.size}, max_doc_bytes={args.max_doc_bytes}; peak RSS of the reading process "
          f"(its imports alone: {results[0].get('import_rss_mb', 0):.0f} MB); target < 500 MB and < 60 s\n")
    header = ("bomb", "compressed", "expanded", "peak RSS (MB)", "seconds", "yielded")
    rows = [(r["bomb"], _human(r["compressed"]), _human(r["expanded"]), f"{r['peak_rss_mb']:.0f}",
             f"{r['seconds']:.1f}", _yielded(r)) for r in results]
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]
    for row in [header, tuple("-" * w for w in widths), *rows]:
        print("  ".join(str(cell).ljust(w) for cell, w in zip(row, widths)).rstrip())
    over = [r["bomb"] for r in results if r.get("error") or r["peak_rss_mb"] >= 500 or r["seconds"] >= 60]
    print(f"\n{'over target: ' + ', '.join(over) if over else 'all within target'}")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return 1 if over else 0


def _yielded(result: dict) -> str:
    if result.get("error"):
        return result["error"]
    return ", ".join(f"{k} {v}" for k, v in sorted(result["yielded"].items())) or "nothing"


def _row(result: dict) -> str:
    return f"{result['peak_rss_mb']:.0f} MB, {result['seconds']:.1f} s, {_yielded(result)}"


if __name__ == "__main__":
    sys.exit(main())
