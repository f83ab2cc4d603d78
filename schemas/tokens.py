"""The Parquet schema of token shards (docs/design.md section 5): what `pipelines.tokenize` writes and
the trainer reads.

One row a document, its tokens without separators (the trainer's packer adds them):
`input_ids` is list<uint16> when every id fits (vocabulary up to 65,536), else list<uint32>.
"""

import pyarrow as pa

TOKENS_SCHEMA_VERSION = "1"
FORMAT = "token-shards/1"  # the manifest's "format"


def id_type(vocab_size: int) -> pa.DataType:
    """uint16 while every id fits, else uint32."""
    return pa.uint16() if vocab_size <= 1 << 16 else pa.uint32()


def token_schema(vocab_size: int) -> pa.Schema:
    return pa.schema(
        [pa.field("id", pa.string(), nullable=False),
         pa.field("source", pa.string(), nullable=False),
         pa.field("input_ids", pa.list_(id_type(vocab_size)), nullable=False),
         pa.field("n_tokens", pa.int32(), nullable=False)],
        metadata={"schema_name": "tokens", "schema_version": TOKENS_SCHEMA_VERSION},
    )
