#!/usr/bin/env python3
"""DuckDB runs casework's measures: the independent reference for the differential tests.

usage: duckdb_measures.py REPO WAREHOUSE AUX_DIR OUT.json [MEASURE ...]

Reads exactly the Parquet files that WAREHOUSE/manifest.json names (cases with their
`opened_year=` hive partition), loads the session tables that casework builds (`codes`,
`thresholds`, `parameters`) from AUX_DIR/NAME.csv (written by `casework query --format
csv "SELECT * FROM NAME"`), defines the shared views from REPO/queries/shared/ and runs
every REPO/queries/*.sql as it is (or only the MEASUREs named, for timing one at a
time). Writes {measure: {"columns": [...], "rows": [[...]]}}
with dates as ISO text and decimals as floats, for the caller to compare row for row.

DuckDB reads the files itself and ignores their `sorting_columns` metadata, so it gives
the right answer whatever order the rows are in (issue 13). Needs Python's `duckdb`
(`.ci/tools.txt` pins it; `.ci/run` installs it).
"""
import datetime
import decimal
import json
import os
import sys

import duckdb


def plain(v):
    if isinstance(v, decimal.Decimal):
        return float(v)
    if isinstance(v, (datetime.datetime, datetime.date)):
        return v.isoformat()
    if isinstance(v, datetime.timedelta):
        return v.total_seconds()
    return v


# Columns added to the stored tables since the first warehouse format (docs/data-dictionary.md).
ADDED_COLUMNS = {
    "cases": ["opened_date_precision", "closed_date_precision"],
    "events": ["occurred_at_precision"],
}


def main():
    repo, warehouse, aux, out = sys.argv[1:5]
    only = set(sys.argv[5:])
    with open(os.path.join(warehouse, "manifest.json")) as f:
        manifest = json.load(f)
    con = duckdb.connect()
    con.execute("SET enable_progress_bar = false")
    con.execute("SET threads = 2")
    # Column types as casework stores them, for tables with no files.
    for table, files in manifest["tables"].items():
        paths = [os.path.join(warehouse, p) for p in files["files"]]
        if not paths:
            continue
        hive = "true" if table == "cases" else "false"
        con.execute(
            f"CREATE VIEW stored_{table} AS SELECT * FROM read_parquet({paths!r}, "
            f"hive_partitioning = {hive}, union_by_name = true)"
        )
        # A column casework added after a warehouse was written (the precision of a
        # date) reads as null from the older files, as DataFusion reads it.
        have = {r[0] for r in con.execute(f"DESCRIBE stored_{table}").fetchall()}
        added = "".join(
            f", CAST(NULL AS VARCHAR) AS {c}"
            for c in ADDED_COLUMNS.get(table, [])
            if c not in have
        )
        # Files written before the integer case key: case_id stands in for it, as in
        # casework (docs/data-dictionary.md, "case_key").
        if "case_key" not in have and "case_id" in have:
            added += ", case_id AS case_key"
        con.execute(f"CREATE VIEW {table} AS SELECT *{added} FROM stored_{table}")
    # A bundle with no codings (bundle v1) has no codings files: an empty table of its
    # columns, as casework registers it.
    if "codings" not in manifest["tables"]:
        con.execute(
            "CREATE TABLE codings (case_id VARCHAR, coder VARCHAR, code VARCHAR, stage VARCHAR, "
            "case_key BIGINT)"
        )
    for t in ["codes", "thresholds", "parameters", "study", "repeat_codes"]:
        con.execute(
            f"CREATE TABLE {t} AS SELECT * FROM read_csv('{aux}/{t}.csv', header = true)"
        )
    for name in ["themes", "case_themes", "case_theme_bits", "episodes", "episode_intervals"]:
        with open(os.path.join(repo, "queries", "shared", name + ".sql")) as f:
            con.execute(f"CREATE VIEW {name} AS {f.read()}")
    result = {}
    qdir = os.path.join(repo, "queries")
    for file in sorted(os.listdir(qdir)):
        if not file.endswith(".sql") or (only and file[:-4] not in only):
            continue
        with open(os.path.join(qdir, file)) as f:
            cur = con.execute(f.read())
        columns = [d[0] for d in cur.description]
        rows = [[plain(v) for v in row] for row in cur.fetchall()]
        result[file[:-4]] = {"columns": columns, "rows": rows}
    with open(out, "w") as f:
        json.dump(result, f)


if __name__ == "__main__":
    main()
