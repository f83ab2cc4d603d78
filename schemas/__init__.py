"""Explicit pyarrow schemas of everything the project writes. Depends on pyarrow only."""

from schemas.documents import (
    DOCUMENT_SCHEMA,
    INDEX_SCHEMA,
    QUARANTINE_SCHEMA,
    REJECT_SCHEMA,
    SCHEMA_VERSION,
    SCHEMAS,
    SchemaMismatch,
    check_schema,
    to_table,
)
from schemas.signals import SIGNALS

__all__ = ["DOCUMENT_SCHEMA", "INDEX_SCHEMA", "QUARANTINE_SCHEMA", "REJECT_SCHEMA", "SCHEMA_VERSION", "SCHEMAS",
           "SIGNALS", "SchemaMismatch", "check_schema", "to_table"]
