"""MinHash signatures and LSH band keys, vectorised with numpy and equal bit for bit to datasketch's.

Shingles are word n-grams (default 5) of the text simplified as datatrove simplifies it for dedup
(lowercase, digits to 0, punctuation to spaces, white space collapsed, diacritics folded); for
Chinese, Japanese, Korean and Thai they are character n-grams of the simplified text without its
spaces. A text shorter than one shingle is one shingle.

A shingle's 32-bit hash combines the xxh32 hashes of its words (or characters) as a polynomial mod
2**32, so each word is hashed once and the n-gram hashes are computed in numpy. The signature is
datasketch 2.0's "affine32" scheme: the MurmurHash3 finalizer over each shingle hash, then
`a * h + b mod 2**32` for `num_perm` odd `a` drawn from numpy's RandomState(seed), then the minimum.
`MinHasher.datasketch()` gives the datasketch MinHash with the same hash function, scheme, seed and
permutations, and a test checks that both give the same values on real documents.
"""

import re
import unicodedata
from dataclasses import dataclass, field

import numpy as np
import regex
import xxhash

from filters.text import PUNCTUATION

try:
    from dedup._minhash import signature as _compiled_signature
except ImportError:  # built without a C compiler: numpy gives the same signatures
    _compiled_signature = None

CHARACTER_NGRAM_LANGUAGES = frozenset({"zh", "ja", "ko", "th", "wuu", "yue", "lo", "km", "my"})
_MULTIPLIER = np.uint32(0x9E3779B1)  # odd
_MASK32 = (1 << 32) - 1
_NUMBERS = re.compile(r"\d+(?:[.,\u060c\u066b]\d+)?")
_SPACES = re.compile(r"\s+")
_COMBINING_MARKS = regex.compile(r"\p{Mn}+")
_PUNCT_TO_SPACE = str.maketrans({ch: " " for ch in PUNCTUATION})
# str.translate is fast on ASCII text only (a cache of 128 entries); on other text it looks each
# character up in the table, some 5 times slower than a regex class.
_PUNCT = re.compile(f"[{re.escape(''.join(sorted(PUNCTUATION)))}]")
_FMIX = (np.uint32(16), np.uint32(0x85EBCA6B), np.uint32(13), np.uint32(0xC2B2AE35), np.uint32(16))


def _simplified_words(text: str) -> str:
    """The text simplified but for its white space, which is left for str.split to take apart: it
    splits where `\\s` matches, and NFD and dropping marks make no white space, so the words are
    simplify's."""
    text = _NUMBERS.sub("0", text.lower())
    if text.isascii():
        return text.translate(_PUNCT_TO_SPACE)
    return _COMBINING_MARKS.sub("", unicodedata.normalize("NFD", _PUNCT.sub(" ", text)))


def simplify(text: str) -> str:
    """datatrove's `simplify_text` for dedup: lowercase, numbers to 0, punctuation to spaces,
    white space collapsed, diacritics removed (NFD without combining marks)."""
    text = _NUMBERS.sub("0", text.lower()).translate(_PUNCT_TO_SPACE)
    text = _SPACES.sub(" ", text.strip())
    if not text.isascii():
        text = _COMBINING_MARKS.sub("", unicodedata.normalize("NFD", text))
    return text.strip()


def units(text: str, lang: str | None) -> list[str]:
    """What shingles are made of: the words of `simplify(text)`, or its characters but spaces for
    languages without word spaces."""
    words = _simplified_words(text).split()
    return list("".join(words)) if lang in CHARACTER_NGRAM_LANGUAGES else words


def fmix32(values: np.ndarray) -> np.ndarray:
    s1, m1, s2, m2, s3 = _FMIX
    values = values ^ (values >> s1)
    values = values * m1
    values = values ^ (values >> s2)
    values = values * m2
    return values ^ (values >> s3)


def unit_hash(unit: str) -> int:
    return xxhash.xxh32_intdigest(unit.encode("utf-8", "surrogatepass"))


class _UnitHashes(dict):
    """unit -> xxh32, remembered: words repeat, and a dict lookup is cheaper than hashing."""

    def __missing__(self, unit: str) -> int:
        if len(self) > 2_000_000:
            self.clear()
        value = self[unit] = unit_hash(unit)
        return value


_UNIT_HASHES = _UnitHashes()


def shingle_hash(shingle: bytes) -> int:
    """The hash function given to datasketch: a shingle is its units joined by single spaces."""
    h = 0
    for unit in shingle.decode("utf-8", "surrogatepass").split(" "):
        h = (h * int(_MULTIPLIER) + unit_hash(unit)) & _MASK32
    return h


@dataclass
class MinHasher:
    num_perm: int = 112
    ngram: int = 5  # words
    char_ngram: int = 5  # characters, for languages without word spaces
    seed: int = 1
    _perms: np.ndarray = field(init=False, repr=False)

    def __post_init__(self):
        # datasketch 2.0, scheme "affine32": odd a in [1, 2**32), b in [0, 2**32), from RandomState(seed).
        gen = np.random.RandomState(self.seed)
        a = gen.randint(0, 1 << 31, self.num_perm, dtype=np.uint32) * np.uint32(2) + np.uint32(1)
        b = gen.randint(0, 1 << 32, self.num_perm, dtype=np.uint32)
        self._perms = np.array([a, b])

    def unit_hashes(self, text: str, lang: str | None = None) -> tuple[np.ndarray, int]:
        """(the 32-bit hash of each of a text's units, the units a shingle takes)."""
        parts = units(text, lang)
        n = min(self.char_ngram if lang in CHARACTER_NGRAM_LANGUAGES else self.ngram, len(parts))
        return np.fromiter(map(_UNIT_HASHES.__getitem__, parts), np.uint32, len(parts)), n

    def shingle_hashes(self, text: str, lang: str | None = None) -> np.ndarray:
        """The 32-bit hashes of a text's shingles (with repeats)."""
        hashes, n = self.unit_hashes(text, lang)
        if not hashes.size:
            return hashes
        count = len(hashes) - n + 1
        with np.errstate(over="ignore"):
            combined = hashes[:count].copy()
            for k in range(1, n):
                combined = combined * _MULTIPLIER + hashes[k:k + count]
        return combined

    def shingles(self, text: str, lang: str | None = None) -> list[bytes]:
        """The shingles themselves, as datasketch is given them (for tests and the reference path)."""
        parts = units(text, lang)
        n = min(self.char_ngram if lang in CHARACTER_NGRAM_LANGUAGES else self.ngram, len(parts))
        return [" ".join(parts[i:i + n]).encode("utf-8", "surrogatepass") for i in range(len(parts) - n + 1)]

    def signature(self, text: str, lang: str | None = None, compiled: bool = True) -> np.ndarray | None:
        """`num_perm` uint32 values, or None for a text without shingles: by the compiled loop
        (dedup/_minhash.c) where it is built, else with numpy; the same values."""
        if compiled and _compiled_signature is not None:
            units_hashed, n = self.unit_hashes(text, lang)
            if not units_hashed.size:
                return None
            a, b = self._perms
            return np.frombuffer(bytearray(_compiled_signature(units_hashed, n, int(_MULTIPLIER), a, b)), np.uint32)
        hashes = self.shingle_hashes(text, lang)
        if not hashes.size:
            return None
        mixed = fmix32(hashes)
        a, b = self._perms
        with np.errstate(over="ignore"):
            return (a[:, None] * mixed[None, :] + b[:, None]).min(axis=1)

    def datasketch(self):
        """An empty datasketch MinHash with this hasher's hash function, scheme, seed and permutations."""
        from datasketch import MinHash

        return MinHash(num_perm=self.num_perm, seed=self.seed, hashfunc=shingle_hash, scheme="affine32")


def band_keys(signature: np.ndarray, bands: int, rows: int) -> list[int]:
    """One 64-bit key per band: a hash of the band index and its rows' values."""
    return [xxhash.xxh3_64_intdigest(signature[i * rows:(i + 1) * rows].tobytes(), seed=i) for i in range(bands)]


# With verification the LSH stage only proposes candidates, so it leans to recall: false negatives
# weigh 0.95 (at 112 permutations and J 0.8 this gives FineWeb's 14 x 8).
RECALL_WEIGHTS = (0.05, 0.95)


def lsh_params(threshold: float, num_perm: int, weights: tuple[float, float] = (0.5, 0.5)) -> tuple[int, int]:
    """(bands, rows) minimising weighted false positive and negative areas: datasketch's rule."""
    from datasketch.lsh import _optimal_param

    return _optimal_param(threshold, num_perm, *weights)


def candidate_probability(jaccard: float, bands: int, rows: int) -> float:
    return 1 - (1 - jaccard ** rows) ** bands


def estimated_jaccard(a: np.ndarray, b: np.ndarray) -> float:
    """Share of equal signature values: an unbiased estimate of the documents' Jaccard similarity."""
    return float(np.count_nonzero(a == b)) / a.size


def jaccard(a: np.ndarray, b: np.ndarray) -> float:
    """Exact Jaccard similarity of two shingle-hash sets (arrays, repeats allowed)."""
    sa, sb = np.unique(a), np.unique(b)
    if not sa.size and not sb.size:
        return 1.0
    inter = np.intersect1d(sa, sb, assume_unique=True).size
    return inter / (sa.size + sb.size - inter)
