"""Boilerplate lines, C4 style: a line (stripped and lowercased, then hashed) that occurs in more
than N documents of the corpus is removed from all of them; navigation, cookie notices and footers
repeat across pages, prose does not.

Counting is per document (a line repeated within one page counts once) and runs as a combiner in
Beam (pipelines.transforms.boilerplate), so a line shared by millions of pages never forms one group.
"""

import xxhash


def line_key(line: str) -> int | None:
    """The hash a line is counted under, or None for a blank line."""
    line = line.strip().lower()
    return xxhash.xxh3_64_intdigest(line.encode("utf-8", "surrogatepass")) if line else None


def distinct_line_keys(text: str) -> set[int]:
    return {k for k in map(line_key, text.split("\n")) if k is not None}


def strip_lines(text: str, common) -> tuple[str, int]:
    """(text without the lines whose key is in `common`, how many lines went)."""
    kept, removed = [], 0
    for line in text.split("\n"):
        key = line_key(line)
        if key is not None and key in common:
            removed += 1
        else:
            kept.append(line)
    return "\n".join(kept).strip("\n"), removed
