"""Quality signals stored with every document (docs/design.md section 3).

Filters compute these once; they are kept in the `signals` struct column so a threshold can be
changed later without recomputing. A filter may only emit names listed here (a test checks it),
and a signal a filter did not compute (it abstained, or an earlier stage dropped the document)
is null.
"""

import pyarrow as pa

# name -> (arrow type, meaning). Names are prefixed by the filter family that computes them.
_F, _I, _B = pa.float32(), pa.int32(), pa.bool_()

SIGNALS: dict[str, tuple[pa.DataType, str]] = {
    # filters.gopher_quality
    "gopher_word_count": (_I, "words: tokens with a character outside punctuation"),
    "gopher_mean_word_length": (_F, "mean length of those words, in characters (null for zh, ja, th)"),
    "gopher_hash_ratio": (_F, "'#' characters per token (words and punctuation)"),
    "gopher_ellipsis_ratio": (_F, "'...' and '\u2026' per token"),
    "gopher_bullet_lines_ratio": (_F, "share of lines starting with a bullet"),
    "gopher_ellipsis_lines_ratio": (_F, "share of lines ending with an ellipsis"),
    "gopher_alpha_words_ratio": (_F, "share of tokens with an alphabetic character"),
    "gopher_stop_words": (_I, "distinct stop words of the language present (null without a list)"),
    # filters.gopher_repetition: fractions of the text's characters unless named _frac of items
    "gopher_dup_para_frac": (_F, "share of paragraphs that repeat an earlier one"),
    "gopher_dup_para_char_frac": (_F, "characters in repeated paragraphs"),
    "gopher_dup_line_frac": (_F, "share of lines that repeat an earlier one"),
    "gopher_dup_line_char_frac": (_F, "characters in repeated lines"),
    **{f"gopher_top_{n}gram_char_frac": (_F, f"characters of the most frequent {n}-gram, times its count")
       for n in (2, 3, 4)},
    **{f"gopher_dup_{n}gram_char_frac": (_F, f"characters in repeated {n}-grams") for n in range(5, 11)},
    # filters.c4
    "c4_lines": (_I, "lines before C4's line cleaning"),
    "c4_lines_kept": (_I, "lines C4's line rules kept"),
    "c4_sentences": (_I, "sentences in the kept lines"),
    "c4_lorem_ipsum": (_B, "a kept line says lorem ipsum"),
    "c4_curly_bracket": (_B, "a kept line holds a curly bracket"),
    # filters.fineweb
    "fineweb_line_punct_ratio": (_F, "share of non-empty lines ending in a sentence terminal"),
    "fineweb_short_line_ratio": (_F, "share of non-empty lines at most short_line_length characters long"),
    "fineweb_char_dup_ratio": (_F, "characters in repeated lines over all characters but newlines"),
    "fineweb_newline_ratio": (_F, "newlines per word"),
    # filters.badwords, filters.url_blocklist
    "badwords": (_I, "LDNOOBW words of the language found (null without a list)"),
    "url_blocked": (_B, "the URL is on a domain list or blocked by an EasyList rule (null without a URL)"),
    # filters.quality_classifier
    "quality_score": (_F, "the fastText classifier's probability of reference-quality text"),
    # dedup.lines (the boilerplate stage)
    "boilerplate_lines": (_I, "lines removed because more than N documents have them"),
    # filters.pii: what was redacted
    "pii_emails": (_I, "e-mail addresses replaced"),
    "pii_ips": (_I, "public IPv4 addresses replaced"),
    "pii_phones": (_I, "phone numbers replaced"),
}

SIGNALS_TYPE = pa.struct([pa.field(name, typ, nullable=True) for name, (typ, _) in SIGNALS.items()])
