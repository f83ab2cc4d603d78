"""Decontamination: documents that share a word n-gram with evaluation texts (GPT-3's 13-gram overlap).

Words. A text's words are made the same way on both sides (evaluation texts and documents):

1. NFKC (only for text outside ASCII; full-width letters and digits, ligatures fold to plain ones);
2. lowercase (`str.lower`);
3. every punctuation or symbol character (Unicode categories P* and S*: `.,'"-@<>$` and so on)
   becomes a space;
4. split at white space.

So `Teddy 's guest @-@ starring role` (WikiText's tokenised form) and `Teddy's guest-starring role`
both give `teddy s guest starring role`. Unlike lm-evaluation-harness's Janitor, which deletes
punctuation (`guest-starring` -> `gueststarring`, but `guest @-@ starring` -> `guest starring`),
punctuation here separates words, so the tokenised and the plain form of a text agree. Digits are
kept as they are (`1 @,@ 000` and `1,000` are both `1 000`).

Chinese, Japanese and Thai are split by the segmenters the quality filters use
(filters.words: jieba, SudachiPy, PyThaiNLP), then each segment goes through steps 1-4. A
document's language is its language-ID label; an evaluation text's is read off its script, line
by line: a line with kana is Japanese, one with Han characters (and no kana) Chinese, one with Thai
letters Thai, any other is split at white space. A Chinese paragraph in a document identified as
English is split at white space, and so does not match Chinese evaluation text.

N-grams. Every run of `n` consecutive words (default 13) of an evaluation text is hashed to 64 bits
(each word's xxh3_64, combined as a polynomial mod 2**64 in numpy), and the distinct hashes are kept
as one sorted uint64 array: 8 bytes an n-gram, about 1.4 bytes per byte of English evaluation text,
with no word strings kept. A text's n-grams do not cross from one record of a JSONL or Parquet file
to the next; in a plain text file they run across lines (the file is one text, read in blocks).
An evaluation text shorter than `n` words contributes no n-gram, as in lm-evaluation-harness.

Check. A document's n-gram hashes are looked up in the array (`np.searchsorted`); the first n-gram
(in the document's word order) found there is the reason it is rejected, given as its words. A
document shorter than `n` words has no n-gram and is kept (lm-evaluation-harness also looks only
at full n-grams). A 64-bit hash match with no shared n-gram is possible, at about
(n-grams in the array) / 2**64 per n-gram looked up: 3e-12 for 50 million.

Evaluation files: plain text (any name not below), JSONL (`.jsonl`, `.json`, `.ndjson`) and Parquet
(`.parquet`), compressed or not (`.gz`, `.bz2`, `.zst`, as Beam's FileSystems reads them). A JSONL
record or Parquet row gives its `text` field if it has one, else each of its string fields (and the
strings in its lists) as a text of its own: a benchmark's question, answer and choices.
"""

import io
import json
import re
import unicodedata
from collections.abc import Iterable, Iterator

import numpy as np
import regex
import xxhash

from filters.words import SEGMENTED_LANGUAGES, splitter_for

DEFAULT_NGRAM = 13
FORMAT = "decontaminate-ngrams/1"  # bumped when words, hashes or the layout change
_MULTIPLIER = np.uint64(0x9E3779B97F4A7C15)  # odd
_ASCII_TO_SPACE = str.maketrans({ch: " " for ch in map(chr, range(128))
                                 if unicodedata.category(ch)[0] in "PS"})
_TO_SPACE = regex.compile(r"[\p{P}\p{S}]")
_KANA = re.compile("[\u3040-\u30ff\u31f0-\u31ff\uff66-\uff9f]")
_HAN = re.compile("[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f]")
_THAI = re.compile("[\u0e00-\u0e7f]")
_BLOCK_CHARS = 1 << 20  # plain text is read and hashed in blocks of about this many characters
_JSONL = (".jsonl", ".json", ".ndjson")
_COMPRESSED = (".gz", ".bz2", ".zst", ".zstd", ".xz", ".deflate")


def normalise_words(text: str) -> list[str]:
    """Steps 1-4 of the module's description: NFKC, lowercase, punctuation and symbols to spaces,
    split at white space."""
    if text.isascii():
        return text.lower().translate(_ASCII_TO_SPACE).split()
    return _TO_SPACE.sub(" ", unicodedata.normalize("NFKC", text).lower()).split()


def words(text: str, lang: str | None) -> list[str]:
    """A document's words for the check: segmenter words for zh, ja and th (the filters'), each
    normalised; else normalise_words."""
    if lang in SEGMENTED_LANGUAGES:
        return normalise_words(" ".join(splitter_for(lang).words(text)))
    return normalise_words(text)


def script_language(line: str) -> str | None:
    """The segmenter an evaluation line needs, from its script (None: white space splits it)."""
    if line.isascii():
        return None
    if _KANA.search(line):
        return "ja"
    if _HAN.search(line):
        return "zh"
    if _THAI.search(line):
        return "th"
    return None


def evaluation_words(text: str) -> list[str]:
    """An evaluation text's words: each line is split as a document in its script's language would be."""
    if text.isascii():
        return normalise_words(text)
    out = []
    for line in text.splitlines():
        out += words(line, script_language(line))
    return out


class _WordHashes(dict):
    """word -> its xxh3_64, remembered (words repeat; a lookup is cheaper than hashing)."""

    def __missing__(self, word: str) -> int:
        if len(self) > 2_000_000:
            self.clear()
        value = self[word] = xxhash.xxh3_64_intdigest(word.encode("utf-8", "surrogatepass"))
        return value


_WORD_HASHES = _WordHashes()


def word_hashes(words: list[str]) -> np.ndarray:
    return np.fromiter(map(_WORD_HASHES.__getitem__, words), dtype=np.uint64, count=len(words))


def ngram_hashes(hashes: np.ndarray, n: int) -> np.ndarray:
    """The 64-bit hash of each run of `n` consecutive word hashes: sum of h[i+k] * M**(n-1-k) mod 2**64."""
    count = len(hashes) - n + 1
    if count <= 0:
        return np.zeros(0, dtype=np.uint64)
    out = hashes[:count].copy()
    for k in range(1, n):
        out *= _MULTIPLIER
        out += hashes[k:k + count]
    return out


def text_ngrams(text: str, n: int = DEFAULT_NGRAM) -> np.ndarray:
    """The n-gram hashes of one evaluation text (unsorted, with repeats)."""
    return ngram_hashes(word_hashes(evaluation_words(text)), n)


def _suffix(path: str) -> str:
    name = path.rsplit("/", 1)[-1].lower()
    for ext in _COMPRESSED:
        if name.endswith(ext):
            name = name[: -len(ext)]
            break
    return "." + name.rsplit(".", 1)[-1] if "." in name else ""


def _strings(value) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _strings(item)


def record_texts(record: dict) -> list[str]:
    """A JSONL record's or Parquet row's evaluation texts: its `text`, else every string field."""
    if isinstance(record.get("text"), str):
        return [record["text"]]
    return [s for value in record.values() for s in _strings(value)]


class EvaluationFileError(ValueError):
    pass


def _open(path: str):
    from apache_beam.io.filesystems import FileSystems  # Beam: remote paths, compression by name

    return FileSystems.open(path)


def file_ngrams(path: str, n: int = DEFAULT_NGRAM, opener=_open) -> np.ndarray:
    """The distinct n-gram hashes of one evaluation file, sorted."""
    parts = [np.zeros(0, dtype=np.uint64)]
    suffix = _suffix(path)
    with opener(path) as raw:
        if suffix == ".parquet":
            import pyarrow.parquet as pq

            parquet = pq.ParquetFile(io.BytesIO(raw.read()))
            columns = [f.name for f in parquet.schema_arrow
                       if str(f.type) in ("string", "large_string") or str(f.type).startswith(("list<", "large_list<"))]
            if "text" in parquet.schema_arrow.names:
                columns = ["text"]
            for batch in parquet.iter_batches(columns=columns):
                for row in batch.to_pylist():
                    parts += [text_ngrams(t, n) for t in record_texts(row)]
        elif suffix in _JSONL:
            for number, line in enumerate(io.TextIOWrapper(raw, encoding="utf-8", errors="replace"), 1):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except ValueError as exc:
                    raise EvaluationFileError(f"{path}: line {number} is not JSON ({exc})") from None
                texts = record_texts(record) if isinstance(record, dict) else list(_strings(record))
                parts += [text_ngrams(t, n) for t in texts]
        else:
            parts += list(_text_ngrams(io.TextIOWrapper(raw, encoding="utf-8", errors="replace"), n))
    return distinct(np.concatenate(parts))


def distinct(hashes: np.ndarray) -> np.ndarray:
    """Sorted, without repeats (np.unique's hash table is several times slower on 64-bit values)."""
    hashes = np.sort(hashes)
    if len(hashes) < 2:
        return hashes
    keep = np.empty(len(hashes), dtype=bool)
    keep[0] = True
    np.not_equal(hashes[1:], hashes[:-1], out=keep[1:])
    return hashes[keep]


def _text_ngrams(lines: Iterable[str], n: int) -> Iterator[np.ndarray]:
    """A plain-text file as one text, hashed a block of lines at a time; the last n-1 word hashes
    of a block start the next, so n-grams run across blocks as across lines."""
    carry = np.zeros(0, dtype=np.uint64)
    block, size = [], 0
    for line in lines:
        block.append(line)
        size += len(line)
        if size >= _BLOCK_CHARS:
            hashes = np.concatenate([carry, word_hashes(evaluation_words("".join(block)))])
            yield ngram_hashes(hashes, n)
            carry = hashes[max(0, len(hashes) - n + 1):]
            block, size = [], 0
    hashes = np.concatenate([carry, word_hashes(evaluation_words("".join(block)))])
    yield ngram_hashes(hashes, n)


def merge(arrays: Iterable[np.ndarray]) -> np.ndarray:
    """Sorted distinct hashes of several arrays."""
    arrays = list(arrays)
    if not arrays:
        return np.zeros(0, dtype=np.uint64)
    return distinct(np.concatenate(arrays))


def build_index(paths: Iterable[str], n: int = DEFAULT_NGRAM) -> "NgramIndex":
    return NgramIndex(merge(file_ngrams(p, n) for p in paths), n)


class NgramIndex:
    """The sorted n-gram hashes of the evaluation texts, and the check of a document against them.

    A bit table of the hashes' top bits (8 to 16 bits per n-gram, made where the index is used, not
    shipped) turns away most of a document's n-grams before the binary search: a clean document's
    n-grams cost a table lookup each, and only about one in ten is searched for."""

    def __init__(self, hashes: np.ndarray, n: int = DEFAULT_NGRAM):
        self.hashes = np.asarray(hashes, dtype=np.uint64)
        self.n = n
        self._table = None

    def __len__(self) -> int:
        return len(self.hashes)

    def to_bytes(self) -> bytes:
        """A header line (format and n) and the little-endian uint64 array."""
        body = self.hashes.astype("<u8", copy=False).tobytes()
        header = {"format": FORMAT, "n": self.n, "count": len(self.hashes), "xxh3_64": xxhash.xxh3_64_hexdigest(body)}
        return json.dumps(header).encode() + b"\n" + body

    @staticmethod
    def header_of(payload: bytes) -> bytes:
        """The header line of to_bytes's payload: equal headers, equal indexes (it holds the hashes' digest)."""
        return payload[:payload.index(b"\n")]

    @classmethod
    def from_bytes(cls, payload: bytes) -> "NgramIndex":
        end = payload.index(b"\n")
        header = json.loads(payload[:end])
        if header.get("format") != FORMAT:
            raise ValueError(f"not a decontamination index of format {FORMAT}: {header}")
        hashes = np.frombuffer(payload, dtype="<u8", count=header["count"], offset=end + 1)
        return cls(hashes, header["n"])

    def _make_table(self) -> None:
        bits = max(6, int(np.ceil(np.log2(8 * len(self.hashes)))))  # 2**bits slots: 8 to 16 per n-gram
        self._shift = np.uint64(64 - bits)
        slots = self.hashes >> self._shift  # sorted, as the hashes are
        byte = (slots >> np.uint64(3)).astype(np.intp)
        masks = np.left_shift(np.uint8(1), (slots & np.uint64(7)).astype(np.uint8))
        starts = np.flatnonzero(np.concatenate([[True], byte[1:] != byte[:-1]]))
        table = np.zeros(1 << (bits - 3), dtype=np.uint8)
        table[byte[starts]] = np.bitwise_or.reduceat(masks, starts)
        self._table = table

    def first_match(self, doc_words: list[str]) -> int | None:
        """The position of the document's first n-gram found among the evaluation n-grams, or None."""
        if not len(self.hashes) or len(doc_words) < self.n:
            return None
        if self._table is None:
            self._make_table()
        found = ngram_hashes(word_hashes(doc_words), self.n)
        slots = found >> self._shift
        maybe = np.flatnonzero((self._table[(slots >> np.uint64(3)).astype(np.intp)]
                                >> (slots & np.uint64(7)).astype(np.uint8)) & 1)
        if not len(maybe):
            return None
        candidates = found[maybe]
        positions = np.searchsorted(self.hashes, candidates)
        np.minimum(positions, len(self.hashes) - 1, out=positions)
        hit = self.hashes[positions] == candidates
        first = int(hit.argmax())
        return int(maybe[first]) if hit[first] else None

    def check(self, text: str, lang: str | None = None) -> str | None:
        """The first shared n-gram of a document, as its normalised words joined by spaces, or None."""
        doc_words = words(text, lang)
        first = self.first_match(doc_words)
        return None if first is None else " ".join(doc_words[first:first + self.n])
