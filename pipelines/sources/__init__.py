"""Readers: plain Python over a binary file object, no Beam (pipelines.transforms.read wires them).

A reader is `read_<format>(raw, ctx) -> Iterator[dict | Rejected | Quarantined]`, where `raw` is
the file as stored (compressed or not) and `ctx` a FileContext. Readers quarantine what they
cannot read and carry on where the format allows it.
"""

import posixpath

from pipelines.records import FileContext, Quarantined, Rejected, document_id
from pipelines.sources.streams import strip_compression_suffix
from pipelines.sources.tabular import read_jsonl, read_parquet
from pipelines.sources.text import read_html_file, read_text
from pipelines.sources.warc import read_warc, read_wet
from pipelines.sources.wikipedia import read_wikipedia

READERS = {
    "warc": read_warc,
    "wet": read_wet,
    "wikipedia": read_wikipedia,
    "html": read_html_file,
    "text": read_text,
    "gutenberg": read_text,  # text, named for the recipe; Gutenberg boilerplate is stripped either way
    "jsonl": read_jsonl,
    "parquet": read_parquet,
}

# File name endings (after any compression suffix) and the reader they imply.
_SUFFIXES = (
    (".warc.wet", "wet"), (".wet", "wet"),
    (".warc", "warc"), (".arc", "warc"),
    (".xml", "wikipedia"),
    (".html", "html"), (".htm", "html"), (".xhtml", "html"),
    (".jsonl", "jsonl"), (".ndjson", "jsonl"), (".json", "jsonl"),
    (".parquet", "parquet"),
    (".txt", "text"), (".text", "text"), (".md", "text"),
)


class UnknownFormat(ValueError):
    pass


def infer_format(path: str) -> str:
    """The reader for a file name, from its extension (compression suffixes ignored)."""
    name = strip_compression_suffix(posixpath.basename(path).lower())
    for suffix, kind in _SUFFIXES:
        if name.endswith(suffix):
            return kind
    raise UnknownFormat(f"cannot tell the format of {path!r} from its name; name a type in a recipe "
                        f"(one of {sorted(READERS)})")


def glob_base(pattern: str) -> str:
    """The directory part of a glob before its first wildcard: ids use paths relative to it, so
    they stay the same when the data moves to another disk or bucket."""
    cut = min((i for i, ch in enumerate(pattern) if ch in "*?["), default=len(pattern))
    head = pattern[:cut]
    return head if head.endswith("/") and cut < len(pattern) else posixpath.dirname(head) + "/"


def relative_location(path: str, base: str) -> str:
    return path[len(base):] if path.startswith(base) else posixpath.basename(path)


__all__ = ["READERS", "FileContext", "Quarantined", "Rejected", "UnknownFormat", "document_id",
           "glob_base", "infer_format", "relative_location"]
