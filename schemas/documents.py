"""The Parquet schemas of a curation run (docs/design.md section 2).

Three tables, each written with an explicit schema and versioned in the file's key-value metadata:

- documents:  kept documents, `documents/<lang>/part-NNNNN-of-MMMMM.parquet` (the folder is the bare
              language code, `lang` a column: docs/scale.md, "Output layout")
- rejects:    dropped documents with the stage and reason, `rejects/<stage>/...`
- quarantine: records that could not be read at all, with file, offset and error

`offset` locates a record in its file: the byte offset of a WARC record (of its gzip member in a
compressed WARC, so a reader can seek to it), of a WET record, JSONL line or text entry in the
decompressed stream, or of the `<page>` start tag in the decompressed XML dump; for Parquet input it
is the row index; for a whole-file document it is 0.
"""

import pyarrow as pa

from schemas.signals import SIGNALS_TYPE

SCHEMA_VERSION = "2"  # 2: the signals of the Gopher repetition, C4, FineWeb, bad-word, URL and PII filters


def _f(name: str, typ: pa.DataType, nullable: bool = False) -> pa.Field:
    return pa.field(name, typ, nullable=nullable)


# Fields every document has from the moment it is read.
_PROVENANCE = [
    _f("id", pa.string()),  # hash of source name + location + record offset (pipelines.records)
    _f("text", pa.large_string()),
    _f("source", pa.string()),  # the recipe's source name
    _f("format", pa.string()),  # reader type: warc, wet, wikipedia, html, text, gutenberg, jsonl, parquet
    _f("url", pa.string(), True),
    _f("title", pa.string(), True),
    _f("date", pa.string(), True),  # as the source gives it (WARC-Date, revision timestamp, ...)
    _f("file", pa.string()),
    _f("offset", pa.int64()),
    _f("metadata", pa.string(), True),  # JSON object of source-specific fields
]


def _with_metadata(schema: pa.Schema, name: str) -> pa.Schema:
    return schema.with_metadata({"schema_name": name, "schema_version": SCHEMA_VERSION})


DOCUMENT_SCHEMA = _with_metadata(
    pa.schema(
        _PROVENANCE
        + [
            _f("lang", pa.string()),
            _f("lang_score", pa.float32()),
            _f("signals", SIGNALS_TYPE),
            _f("dedup_cluster", pa.string()),  # id of the cluster's kept document
            _f("dedup_cluster_size", pa.int32()),
        ]
    ),
    "documents",
)

# A rejected document has whatever the stages before the rejecting one computed; the rest is null.
REJECT_SCHEMA = _with_metadata(
    pa.schema(
        _PROVENANCE
        + [
            _f("lang", pa.string(), True),
            _f("lang_score", pa.float32(), True),
            _f("signals", SIGNALS_TYPE, True),
            _f("dedup_cluster", pa.string(), True),
            _f("dedup_cluster_size", pa.int32(), True),
            _f("stage", pa.string()),
            _f("reason", pa.string()),
            _f("detail", pa.string(), True),  # the rule's value against its threshold, human-readable
            _f("duplicate_of", pa.string(), True),  # id of the kept document, for dedup rejects
        ]
    ),
    "rejects",
)

QUARANTINE_SCHEMA = _with_metadata(
    pa.schema(
        [
            _f("source", pa.string()),
            _f("format", pa.string()),
            _f("file", pa.string()),
            _f("offset", pa.int64()),
            _f("stage", pa.string()),  # the stage that could not handle the record
            _f("error", pa.string()),  # exception class or a short error name
            _f("message", pa.string()),
            _f("record_id", pa.string(), True),  # the document id when the record was identified
            _f("sample", pa.binary(), True),  # the first bytes of the record, to look at
        ]
    ),
    "quarantine",
)

# A near-dedup index (--dedup-index): the band keys of documents a run kept, for later runs to
# deduplicate against.
INDEX_SCHEMA = _with_metadata(
    pa.schema([_f("id", pa.string()), _f("node", pa.string()), _f("bands", pa.list_(pa.uint64())),
               _f("signature", pa.list_(pa.uint32()))]),
    "dedup_index",
)

SCHEMAS = {s.metadata[b"schema_name"].decode(): s
           for s in (DOCUMENT_SCHEMA, REJECT_SCHEMA, QUARANTINE_SCHEMA, INDEX_SCHEMA)}


class SchemaMismatch(ValueError):
    """A table or file does not have the schema it must have."""


def check_schema(actual: pa.Schema, expected: pa.Schema, where: str = "") -> None:
    """Raise SchemaMismatch unless `actual` has exactly `expected`'s fields and version."""
    name, version = expected.metadata[b"schema_name"].decode(), expected.metadata[b"schema_version"]
    if not actual.equals(expected, check_metadata=False):
        raise SchemaMismatch(f"{where}: schema differs from {name} v{version.decode()}:\n{actual}\n"
                             f"--- expected ---\n{expected}")
    meta = actual.metadata or {}
    if meta.get(b"schema_version") != version:
        raise SchemaMismatch(f"{where}: schema_version {meta.get(b'schema_version')!r}, expected {version!r}")


def to_table(rows: list[dict], schema: pa.Schema) -> pa.Table:
    """Rows (dicts) to a table with exactly `schema`; keys not in the schema are ignored.

    A wrong type raises in pyarrow; a missing value in a non-nullable field raises here (pyarrow
    itself does not check nullability), so a bad row is an error, never a silently inferred column.
    """
    columns = {name: [row.get(name) for row in rows] for name in schema.names}
    table = pa.Table.from_pydict(columns, schema=schema)
    for field in schema:
        if not field.nullable and table.column(field.name).null_count:
            raise SchemaMismatch(f"{schema.metadata[b'schema_name'].decode()}: null in non-nullable "
                                 f"field {field.name!r}")
    return table
