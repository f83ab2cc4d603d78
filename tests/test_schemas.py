"""The explicit schemas: rows that do not fit are errors, and files are checked on read."""

import pyarrow as pa
import pytest

from schemas import DOCUMENT_SCHEMA, QUARANTINE_SCHEMA, REJECT_SCHEMA, SchemaMismatch, check_schema, to_table


def _document(**changes):
    row = {"id": "a" * 32, "text": "hello", "source": "s", "format": "text", "file": "f", "offset": 0,
           "lang": "en", "lang_score": 0.9, "signals": {}, "dedup_cluster": "a" * 32, "dedup_cluster_size": 1}
    row.update(changes)
    return row


def test_rows_to_table_with_the_exact_schema():
    table = to_table([_document(extra_key="ignored")], DOCUMENT_SCHEMA)
    assert table.schema.equals(DOCUMENT_SCHEMA, check_metadata=True)
    assert table.column("signals").to_pylist()[0]["gopher_word_count"] is None


def test_missing_required_value_is_an_error():
    with pytest.raises(SchemaMismatch, match="lang"):
        to_table([_document(lang=None)], DOCUMENT_SCHEMA)


def test_wrong_type_is_an_error():
    with pytest.raises((pa.ArrowInvalid, pa.ArrowTypeError)):
        to_table([_document(offset="twelve")], DOCUMENT_SCHEMA)


def test_reject_rows_may_lack_later_stage_fields():
    row = _document(lang=None, lang_score=None, signals=None, dedup_cluster=None, dedup_cluster_size=None,
                    stage="read", reason="too_large")
    assert to_table([row], REJECT_SCHEMA).num_rows == 1


def test_check_schema():
    check_schema(to_table([], QUARANTINE_SCHEMA).schema, QUARANTINE_SCHEMA)
    with pytest.raises(SchemaMismatch):
        check_schema(DOCUMENT_SCHEMA.remove(1), DOCUMENT_SCHEMA)
    with pytest.raises(SchemaMismatch, match="schema_version"):
        check_schema(DOCUMENT_SCHEMA.with_metadata({"schema_version": "0"}), DOCUMENT_SCHEMA)
