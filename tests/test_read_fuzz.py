"""Seeded fuzzing of the readers: mutants of small real files never crash or hang a reader.

Every format the read stage takes (WARC, WET, Wikipedia XML, JSONL, Parquet, HTML, split text),
plain and compressed, from small samples of the shared data. Each mutant is truncated, has bytes
flipped, garbage inserted, a range duplicated or deleted, or several of these, and is read the way
ReadFile reads a file (READERS[format] over the raw file, a FileContext with max_doc_bytes, at
times a small one). Every item must be a document, a Rejected or a Quarantined with an offset >= 0;
no exception may escape the reader, and no file may take more than PER_FILE_S seconds.

Each sample is fuzzed in its own process, so that a crash in native code (a decompressor, Arrow)
fails its test with the mutants' seed rather than ending the session.
"""

import bz2
import gzip
import json
import random
import signal
import subprocess
import sys
import time
import traceback
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import zstandard

SEED = 20240601
PER_FILE_S = 10
SMALL_LIMIT = 1000  # max_doc_bytes for every third mutant, so the too_large paths are fuzzed too


# --- samples -------------------------------------------------------------------------------------

def _wiki_head(data_dir: Path, pages: int) -> bytes:
    xml = bz2.decompress((data_dir / "enwiki_xml_dump_sample" /
                          "enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2").read_bytes())
    end = 0
    for _ in range(pages):
        end = xml.index(b"</page>", end) + len(b"</page>")
    return xml[:end] + b"\n</mediawiki>\n"


def _short_pages(xml: bytes, keep: int = 3000) -> bytes:
    """Every page's wikitext cut to about `keep` bytes (at a line end): long articles would make
    every mutant slow to render."""
    out, pos = [], 0
    while True:
        start = xml.find(b"<text", pos)
        if start < 0:
            out.append(xml[pos:])
            return b"".join(out)
        body = xml.index(b">", start) + 1
        stop = xml.index(b"</text>", body)
        text = xml[body:stop]
        if len(text) > keep:
            text = text[:keep].rsplit(b"\n", 1)[0]
        out.append(xml[pos:body] + text)
        pos = stop


def _jsonl(data_dir: Path, lines: int) -> bytes:
    raw = gzip.decompress((data_dir / "ccnet_jsonl_dolma" / "cc_en_head-0091.jsonl.gz").read_bytes())
    records = [json.loads(line) for line in raw.splitlines()[:lines]]
    for record in records:
        record["text"] = record["text"][:1500]
    return b"".join(json.dumps(r).encode() + b"\n" for r in records)


def _parquet(data_dir: Path, tmp_path: Path, **options) -> bytes:
    rows = [json.loads(line) for line in gzip.open(data_dir / "ccnet_jsonl_dolma" / "cc_en_head-0174.jsonl.gz")]
    table = pa.Table.from_pylist([{"text": r["text"][:2000], "url": r["metadata"]["url"],
                                   "line_ids": r["metadata"]["line_ids"][:20],
                                   "score": r["metadata"]["language_score"]} for r in rows])
    path = tmp_path / "sample.parquet"
    pq.write_table(table, path, row_group_size=4, **options)
    return path.read_bytes()


def samples(data_dir: Path, tmp_path: Path) -> dict[str, tuple[str, str, bytes, dict, int]]:
    """name -> (file name, format, bytes, reader options, mutants)."""
    warc_gz = (data_dir / "cc_whirlwind_warc_wet_wat" / "whirlwind.warc.gz").read_bytes()
    wet_gz = (data_dir / "cc_whirlwind_warc_wet_wat" / "whirlwind.warc.wet.gz").read_bytes()
    wiki = _short_pages(_wiki_head(data_dir, 6))
    jsonl = _jsonl(data_dir, 4)
    html = (data_dir / "debian_reference_html" / "en" / "apa.en.html").read_bytes()
    fortunes = (data_dir / "fortunes_multilingual" / "de" / "bahnhof").read_bytes()[:8000]
    return {
        "warc.gz": ("x.warc.gz", "warc", warc_gz, {}, 40),
        "warc": ("x.warc", "warc", gzip.decompress(warc_gz), {}, 40),
        "wet.gz": ("x.warc.wet.gz", "wet", wet_gz, {}, 25),
        "wet": ("x.warc.wet", "wet", (data_dir / "wet_ccnet_test_sample" / "sample.warc.txt").read_bytes(), {}, 35),
        "xml": ("x.xml", "wikipedia", wiki, {}, 45),
        "xml.bz2": ("x.xml.bz2", "wikipedia", bz2.compress(wiki), {}, 20),
        "jsonl": ("x.jsonl", "jsonl", jsonl, {}, 40),
        "jsonl.gz": ("x.jsonl.gz", "jsonl", gzip.compress(jsonl), {}, 20),
        "jsonl.zst": ("x.jsonl.zst", "jsonl", zstandard.ZstdCompressor().compress(jsonl), {}, 20),
        "parquet": ("x.parquet", "parquet", _parquet(data_dir, tmp_path), {}, 40),
        "parquet-zstd-plain": ("y.parquet", "parquet",
                               _parquet(data_dir, tmp_path, compression="zstd", use_dictionary=False), {}, 25),
        "html": ("x.html", "html", html, {}, 25),
        "html.gz": ("x.html.gz", "html", gzip.compress(html), {}, 10),
        "text-split": ("x.txt", "text", fortunes, {"split": "%"}, 25),
    }


# --- mutations -----------------------------------------------------------------------------------

def _flip(data: bytearray, rng: random.Random) -> None:
    for _ in range(rng.randint(1, 8)):
        i = rng.randrange(len(data))
        data[i] = rng.choice((data[i] ^ (1 << rng.randrange(8)), rng.randrange(256)))


def _insert(data: bytearray, rng: random.Random) -> None:
    garbage = rng.choice((bytes(rng.randrange(256) for _ in range(rng.randint(1, 64))),
                          b"\0" * rng.randint(1, 4096), b"\n" * rng.randint(1, 8), b"<" * rng.randint(1, 8),
                          b"WARC/1.0\r\n", b"<page>", b"%\n", b"{", b"\xff\xfe"))
    i = rng.randrange(len(data) + 1)
    data[i:i] = garbage


def _duplicate(data: bytearray, rng: random.Random) -> None:
    a = rng.randrange(len(data))
    b = min(len(data), a + rng.randint(1, max(1, len(data) // 4)))
    i = rng.randrange(len(data) + 1)
    data[i:i] = data[a:b]


def _delete(data: bytearray, rng: random.Random) -> None:
    a = rng.randrange(len(data))
    del data[a:a + rng.randint(1, max(1, len(data) // 8))]


def _truncate(data: bytearray, rng: random.Random) -> None:
    del data[rng.randrange(len(data)):]


MUTATIONS = (_truncate, _flip, _insert, _duplicate, _delete)


def mutate(sample: bytes, rng: random.Random) -> bytes:
    data = bytearray(sample)
    for mutation in rng.sample(MUTATIONS, rng.choice((1, 1, 1, 2, 3))):
        if data:
            mutation(data, rng)
    return bytes(data)


# --- the fuzzing process ---------------------------------------------------------------------------

class _Hang(Exception):
    pass


def _check(item) -> str | None:
    """What is wrong with one reader item, or None."""
    from pipelines.sources import Quarantined, Rejected

    if isinstance(item, Quarantined):
        offset, what = item.offset, "quarantine"
        if not (isinstance(item.error, str) and item.error):
            return f"quarantine without an error: {item!r}"[:300]
    elif isinstance(item, Rejected):
        offset, what = item.doc.get("offset"), "reject"
        if not item.reason:
            return f"reject without a reason: {item!r}"[:300]
    elif isinstance(item, dict):
        offset, what = item.get("offset"), "document"
        if not isinstance(item.get("id"), str) or not (isinstance(item.get("text"), str)
                                                         or isinstance(item.get("content"), bytes)):
            return f"document without id, text or content: {sorted(item)}"
    else:
        return f"not a document, Rejected or Quarantined: {type(item).__name__}"
    if not isinstance(offset, int) or isinstance(offset, bool) or offset < 0:
        return f"{what} with offset {offset!r}"
    return None


def fuzz(sample_path: str, fmt: str, options: dict, count: int, seed: int) -> dict:
    """Read `count` mutants of the sample (and the sample itself) as ReadFile does; the failures."""
    from pipelines.sources import READERS, FileContext
    from pipelines.records import DEFAULT_MAX_DOC_BYTES

    def alarm(signum, frame):
        raise _Hang()

    signal.signal(signal.SIGALRM, alarm)
    sample = Path(sample_path).read_bytes()
    path = Path(sample_path).with_name("mutant-" + Path(sample_path).name)
    failures, kinds = [], {"document": 0, "reject": 0, "quarantine": 0}
    for number in range(count + 1):
        rng = random.Random(f"{seed}/{number}")
        data = sample if number == 0 else mutate(sample, rng)
        path.write_bytes(data)
        limit = SMALL_LIMIT if number % 3 == 2 else DEFAULT_MAX_DOC_BYTES
        ctx = FileContext("fuzz", fmt, str(path), path.name, {**options, "max_doc_bytes": limit})
        start = time.monotonic()
        signal.setitimer(signal.ITIMER_REAL, PER_FILE_S)
        try:
            with open(path, "rb") as raw:
                for item in READERS[fmt](raw, ctx):
                    problem = _check(item)
                    if problem:
                        failures.append({"mutant": number, "problem": problem})
                        break
                    kind = "document" if isinstance(item, dict) else type(item).__name__.lower().replace(
                        "quarantined", "quarantine").replace("rejected", "reject")
                    kinds[kind] += 1
        except _Hang:
            failures.append({"mutant": number, "problem": f"no end after {PER_FILE_S} s"})
        except Exception as exc:  # noqa: BLE001 - what the test is looking for
            failures.append({"mutant": number, "problem": f"{type(exc).__name__}: {exc}"[:300],
                             "where": traceback.format_exc().strip().splitlines()[-3][:300]})
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
        if number == 0 and not kinds["document"]:
            failures.append({"mutant": 0, "problem": "the unmutated sample gave no document"})
        if time.monotonic() - start > PER_FILE_S:
            failures.append({"mutant": number, "problem": f"took {time.monotonic() - start:.1f} s"})
    return {"failures": failures, "items": kinds}


def _main() -> None:
    sample_path, fmt, options, count, seed = sys.argv[1:6]
    print(json.dumps(fuzz(sample_path, fmt, json.loads(options), int(count), int(seed))))


@pytest.fixture(scope="module")
def fuzz_samples(data_dir, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("fuzz-samples")
    return tmp, samples(data_dir, tmp)


SAMPLE_NAMES = ["warc.gz", "warc", "wet.gz", "wet", "xml", "xml.bz2", "jsonl", "jsonl.gz", "jsonl.zst", "parquet",
                "parquet-zstd-plain", "html", "html.gz", "text-split"]


@pytest.mark.parametrize("name", SAMPLE_NAMES)
def test_mutants_never_crash_or_hang_a_reader(name, fuzz_samples):
    tmp, all_samples = fuzz_samples
    assert sorted(all_samples) == sorted(SAMPLE_NAMES)
    file_name, fmt, data, options, count = all_samples[name]
    folder = tmp / name
    folder.mkdir()
    (folder / file_name).write_bytes(data)
    code = (f"import sys; sys.path.insert(0, {str(Path(__file__).parent)!r}); "
            "from test_read_fuzz import _main; _main()")
    seed = SEED + SAMPLE_NAMES.index(name)
    run = subprocess.run([sys.executable, "-c", code, str(folder / file_name), fmt, json.dumps(options), str(count),
                          str(seed)], capture_output=True, text=True, timeout=PER_FILE_S * (count + 1) + 60,
                         cwd=Path(__file__).resolve().parents[1])
    assert run.returncode == 0, f"the fuzzing process died (seed {seed}): {run.stderr[-3000:]}"
    result = json.loads(run.stdout.splitlines()[-1])
    assert result["failures"] == [], f"seed {seed}: {result['failures'][:5]}"
    # The mutants reached the readers' error paths, not only their happy ones.
    assert result["items"]["document"] > 0 and result["items"]["quarantine"] + result["items"]["reject"] > 0
