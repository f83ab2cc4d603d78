"""Quality signals stored with every document (DESIGN.md section 3).

Filters compute these once; they are kept in the `signals` struct column so a threshold can be
changed later without recomputing. A filter may only emit names listed here (a test checks it),
and a signal a filter did not compute (it abstained, or an earlier stage dropped the document)
is null.
"""

import pyarrow as pa

# name -> (arrow type, meaning). Names are prefixed by the filter family that computes them.
SIGNALS: dict[str, tuple[pa.DataType, str]] = {
    "gopher_word_count": (pa.int32(), "words (tokens with at least one non-punctuation character)"),
    "gopher_mean_word_length": (pa.float32(), "mean length of those words, in characters"),
    "gopher_hash_ratio": (pa.float32(), "'#' characters per token (words and punctuation)"),
    "gopher_ellipsis_ratio": (pa.float32(), "'...' and '\u2026' per token"),
    "gopher_bullet_lines_ratio": (pa.float32(), "share of lines starting with a bullet"),
    "gopher_ellipsis_lines_ratio": (pa.float32(), "share of lines ending with an ellipsis"),
    "gopher_alpha_words_ratio": (pa.float32(), "share of tokens with an alphabetic character"),
    "gopher_stop_words": (pa.int32(), "occurrences of the language's Gopher stop words"),
}

SIGNALS_TYPE = pa.struct([pa.field(name, typ, nullable=True) for name, (typ, _) in SIGNALS.items()])
