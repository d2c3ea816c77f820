#!/usr/bin/env python3
"""Independent readers of every Parquet file in a warehouse: the interop check.

usage: readers.py WAREHOUSE_DIR

Finds every `*.parquet` under WAREHOUSE_DIR (recursively; a file reached twice, as through
the `current` link to a version folder, is read once) and reads each FILE on its own, never
as a dataset, so no reader adds the `opened_year=` partition column. For each file:

1. Three readers that share no Parquet code, pyarrow (Arrow C++), Polars (its own Rust
   reader) and DuckDB (its own C++ reader), must give the same column names and the same
   rows in file order, value for value. Values are compared as plain Python values
   (dictionary columns decoded, dates and times as ISO text, nulls as None, NaN as one
   token) and must also be of the same Python type. The first differing row and column of
   a file is reported.
2. Every row group's every column chunk must agree with its footer: the row count, the
   chunk's value count, and its statistics (null_count; min and max where present),
   computed again from that row group's rows (`ParquetFile.read_row_group`). Text and
   binary compare as bytes (Parquet's order), so min and max are the least and greatest
   UTF-8 encodings; dates and timestamps compare as their stored integers. A statistic
   shorter than the value it bounds (a writer's truncation) is accepted when it is a
   prefix of the true min / at least the true max, and is reported as a note.

Page-level statistics (column index) are checked on the Rust side, not here.

Prints one line per file (`ok FILE: …` or `FAILED FILE: …`) and a summary `files=…
row_groups=… column_chunks=… rows=… checks=… mismatches=… notes=… seconds=…`. Every
failed check prints `MISMATCH file=… rowgroup=… column=… what=… expected=… found=…`
(`row=` after `rowgroup=` for a value the readers disagree on; `-` where a check is not
about one row group or column; at most 20 lines a file, then a count); `NOTE …` lines tell
what was accepted but is worth knowing (a truncated statistic, a chunk without statistics).
Exit codes: 0 every check passed; 1 a mismatch (or a reader could not read a file); 2 usage
error, or no Parquet file under the folder.

Needs pyarrow, polars and duckdb (`.ci/tools.txt` pins them; `.ci/run` installs them).
"""
import datetime
import decimal
from itertools import chain
import math
import os
import sys
import time
import uuid

import duckdb
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

# Mismatch lines printed per file at most, then a count of the rest.
MAX_LINES_PER_FILE = 20
NAN = "<NaN>"


def short(v, limit=120):
    """A value as printed in a MISMATCH line: text for UTF-8 bytes, cut when long."""
    if isinstance(v, (bytes, bytearray)):
        try:
            v = bytes(v).decode("utf-8")
        except UnicodeDecodeError:
            v = bytes(v)
    s = repr(v)
    return s if len(s) <= limit else s[: limit - 3] + "..."


def plain(v):
    """A reader's value as a plain Python value that the three readers can agree on."""
    if v is None or type(v) in (str, int, bool, bytes):
        return v
    if isinstance(v, float):
        return NAN if math.isnan(v) else v
    if isinstance(v, datetime.datetime):
        if v.tzinfo is not None and v.utcoffset() is not None:
            v = v.astimezone(datetime.timezone.utc)
        return v.isoformat()
    if isinstance(v, (datetime.date, datetime.time)):
        return v.isoformat()
    if isinstance(v, (bytearray, memoryview)):
        return bytes(v)
    if isinstance(v, decimal.Decimal):
        return NAN if v.is_nan() else v
    if isinstance(v, uuid.UUID):
        return str(v)
    if isinstance(v, dict):
        return {plain(k): plain(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [plain(x) for x in v]
    return v


def decoded(column):
    """A pyarrow column as one array, a dictionary column decoded to its values."""
    arr = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    return arr.dictionary_decode() if isinstance(arr, pa.DictionaryArray) else arr


def first_difference(a, b):
    """The first index where two columns differ (value or type), or None; lengths equal."""
    # Fast path: equal as read and of the same types, so equal after `plain` too.
    if a == b and list(map(type, a)) == list(map(type, b)):
        return None
    for i, (x, y) in enumerate(zip(a, b)):
        if x is y:
            continue
        px, py = plain(x), plain(y)
        if px != py or type(px) is not type(py):
            return i
    return None


class Checker:
    def __init__(self, root):
        self.root = root
        self.files = 0
        self.row_groups = 0
        self.chunks = 0
        self.rows = 0
        self.checks = 0
        self.mismatches = 0
        self.notes = 0
        self.file_lines = 0
        self.file = None

    def check(self, ok, rowgroup, column, what, expected, found, row=None):
        self.checks += 1
        if ok:
            return True
        self.mismatches += 1
        self.file_lines += 1
        if self.file_lines <= MAX_LINES_PER_FILE:
            print(
                f"MISMATCH file={self.file} rowgroup={rowgroup} "
                + (f"row={row} " if row is not None else "")
                + f"column={column} what={what} expected={short(expected)} found={short(found)}"
            )
        return False

    def note(self, rowgroup, column, text):
        self.notes += 1
        print(f"NOTE file={self.file} rowgroup={rowgroup} column={column} {text}")

    # -- one file -------------------------------------------------------------------

    def check_file(self, path):
        self.file = os.path.relpath(path, self.root)
        self.file_lines = 0
        self.files += 1
        try:
            self.check_one(path)
        except Exception as e:  # noqa: BLE001 - a reader that raises part-way is a finding too
            self.check(False, "-", "-", "check_raised", "no error", f"{type(e).__name__}: {e}")
            print(f"FAILED {self.file}")

    def check_one(self, path):
        before = self.mismatches
        try:
            pf = pq.ParquetFile(path)
            md = pf.metadata
            groups = [pf.read_row_group(i) for i in range(md.num_row_groups)]
            table = pa.concat_tables(groups) if groups else pf.schema_arrow.empty_table()
        except Exception as e:  # noqa: BLE001 - any failure to read is the finding
            self.check(False, "-", "-", "pyarrow_read", "readable", f"{type(e).__name__}: {e}")
            return
        self.rows += table.num_rows
        self.row_groups += md.num_row_groups
        self.check(table.num_rows == md.num_rows, "-", "-", "rows_vs_footer_num_rows",
                   md.num_rows, table.num_rows)

        # Each row group's columns, decoded once: for the statistics and, joined, as
        # pyarrow's side of the comparison with the other readers.
        arrays = [{n: decoded(g.column(n)) for n in g.column_names} for g in groups]
        lists = [{n: a.to_pylist() for n, a in ga.items()} for ga in arrays]
        reference = {n: list(chain.from_iterable(gl[n] for gl in lists)) for n in table.column_names}
        self.compare_readers(path, table.column_names, reference,
                             [md.row_group(i).num_rows for i in range(md.num_row_groups)])
        for i, group in enumerate(groups):
            self.check_row_group(md, i, group, arrays[i], lists[i])

        extra = self.file_lines - MAX_LINES_PER_FILE
        if extra > 0:
            print(f"MISMATCH file={self.file} ... and {extra} more mismatch lines not shown")
        status = "ok" if self.mismatches == before else "FAILED"
        print(f"{status} {self.file}: {md.num_rows} rows, {md.num_row_groups} row groups, "
              f"{md.num_row_groups * md.num_columns} column chunks")

    # -- 1. three readers agree ---------------------------------------------------

    def compare_readers(self, path, names, reference, group_rows):
        others = {}
        try:
            df = pl.read_parquet(path, hive_partitioning=False, glob=False)
            others["polars"] = (df.columns, lambda n: df.get_column(n).to_list())
        except Exception as e:  # noqa: BLE001
            self.check(False, "-", "-", "polars_read", "readable", f"{type(e).__name__}: {e}")
        try:
            con = duckdb.connect()
            con.execute("SET threads = 2")
            con.execute("SET enable_progress_bar = false")
            con.execute("SET preserve_insertion_order = true")
            con.execute("SET TimeZone = 'UTC'")
            quoted = path.replace("'", "''")
            # file_row_number (added by the option, then left out) keeps the file's order.
            cur = con.execute(
                f"SELECT * EXCLUDE (file_row_number) FROM read_parquet('{quoted}', "
                f"hive_partitioning = false, file_row_number = true) ORDER BY file_row_number"
            )
            cols = [d[0] for d in cur.description]
            data = cur.fetchall()
            con.close()
            columns = list(zip(*data)) if data else [() for _ in cols]
            by_name = {c: list(v) for c, v in zip(cols, columns)}
            others["duckdb"] = (cols, lambda n: by_name[n])
        except Exception as e:  # noqa: BLE001
            self.check(False, "-", "-", "duckdb_read", "readable", f"{type(e).__name__}: {e}")

        for reader, (their_names, column) in others.items():
            if not self.check(their_names == names, "-", "-", f"{reader}_column_names_vs_pyarrow",
                              names, their_names):
                continue
            first = None  # (row, column, pyarrow's value, the reader's value)
            for n in names:
                theirs = column(n)
                if not self.check(len(theirs) == len(reference[n]), "-", n,
                                  f"{reader}_rows_vs_pyarrow", len(reference[n]), len(theirs)):
                    continue
                i = first_difference(reference[n], theirs)
                if i is None:
                    self.checks += 1
                elif first is None or i < first[0]:
                    first = (i, n, reference[n][i], theirs[i])
            if first is not None:
                i, n, mine, theirs = first
                g, start = 0, 0
                while g + 1 < len(group_rows) and start + group_rows[g] <= i:
                    start += group_rows[g]
                    g += 1
                self.check(False, g, n, f"{reader}_value_vs_pyarrow",
                           mine, theirs, row=f"{i}(file),{i - start}(rowgroup)")

    # -- 2. footer statistics ---------------------------------------------------

    def check_row_group(self, md, i, group, arrays, lists):
        rg = md.row_group(i)
        self.check(group.num_rows == rg.num_rows, i, "-", "rows_vs_rowgroup_num_rows",
                   rg.num_rows, group.num_rows)
        for j in range(rg.num_columns):
            self.chunks += 1
            chunk = rg.column(j)
            name = chunk.path_in_schema
            if name not in group.column_names:
                self.note(i, name, "nested column: statistics not checked")
                continue
            arr = arrays[name]
            nulls = arr.null_count
            self.check(chunk.num_values == len(arr), i, name, "chunk_num_values",
                       len(arr), chunk.num_values)
            stats = chunk.statistics
            if stats is None:
                if len(arr):
                    self.note(i, name, "no statistics")
                continue
            if stats.has_null_count:
                self.check(stats.null_count == nulls, i, name, "null_count", nulls, stats.null_count)
            else:
                self.note(i, name, "no null_count in the statistics")
            values = non_null_keys(arr, lists[name], chunk.physical_type)
            if not stats.has_min_max:
                if values:
                    self.note(i, name, f"no min/max for {len(values)} non-null values")
                continue
            if not self.check(bool(values), i, name, "min_max_without_values", "absent",
                              f"min={short(stats.min_raw)} max={short(stats.max_raw)}"):
                continue
            lo, hi = min(values), max(values)
            smin, smax = stat_key(stats, "min"), stat_key(stats, "max")
            self.check_bound(i, name, "min", lo, smin)
            self.check_bound(i, name, "max", hi, smax)

    def check_bound(self, i, name, which, true, stat):
        if stat == true and type(stat) is type(true):
            self.checks += 1
            return
        if isinstance(stat, bytes) and isinstance(true, bytes) and len(stat) < len(true):
            ok = true.startswith(stat) if which == "min" else stat > true
            if ok:
                self.checks += 1
                self.note(i, name, f"{which} truncated: {short(stat)} for {short(true)}")
                return
        self.check(False, i, name, which, true, stat)


def is_text_or_binary(physical):
    return physical in ("BYTE_ARRAY", "FIXED_LEN_BYTE_ARRAY")


def non_null_keys(arr, vals, physical):
    """The chunk's non-null values (`vals`: `arr` as Python values) in the terms of its
    statistics: bytes for text and binary, stored integers for dates and times."""
    t = arr.type
    if pa.types.is_decimal(t):
        return [v for v in vals if v is not None and not v.is_nan()]
    if is_text_or_binary(physical):
        return [v.encode("utf-8") if isinstance(v, str) else bytes(v) for v in vals if v is not None]
    if pa.types.is_temporal(t):
        # The stored integers (days, or units since the epoch), as the raw statistic holds.
        width = pa.int32() if t.bit_width == 32 else pa.int64()
        return [v for v in arr.view(width).to_pylist() if v is not None]
    if pa.types.is_floating(t):
        return [v for v in vals if v is not None and not math.isnan(v)]
    return [v for v in vals if v is not None]


def stat_key(stats, which):
    """A footer min or max in the same terms as `non_null_keys`."""
    logical = stats.logical_type.type if stats.logical_type is not None else "NONE"
    if logical == "DECIMAL":
        return getattr(stats, which)
    raw = getattr(stats, which + "_raw")
    if is_text_or_binary(stats.physical_type):
        return raw.encode("utf-8") if isinstance(raw, str) else bytes(raw)
    if logical in ("DATE", "TIMESTAMP", "TIME"):
        return raw
    return getattr(stats, which)


def parquet_files(root):
    """Every *.parquet under root, each real file once (links followed, loops avoided)."""
    found, seen_files, seen_dirs = [], set(), set()
    stack = [root]
    while stack:
        d = stack.pop()
        real = os.path.realpath(d)
        if real in seen_dirs:
            continue
        seen_dirs.add(real)
        with os.scandir(d) as it:
            entries = sorted(it, key=lambda e: e.name)
        # Real folders before linked ones, so a file is named by its own path, not a link's.
        subdirs = [e.path for e in entries if e.is_dir() and not e.is_symlink()]
        subdirs += [e.path for e in entries if e.is_dir() and e.is_symlink()]
        stack.extend(reversed(subdirs))
        for e in entries:
            if e.name.endswith(".parquet") and e.is_file():
                r = os.path.realpath(e.path)
                if r not in seen_files:
                    seen_files.add(r)
                    found.append(e.path)
    return found


def main():
    if len(sys.argv) != 2:
        print("usage: readers.py WAREHOUSE_DIR", file=sys.stderr)
        return 2
    root = sys.argv[1]
    if not os.path.isdir(root):
        print(f"readers.py: {root} is not a folder", file=sys.stderr)
        return 2
    # Real folders are walked before linked ones, so sort by path afterwards for the report.
    files = sorted(parquet_files(root), key=lambda p: os.path.relpath(p, root))
    if not files:
        print(f"readers.py: no *.parquet file under {root}: nothing was checked", file=sys.stderr)
        return 2
    print(f"readers.py: {len(files)} Parquet files under {root} "
          f"(pyarrow {pa.__version__}, polars {pl.__version__}, duckdb {duckdb.__version__})")
    started = time.monotonic()
    c = Checker(root)
    for path in files:
        c.check_file(path)
    print(f"files={c.files} row_groups={c.row_groups} column_chunks={c.chunks} rows={c.rows} "
          f"checks={c.checks} mismatches={c.mismatches} notes={c.notes} "
          f"seconds={time.monotonic() - started:.1f}")
    return 1 if c.mismatches else 0


if __name__ == "__main__":
    sys.exit(main())
