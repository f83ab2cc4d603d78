"""Document JSONL (.jsonl, .json.gz, .jsonl.zst, ...) and Parquet files.

The text is the `text_field` option, or else the first of `text`, `raw_content` (cc_net) and
`content`. `url`, `title` and `date` come from the record or its `metadata` object; every other
field is kept in the document's metadata JSON.
"""

import json

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from pipelines.records import SAMPLE_BYTES, FileContext
from pipelines.sources.streams import DECOMPRESSION_ERRORS, decompressed

_CHUNK = 1 << 20

TEXT_FIELDS = ("text", "raw_content", "content")
_URL_FIELDS, _TITLE_FIELDS, _DATE_FIELDS = ("url",), ("title",), ("date", "created", "timestamp")
_NOT_UTF8_FIRST = (b"", b"\0", b"\xef", b"\xfe", b"\xff")
_decode_json = json.JSONDecoder().decode  # what json.loads uses without arguments


def _pick(holders: tuple, names) -> object:
    for name in names:
        for holder in holders:
            value = holder.get(name)
            if value is not None:
                return value
    return None


def record_to_document(record: dict, offset: int, ctx: FileContext):
    """A document from one JSON object or Parquet row, or a quarantine entry if it has no text."""
    text_field = ctx.options.get("text_field")
    names = (text_field,) if text_field else TEXT_FIELDS
    for field in names:
        if field in record:
            break
    else:
        field = None
    text = record.get(field) if field else None
    if not isinstance(text, str):
        found = f"{field!r} is {type(text).__name__}" if field else f"none of {list(names)} present"
        return ctx.quarantine(offset, "NoTextField", f"record has no text field: {found}",
                              sample=json.dumps(record, default=str)[:SAMPLE_BYTES].encode())
    metadata = {k: v for k, v in record.items() if k != field}
    return ctx.document(offset, text=text, metadata=metadata or None, **_described(record))


def _described(record: dict) -> dict:
    """url, title and date (as strings, or None) from the record or its `metadata` object."""
    nested = record.get("metadata")
    holders = (record, nested) if isinstance(nested, dict) else (record,)
    url, title, date = _pick(holders, _URL_FIELDS), _pick(holders, _TITLE_FIELDS), _pick(holders, _DATE_FIELDS)
    return dict(url=str(url) if url is not None else None, title=str(title) if title is not None else None,
                date=str(date) if date is not None else None)


def _loads(line: bytes):
    """json.loads(line), without its encoding detection for a line that can only be UTF-8: one that
    starts with neither a byte-order mark nor a NUL (json.loads takes those for UTF-16 or 32)."""
    if line[:1] not in _NOT_UTF8_FIRST and line[1:2] != b"\0":
        return _decode_json(line.decode("utf-8", "surrogatepass"))
    return json.loads(line)


def _lines(stream, limit: int):
    """(offset, line, too_long) for each line; a line over `limit` bytes is skipped, not held."""
    offset = 0
    while True:
        line = stream.readline(limit + 1 if limit > 0 else -1)
        if not line:
            return
        start, offset = offset, offset + len(line)
        too_long = limit > 0 and len(line) > limit and not line.endswith(b"\n")
        while too_long and not line.endswith(b"\n"):
            line = stream.readline(1 << 20)
            offset += len(line)
            if not line:
                break
        yield start, offset - start, line, too_long


def read_jsonl(raw, ctx: FileContext):
    limit = ctx.max_doc_bytes
    lines = _lines(decompressed(raw, ctx.file), limit)
    position = 0  # where the next line starts
    while True:
        try:
            start, length, line, too_long = next(lines)
        except StopIteration:
            return
        except DECOMPRESSION_ERRORS as exc:  # truncated or corrupt
            yield ctx.quarantine(position, exc, f"{type(exc).__name__}: {exc} (reading stopped here)")
            return
        position = start + length
        if too_long:
            yield ctx.reject(ctx.document(start, text=""), "too_large",
                             f"line of {length} bytes is larger than max_doc_bytes={limit}")
            continue
        if not line.strip():
            continue
        try:
            record = _loads(line)
        except (ValueError, RecursionError) as exc:  # JSONDecodeError, UnicodeDecodeError, absurd nesting
            yield ctx.quarantine(start, exc, f"{type(exc).__name__}: {str(exc)[:500]}", sample=line)
            continue
        if not isinstance(record, dict):
            yield ctx.quarantine(start, "NotAnObject", f"JSON line is a {type(record).__name__}, not an object",
                                 sample=line)
            continue
        yield record_to_document(record, start, ctx)


_BATCH_ROWS = 1024
_DICTIONARY_ENCODINGS = frozenset({"PLAIN_DICTIONARY", "RLE_DICTIONARY"})
# Parquet's own bytes around one row's values (page headers, levels, length prefixes) allowed for
# before a one-row row group is judged too large from its metadata.
_ROW_SLACK = 1 << 16
_SMALL_FIELD = 4096  # fields this small are kept on a too_large reject (url, title, date)
# A dictionary page larger than both of these is not decoded. Writers cut dictionary pages near
# 1 MB (pyarrow's dictionary_pagesize_limit) but pass it by a few MB, whatever max_doc_bytes is.
_MAX_DICTIONARY = 4  # times max_doc_bytes
_MAX_DICTIONARY_BYTES = 64 << 20
# Lost rows get a quarantine entry each, up to this many in a file; past it, one entry stands for
# the rest of a row group (a damaged footer can claim any number of rows).
_MAX_LOST_ROWS = 1 << 20
# Small row groups are read with batches down to 1/_RUN_SPREAD of what their dictionary pages
# would allow, and consecutive ones in one pass unless one could take batches _RUN_SPREAD times
# larger than the first one's (see _small_group_batch, _run).
_RUN_SPREAD = 4
# Parquet codec names -> pyarrow's (the old Hadoop-framed LZ4 is left to pyarrow alone).
_CODECS = {"SNAPPY": "snappy", "GZIP": "gzip", "ZSTD": "zstd", "BROTLI": "brotli", "LZ4_RAW": "lz4_raw"}
_READ_ERRORS = (pa.ArrowException, OSError, ValueError)


def read_parquet(raw, ctx: FileContext):
    """Rows in file order, the row number as offset; read in batches sized from the file's
    metadata so that a batch decodes to about `max_doc_bytes` at most.

    What a value decodes to is bounded before it is read: a plain value by the row group's average
    row (its bytes are in the file), a dictionary-encoded one by the longest entry of its dictionary
    page (read and measured here), a DELTA_BYTE_ARRAY one (prefixes shared with the value before)
    by its column chunk. Lists of dictionary-encoded strings (a row can repeat an entry any number
    of times) are read as Arrow dictionaries and expanded only for rows that are accepted.
    Rows whose decoded size passes `max_doc_bytes` are rejected `too_large` from their Arrow sizes,
    never turned into Python objects; a row group of one such row is rejected from its metadata
    without being read. The bound that remains: pyarrow cannot skip a value inside a row group, so
    a value larger than max_doc_bytes in a row group of several rows is decompressed while it is
    measured, costing a few times its size (its page, its value) for that moment; a dictionary page
    is decoded whole, so a row group with a dictionary page over both _MAX_DICTIONARY x
    max_doc_bytes and _MAX_DICTIONARY_BYTES is not read.

    Small row groups (files written a few rows at a time) cost what their rows cost: a row group
    whose column chunks add up to at most max_doc_bytes needs no dictionary page read (a value
    decodes to no more than its column chunk holds, a dictionary entry included), and consecutive
    ones are read in one pass, batches spanning them, so that the fixed costs (starting a read,
    measuring a batch) are paid per batch, not per row group.

    Rows that cannot be read (a damaged page, a dictionary page too large to decode) cost only
    their row group from the first one lost: each lost row is quarantined with its row number as
    offset, so that the file's records still add up to its documents, rejects and quarantine
    entries, and reading goes on with the next row group (past _MAX_LOST_ROWS lost rows in a file,
    one entry stands for the rest of a row group). Row group metadata that cannot be read stops the
    file with one entry: the rows after it cannot be numbered.
    """
    limit = ctx.max_doc_bytes
    try:
        parquet = pq.ParquetFile(raw, pre_buffer=False, buffer_size=_CHUNK)
        keep_encoded = _dictionary_columns(parquet)
        if keep_encoded:
            parquet = pq.ParquetFile(raw, metadata=parquet.metadata, pre_buffer=False, buffer_size=_CHUNK,
                                     read_dictionary=keep_encoded)
    except _READ_ERRORS as exc:  # no footer, a damaged one (names not UTF-8), not Parquet
        yield ctx.quarantine(0, exc, f"{type(exc).__name__}: {exc} (no row could be read)")
        return
    meta, lost = parquet.metadata, _LostRows(ctx)
    row, index, ahead = 0, 0, None  # ahead: the metadata of group `index`, read by _run already
    while index < meta.num_row_groups:
        try:
            group, rows, stored, batch_rows = ahead or _group(meta, index, keep_encoded, limit)
        except _READ_ERRORS as exc:
            yield ctx.quarantine(row, exc, f"row group {index}: {type(exc).__name__}: {exc} (metadata; reading "
                                           f"stopped here)")
            return  # without its row count, the offsets of the rows after it are unknown
        ahead = None
        if rows == 1 and limit and stored > limit + _ROW_SLACK:
            doc = ctx.document(row, text="", **_described(_small_columns(parquet, index, group)))
            yield ctx.reject(doc, "too_large", f"row of {stored} bytes (Parquet metadata, not read) > "
                                               f"max_doc_bytes={limit}")
            run = [(index, rows, batch_rows)]
        elif batch_rows is None:
            yield from _read_large_group(parquet, raw, index, group, row, keep_encoded, ctx, lost)
            run = [(index, rows, batch_rows)]
        else:
            run, ahead = _run(meta, index, rows, batch_rows, keep_encoded, limit)
            yield from _read_run(parquet, run, row, batch_rows, ctx, lost)
        row += sum(n for _, n, _ in run)
        index = run[-1][0] + 1


def _group(meta, index: int, keep_encoded: list[str], limit: int) -> tuple:
    """(row group metadata, rows, stored bytes, batch rows for a small group or None); raises
    ArrowException, OSError or ValueError for metadata that cannot be read."""
    group = meta.row_group(index)
    rows, stored = group.num_rows, 0
    for j in range(group.num_columns):
        stored += group.column(j).total_uncompressed_size
    if rows < 0:
        raise ValueError(f"{rows} rows")
    return group, rows, stored, _small_group_batch(group, rows, stored, keep_encoded, limit)


def _small_group_batch(group, rows: int, stored: int, keep_encoded: list[str], limit: int) -> int | None:
    """Rows per batch for a row group whose rows are bounded by its metadata alone, or None for one
    whose dictionary pages are to be measured: its column chunks add up to more than `limit`, or
    bounding each dictionary-encoded value by its column chunk would cut its batches to less than
    1/_RUN_SPREAD of its rows (and of _BATCH_ROWS). A value of a flat column decodes to no more
    than its column chunk holds (a dictionary entry is in it), so a row to no more than the group's
    column chunks together: where that bound lets a batch hold the whole group, the columns'
    encodings are not looked at. (Lists are bounded by their average, as in _batch_rows.)"""
    if not limit:
        return _BATCH_ROWS
    if stored > limit:
        return None
    if stored * min(rows, _BATCH_ROWS) <= limit:
        return int(min(_BATCH_ROWS, limit // max(stored, 1)))
    longest = {}
    for j in range(group.num_columns):
        column = group.column(j)
        if not _DICTIONARY_ENCODINGS.isdisjoint(column.encodings):
            longest[j] = column.total_uncompressed_size
    batch_rows = _batch_rows(group, longest, keep_encoded, limit)
    return batch_rows if _RUN_SPREAD * batch_rows >= min(rows, _BATCH_ROWS) else None


def _run(meta, index: int, rows: int, batch_rows: int, keep_encoded: list[str], limit: int):
    """([(index, rows, batch rows)] of the small row groups from `index` on that are read in one
    pass with `index`'s batch rows, the metadata of the group after them or None). A group joins if
    batches of that size suit it: its own are no smaller, and it fits one or its own are less than
    _RUN_SPREAD times larger. Batches span row groups."""
    run = [(index, rows, batch_rows)]
    for j in range(index + 1, meta.num_row_groups):
        try:
            info = _group(meta, j, keep_encoded, limit)
        except _READ_ERRORS:
            return run, None  # the caller meets the error again
        _, rows, _, own = info
        if own is None or own < batch_rows or (rows > batch_rows and own > _RUN_SPREAD * batch_rows):
            return run, info  # (a row group of one row too large to read has no batch rows either)
        run.append((j, rows, own))
    return run, None


def _read_run(parquet, run: list[tuple], first_row: int, batch_rows: int, ctx: FileContext, lost: "_LostRows"):
    """The rows of consecutive small row groups (see _run), from `first_row`. If a batch fails, the
    row groups holding its rows (it may have begun in a sound one) are read again one by one, each
    losing its rows from a failing one on, and the groups after them are read as before."""
    k = 0  # run[k:] is still to read
    while k < len(run):
        done, exc = yield from _read_rows(parquet, [i for i, _, _ in run[k:]], first_row, batch_rows, ctx)
        if exc is None:
            return
        failed, end = first_row + done, first_row + done + batch_rows  # the failing batch's rows
        while k < len(run) and first_row < end:
            index, rows, own = run[k]
            k += 1
            if first_row + rows > failed:  # else read whole before the failing batch
                skip = max(failed - first_row, 0)
                done, exc = yield from _read_rows(parquet, [index], first_row, own, ctx, skip=skip)
                if exc is not None:
                    start, last = first_row + done, first_row + rows - 1
                    yield from lost.rows(start, last, exc, f"{type(exc).__name__}: {exc} (rows {start} to {last}, "
                                                           f"the rest of row group {index}, are lost)")
            first_row += rows


def _read_large_group(parquet, raw, index: int, group, row: int, keep_encoded: list[str], ctx: FileContext,
                      lost: "_LostRows"):
    """The rows of a row group whose dictionary pages are measured first, from row `row`."""
    limit, last = ctx.max_doc_bytes, row + group.num_rows - 1
    try:
        largest, longest = _dictionaries(raw, group, limit)
    except _READ_ERRORS as exc:
        yield from lost.rows(row, last, exc, f"{type(exc).__name__}: {exc} (a dictionary page of row group "
                                             f"{index}; rows {row} to {last} not read)")
        return
    if limit and largest > _dictionary_limit(limit):
        yield from lost.rows(row, last, "DictionaryTooLarge",
                             f"row group {index} has a dictionary page of {largest} bytes (more than "
                             f"{_MAX_DICTIONARY} x max_doc_bytes={limit} and {_MAX_DICTIONARY_BYTES}): rows {row} "
                             f"to {last} not read")
        return
    done, exc = yield from _read_rows(parquet, [index], row, _batch_rows(group, longest, keep_encoded, limit), ctx)
    if exc is not None:
        yield from lost.rows(row + done, last, exc, f"{type(exc).__name__}: {exc} (rows {row + done} to {last}, "
                                                    f"the rest of row group {index}, are lost)")


def _read_rows(parquet, indices: list[int], first_row: int, batch_rows: int, ctx: FileContext, skip: int = 0):
    """Documents, rejects and quarantine entries for the rows of consecutive row groups `indices`
    (the first at row `first_row`), those before first_row + skip left out. Returns (rows read,
    the skipped ones included; the error that stopped the reading, or None)."""
    limit, done = ctx.max_doc_bytes, 0
    try:
        for batch in parquet.iter_batches(batch_size=batch_rows, row_groups=indices, use_threads=False):
            if done < skip:
                if done + batch.num_rows <= skip:
                    done += batch.num_rows
                    continue
                batch, done = batch.slice(skip - done), skip
            yield from _batch_rows_out(batch, first_row + done, ctx, limit)
            done += batch.num_rows
    except _READ_ERRORS as exc:  # a damaged page, a bad encoding, a cut file
        return max(done, skip), exc
    return done, None


class _LostRows:
    """Quarantine entries for rows that could not be read: one per row, up to _MAX_LOST_ROWS in a file."""

    def __init__(self, ctx: FileContext):
        self.ctx, self.listed = ctx, 0

    def rows(self, first: int, last: int, error: BaseException | str, message: str):
        for row in range(first, last + 1):
            if self.listed >= _MAX_LOST_ROWS:
                yield self.ctx.quarantine(row, error, f"{message}; this entry stands for rows {row} to {last} (more "
                                                      f"than {_MAX_LOST_ROWS} rows of this file lost)")
                return
            self.listed += 1
            yield self.ctx.quarantine(row, error, message)


def _dictionary_limit(limit: int) -> int:
    """The largest dictionary page decoded when reading with max_doc_bytes `limit`."""
    return max(_MAX_DICTIONARY * limit, _MAX_DICTIONARY_BYTES)


def _dictionary_columns(parquet) -> list[str]:
    """String columns inside lists or maps with dictionary pages: one row can repeat a dictionary
    entry any number of times, so they are read as Arrow dictionaries. (Not flat ones: pyarrow
    re-hashes a dictionary column's values, costing speed and memory for nothing there.)"""
    meta, schema = parquet.metadata, parquet.schema
    found = set()
    for j in range(meta.num_columns):
        column = schema.column(j)
        if column.physical_type == "BYTE_ARRAY" and column.max_repetition_level and any(
                _DICTIONARY_ENCODINGS & set(meta.row_group(i).column(j).encodings) for i in range(meta.num_row_groups)):
            found.add(column.path)
    return sorted(found)


def _dictionaries(raw, group, limit: int) -> tuple[int, dict[int, int]]:
    """(the largest dictionary page's uncompressed bytes, {column: longest dictionary entry}) for
    the row group's dictionary-encoded string column chunks that could change a batch's size."""
    largest, longest = 0, {}
    if not limit:
        return largest, longest
    for j in range(group.num_columns):
        column = group.column(j)
        stored = column.total_uncompressed_size
        if not _DICTIONARY_ENCODINGS & set(column.encodings) or stored <= limit // _BATCH_ROWS:
            continue
        page = _dictionary_page(raw, column, _dictionary_limit(limit))
        if page is None:  # not found or not measurable: the whole chunk bounds it
            largest, longest[j] = max(largest, stored), stored
            continue
        size, data = page
        largest = max(largest, size)
        longest[j] = size if data is None or column.physical_type != "BYTE_ARRAY" else _longest_entry(data)
    return largest, longest


def _batch_rows(group, longest: dict[int, int], keep_encoded: list[str], limit: int) -> int:
    """Rows per batch such that a batch decodes to about `limit` bytes at most (see read_parquet)."""
    if not limit or not group.num_rows:
        return _BATCH_ROWS
    per_row = 0.0  # bytes one row may decode to
    for j in range(group.num_columns):
        column = group.column(j)
        stored, average = column.total_uncompressed_size, column.total_uncompressed_size / group.num_rows
        if "DELTA_BYTE_ARRAY" in column.encodings:
            per_row += stored
        elif j in longest and column.path_in_schema not in keep_encoded:
            per_row += max(longest[j], average)
        else:
            per_row += average
    return int(max(1, min(_BATCH_ROWS, limit // max(per_row, 1))))


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value, pos


def _zigzag(value: int) -> int:
    return (value >> 1) ^ -(value & 1)


def _thrift(data: bytes, pos: int, kind: int = 12, depth: int = 0):
    """One value of Thrift's compact protocol at `pos` (a struct by default: {field id: value});
    returns (value, position after it). Raises IndexError or ValueError on bytes that are not one."""
    if depth > 16:
        raise ValueError("Thrift structure nested too deep")
    if kind in (1, 2):  # a boolean field carries its value in its type
        return kind == 1, pos
    if kind == 3:
        return data[pos], pos + 1
    if kind in (4, 5, 6):
        value, pos = _varint(data, pos)
        return _zigzag(value), pos
    if kind == 7:
        return None, pos + 8
    if kind == 8:
        size, pos = _varint(data, pos)
        return data[pos:pos + size], pos + size
    if kind in (9, 10):
        head, pos = data[pos], pos + 1
        size, item = head >> 4, head & 0x0F
        if size == 15:
            size, pos = _varint(data, pos)
        values = []
        for _ in range(size):
            if item in (1, 2):  # booleans in a list take a byte each
                value, pos = data[pos] == 1, pos + 1
            else:
                value, pos = _thrift(data, pos, item, depth + 1)
            values.append(value)
        return values, pos
    if kind == 12:
        fields, field_id = {}, 0
        while True:
            head, pos = data[pos], pos + 1
            if not head:
                return fields, pos
            if head >> 4:
                field_id += head >> 4
            else:
                field_id, pos = _varint(data, pos)
                field_id = _zigzag(field_id)
            fields[field_id], pos = _thrift(data, pos, head & 0x0F, depth + 1)
    raise ValueError(f"Thrift compact type {kind} not read here")


def _dictionary_page(raw, column, most: int) -> tuple[int, bytes | None] | None:
    """(uncompressed size, decompressed bytes) of a column chunk's dictionary page, the bytes None
    when over `most` or in a codec not read here; None if there is no page header to read."""
    offset = column.dictionary_page_offset if column.has_dictionary_page else column.data_page_offset
    if offset is None or offset < 0:
        return None
    position = raw.tell()
    try:
        raw.seek(offset)
        head = raw.read(256)  # a dictionary page header takes a few dozen bytes
        try:
            header, length = _thrift(head, 0)
        except (IndexError, ValueError):
            return None
        # PageHeader: 1 type (2: dictionary page), 2 uncompressed size, 3 compressed size.
        kind, size, stored = header.get(1), header.get(2), header.get(3)
        if kind != 2 or not isinstance(size, int) or not isinstance(stored, int) or size < 0 or stored < 0:
            return None
        codec = _CODECS.get(column.compression) if column.compression != "UNCOMPRESSED" else None
        if size > most or stored > most or (codec is None and column.compression != "UNCOMPRESSED"):
            return size, None
        raw.seek(offset + length)
        data = raw.read(stored)
    finally:
        raw.seek(position)
    if codec:
        data = pa.Codec(codec).decompress(data, decompressed_size=size, asbytes=True)
    return size, data


def _longest_entry(data: bytes) -> int:
    """The longest value of a PLAIN-encoded BYTE_ARRAY dictionary page (4-byte length, bytes)."""
    longest, pos, end = 0, 0, len(data)
    while pos + 4 <= end:
        size = int.from_bytes(data[pos:pos + 4], "little")
        longest = max(longest, min(size, end - pos - 4))
        pos += 4 + size
    return longest


def _value_sizes(array: pa.Array) -> np.ndarray:
    """The bytes each value of `array` decodes to (nested values summed, nulls 0), from Arrow's
    lengths and offsets, without making Python objects."""
    kind, n = array.type, len(array)
    if pa.types.is_dictionary(kind):
        entry = _value_sizes(array.dictionary)
        indices = array.indices.fill_null(0).to_numpy(zero_copy_only=False).astype(np.int64)
        sizes = entry[indices] if len(entry) else np.zeros(n, np.int64)
        return np.where(array.is_null().to_numpy(zero_copy_only=False), 0, sizes) if array.null_count else sizes
    if pa.types.is_binary_view(kind) or pa.types.is_string_view(kind):
        array = array.cast(pa.large_binary())
        kind = array.type
    if (pa.types.is_string(kind) or pa.types.is_binary(kind) or pa.types.is_large_string(kind)
            or pa.types.is_large_binary(kind) or pa.types.is_fixed_size_binary(kind)):
        return pc.binary_length(array).fill_null(0).to_numpy(zero_copy_only=False).astype(np.int64)
    if pa.types.is_list(kind) or pa.types.is_large_list(kind) or pa.types.is_map(kind):
        cumulative = np.concatenate(([0], np.cumsum(_value_sizes(array.values))))
        offsets = array.offsets.to_numpy(zero_copy_only=False)
        return (cumulative[offsets[1:]] - cumulative[offsets[:-1]]).astype(np.int64)
    if pa.types.is_fixed_size_list(kind):
        parents = pc.list_parent_indices(array).to_numpy(zero_copy_only=False)
        child = _value_sizes(pc.list_flatten(array))
        return np.bincount(parents, weights=child, minlength=n).astype(np.int64)
    if pa.types.is_struct(kind):
        sizes = np.zeros(n, np.int64)
        for child in array.flatten():
            sizes += _value_sizes(child)
        return sizes
    try:
        return np.full(n, max(kind.bit_width // 8, 1), np.int64)
    except ValueError:  # not fixed width (unions, list views, ...): the average
        return np.full(n, array.nbytes // max(n, 1), np.int64)


def _small_columns(parquet, index: int, group) -> dict:
    """The top-level columns of a row group of one row whose stored bytes are few, as a record."""
    size: dict[str, int] = {}
    for j in range(group.num_columns):
        column = group.column(j)
        name = column.path_in_schema.split(".")[0]
        size[name] = size.get(name, 0) + column.total_uncompressed_size
    small = [name for name, stored in size.items() if stored <= _SMALL_FIELD]
    if not small:
        return {}
    try:
        return parquet.read_row_group(index, columns=small, use_threads=False).to_pylist()[0]
    except (pa.ArrowException, OSError, ValueError, IndexError):
        return {}


def _batch_rows_out(batch, first_row: int, ctx: FileContext, limit: int):
    """Documents (or rejects, or quarantine entries) for the rows of one batch."""
    if limit:
        columns = [_value_sizes(column) for column in batch.columns]
        sizes = np.sum(columns, axis=0) if columns else np.zeros(batch.num_rows, np.int64)
        over = sizes > limit
    if not limit or not over.any():
        yield from _convert(batch, first_row, ctx)
        return
    start = 0
    for i in [*np.flatnonzero(over).tolist(), batch.num_rows]:
        if i > start:
            yield from _convert(batch.slice(start, i - start), first_row + start, ctx)
        if i < batch.num_rows:
            small = [j for j, column in enumerate(columns) if column[i] <= _SMALL_FIELD]
            try:
                record = batch.select(small).slice(i, 1).to_pylist()[0] if small else {}
            except (pa.ArrowException, ValueError, OverflowError):
                record = {}
            yield ctx.reject(ctx.document(first_row + i, text="", **_described(record)), "too_large",
                             f"row of {int(sizes[i])} bytes > max_doc_bytes={limit}")
        start = i + 1


def _convert(batch, first_row: int, ctx: FileContext):
    """Rows to documents; a row Arrow cannot turn into Python (invalid UTF-8, say) is quarantined."""
    try:
        records = batch.to_pylist()
    except (pa.ArrowException, ValueError, OverflowError):
        records = None
    for i in range(batch.num_rows):
        if records is not None:
            yield record_to_document(records[i], first_row + i, ctx)
            continue
        try:
            record = batch.slice(i, 1).to_pylist()[0]
        except (pa.ArrowException, ValueError, OverflowError) as exc:
            yield ctx.quarantine(first_row + i, exc, f"{type(exc).__name__}: {exc}")
            continue
        yield record_to_document(record, first_row + i, ctx)
