#!/usr/bin/env python3
"""National-scale benchmark: casework against DuckDB on the same files, in one run.

usage: bench/national.py [--cases N ...] [--profile release|dev] [--memory-limit 1GiB]
                         [--keep DIR] [--skip-duckdb] [--independent] [--per-measure]
       (CASEWORK_BIN=path skips the cargo build and times that binary)

For each N (default 100000 and 1000000; add 10000000 on request) it generates one bundle
with `casework generate --seed 1`, then times, each as its own process under
/usr/bin/time (wall seconds and peak RSS):

  casework ingest      CSV bundle -> validated Parquet warehouse
  casework measure     all eleven measures of queries/ over that warehouse
  casework report      the full report (HTML, Markdown, figures, tables, workbook)
  casework report --publish
                       the same under disclosure control: the publication (every view's
                       audited tables, secondary suppression included) built first, then
                       the report from it; reported as a ratio to the full report
  duckdb ingest        the same five CSV files -> Parquet (zstd), types auto-detected
  duckdb measures      the same eleven queries/*.sql over casework's Parquet
  polars ingest        the same files -> Parquet through Polars' lazy scan_csv and
                       sink_parquet, dates parsed (`pip install polars`; --skip-polars)

and prints a Markdown table with the ratios casework / DuckDB. Every run checks
casework's theme counts (prevalence, and over the months) against the bundle's planted
truth, with DuckDB or without it (--skip-duckdb); with DuckDB, both engines must also
agree row for row on every measure before their times are compared. DuckDB is Python's
`duckdb` from PyPI (`pip install duckdb`); it uses all cores, as casework does.

What the two ingests do is not the same work: casework checks every rule of the
bundle spec (types, enumerations, codes, references between files, duplicates) and
writes a versioned warehouse with a manifest; DuckDB only parses and converts. The
measure comparison is like for like: the same SQL text over the same Parquet files,
with the code list, thresholds and parameters tables that casework builds dumped to
CSV through `casework query` and loaded into DuckDB.
"""
import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TABLES = ["cases", "findings", "events", "recommendations", "codings"]
AS_OF = "2025-06-30"


def timed(cmd, env=None, stdout=subprocess.DEVNULL):
    """Runs cmd under /usr/bin/time; returns (wall seconds, peak RSS in MiB)."""
    with tempfile.NamedTemporaryFile("r", suffix=".time") as t:
        full = ["/usr/bin/time", "-f", "%e %M", "-o", t.name] + cmd
        p = subprocess.run(full, env=env, stdout=stdout, stderr=subprocess.PIPE, text=True)
        if p.returncode != 0:
            sys.exit(f"failed ({p.returncode}): {' '.join(cmd)}\n{p.stderr[-3000:]}")
        wall, kib = t.read().split()[-2:]
        return float(wall), int(kib) / 1024.0


DUCKDB_INGEST = r"""
import duckdb, sys
bundle, out = sys.argv[1], sys.argv[2]
con = duckdb.connect()
con.execute("SET enable_progress_bar = false")
for t in ["cases", "findings", "events", "recommendations", "codings"]:
    con.execute(f"COPY (SELECT * FROM read_csv('{bundle}/{t}.csv', header=true)) "
                f"TO '{out}/{t}.parquet' (FORMAT parquet, COMPRESSION zstd)")
"""

POLARS_INGEST = r"""
import polars as pl, sys
bundle, out = sys.argv[1], sys.argv[2]
for t in ["cases", "findings", "events", "recommendations", "codings"]:
    pl.scan_csv(f"{bundle}/{t}.csv", try_parse_dates=True).sink_parquet(
        f"{out}/{t}.parquet", compression="zstd")
"""

# DuckDB's measures: the same reference the differential test uses (tests/it/order.rs).
DUCKDB_MEASURES = os.path.join(ROOT, "tests", "reference", "duckdb_measures.py")


def shuffle_bundle(bundle, seed):
    """Rewrites each CSV of the bundle with its rows in a random order (the header
    first), each record type with its own seed: real exports are seldom in case order
    (issue 13)."""
    import random
    for k, t in enumerate(TABLES):
        path = os.path.join(bundle, f"{t}.csv")
        with open(path) as f:
            header = f.readline()
            rows = f.readlines()
        random.Random(seed * 10 + k).shuffle(rows)
        with open(path, "w") as f:
            f.write(header)
            f.writelines(rows)


def canon(v):
    """A value in a form in which the two engines' answers compare (as tests/it/order.rs)."""
    if v is None:
        return "∅"
    if isinstance(v, bool):
        return str(v).lower()
    if isinstance(v, (int, float)):
        return "0" if v == 0 else f"{float(v):.9e}"
    if isinstance(v, str) and v and all(c.isdigit() or c in ".-eE+" for c in v):
        try:
            return canon(float(v))
        except ValueError:
            pass
    return str(v)


def compare(name, mine, columns, theirs):
    """casework's rows against DuckDB's, as multisets over DuckDB's columns; casework's
    added rows (all-themes combination, empty months) must have every count zero."""
    from collections import Counter
    want = Counter(" | ".join(canon(v) for v in r) for r in theirs)
    problems = []
    for r in mine:
        missing = [c for c in columns if c not in r]
        if missing:
            return [f"{name}: casework has no column {missing}"]
        key = " | ".join(canon(r[c]) for c in columns)
        if want[key] > 0:
            want[key] -= 1
            continue
        zero = all(v == 0 for k, v in r.items() if k.startswith("cases") or k == "count")
        if not (name in ("theme_cooccurrence", "monthly_series") and zero):
            problems.append(f"{name}: casework row not in DuckDB's answer: {key}")
    problems += [f"{name}: DuckDB row missing from casework: {k}" for k, n in want.items() if n > 0]
    return problems


def check_truth(mine, truth):
    """The planted counts: cases with each theme (prevalence and summed over the months)
    and the unfollowed-alert step."""
    problems = []
    for r in mine["theme_prevalence"]:
        want = truth["themes"][r["theme"]]
        if r["cases_with_theme"] != want or r["cases"] != truth["cases"]:
            problems.append(f"theme_prevalence {r['theme']}: {r['cases_with_theme']} of "
                            f"{r['cases']}, planted {want} of {truth['cases']}")
    months, before, after = {}, 0, 0
    for r in mine["monthly_series"]:
        months[r["theme"]] = months.get(r["theme"], 0) + r["cases_with_theme"]
        if r["theme"] == "unfollowed_alert":
            if r["month"] < truth["step_month"]:
                before += r["cases_with_theme"]
            else:
                after += r["cases_with_theme"]
    for theme, n in months.items():
        if n != truth["themes"][theme]:
            problems.append(f"monthly_series {theme}: {n} over the months")
    if (before, after) != (truth["unfollowed_alert_before_step"],
                           truth["unfollowed_alert_from_step"]):
        problems.append(f"monthly_series: unfollowed_alert {before} before, {after} from step")
    return problems


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cases", type=int, nargs="+", default=[100_000, 1_000_000])
    ap.add_argument("--profile", default="release", choices=["release", "dev"])
    ap.add_argument("--memory-limit", default="1GiB")
    ap.add_argument("--keep", help="work in this folder and keep it")
    ap.add_argument("--skip-duckdb", action="store_true")
    ap.add_argument("--skip-polars", action="store_true",
                    help="leave out Polars' CSV-to-Parquet (pip install polars)")
    ap.add_argument("--independent", action="store_true",
                    help="the bundle from bench/independent_bundle.py (other distributions, "
                    "no planted truth: checked against DuckDB only) instead of `casework generate`")
    ap.add_argument("--per-measure", action="store_true",
                    help="also time each measure alone, in each engine, as its own process")
    ap.add_argument("--repeat", type=int, default=3,
                    help="with --per-measure: runs of each measure in each engine; the median "
                    "is reported (one run varies by a fifth on this machine)")
    ap.add_argument("--in-case-order", action="store_true",
                    help="keep the generator's case order (default: every file shuffled)")
    args = ap.parse_args()

    binary = os.environ.get("CASEWORK_BIN")
    if not binary:
        target = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
        subprocess.run(["cargo", "build", "--locked", "--quiet", "--profile", args.profile],
                       cwd=ROOT, check=True)
        binary = os.path.join(target, "debug" if args.profile == "dev" else args.profile,
                              "casework")
    work = args.keep or tempfile.mkdtemp(prefix="casework-bench-")
    os.makedirs(work, exist_ok=True)
    results = []
    try:
        for n in args.cases:
            d = os.path.join(work, f"n{n}")
            shutil.rmtree(d, ignore_errors=True)
            os.makedirs(d)
            bundle, wh = os.path.join(d, "bundle"), os.path.join(d, "warehouse")
            r = {"cases": n}
            if args.independent:
                r["generate"], _ = timed([sys.executable, os.path.join(
                    ROOT, "bench", "independent_bundle.py"), str(n), bundle])
                r["order"] = "independent"
                with open(os.path.join(bundle, "events.csv")) as f:
                    r["events"] = sum(1 for _ in f) - 1
            else:
                r["generate"], _ = timed([binary, "generate", "--cases", str(n), "--seed", "1",
                                          "--out", bundle])
                if not args.in_case_order:
                    shuffle_bundle(bundle, n)
                r["order"] = "generated" if args.in_case_order else "shuffled"
                with open(os.path.join(bundle, "truth.json")) as f:
                    r["events"] = json.load(f)["rows"]["events"]
            r["csv_mib"] = sum(os.path.getsize(os.path.join(bundle, f"{t}.csv"))
                               for t in TABLES) / 2**20
            mem = ["--memory-limit", args.memory_limit]
            r["cw_ingest"], r["cw_ingest_rss"] = timed(
                [binary, "ingest", bundle, "--warehouse", wh, "-q"])
            r["parquet_mib"] = sum(os.path.getsize(os.path.join(p, f))
                                   for p, _, fs in os.walk(os.path.join(wh, "current/"))
                                   for f in fs) / 2**20
            r["cw_measures"], r["cw_measures_rss"] = timed(
                [binary, "measure", "--warehouse", wh, "--as-of", AS_OF, "--format", "csv"]
                + mem)
            r["cw_report"], r["cw_report_rss"] = timed(
                [binary, "report", "--warehouse", wh, "--as-of", AS_OF, "--out",
                 os.path.join(d, "report"), "--format", "json"] + mem)
            r["cw_publish"], r["cw_publish_rss"] = timed(
                [binary, "report", "--warehouse", wh, "--as-of", AS_OF, "--out",
                 os.path.join(d, "published"), "--format", "json", "--publish"] + mem)
            # casework's answers against the planted truth, with DuckDB or without it.
            if not args.independent:
                with open(os.path.join(bundle, "truth.json")) as f:
                    truth = json.load(f)
                counted = json.loads(subprocess.run(
                    [binary, "measure", "theme_prevalence", "monthly_series", "--warehouse",
                     wh, "--as-of", AS_OF, "--format", "json"] + mem,
                    check=True, capture_output=True, text=True).stdout)
                problems = check_truth({o["measure"]: o["rows"] for o in counted}, truth)
                if problems:
                    sys.exit(f"{len(problems)} differences from the planted truth at {n} "
                             "cases:\n" + "\n".join(problems[:40]))
                r["truth_agrees"] = True
            elif args.skip_duckdb:
                sys.exit("--independent has no planted truth: it needs DuckDB to check against")
            if not args.skip_duckdb:
                pq = os.path.join(d, "duckdb-parquet")
                os.makedirs(pq)
                r["db_ingest"], r["db_ingest_rss"] = timed(
                    [sys.executable, "-c", DUCKDB_INGEST, bundle, pq])
                if not args.skip_polars:
                    plq = os.path.join(d, "polars-parquet")
                    os.makedirs(plq)
                    r["pl_ingest"], r["pl_ingest_rss"] = timed(
                        [sys.executable, "-c", POLARS_INGEST, bundle, plq])
                aux = os.path.join(d, "aux")
                os.makedirs(aux)
                for t in ["codes", "thresholds", "parameters", "study", "repeat_codes"]:
                    with open(os.path.join(aux, f"{t}.csv"), "w") as out:
                        subprocess.run([binary, "query", "--warehouse", wh, "--as-of", AS_OF,
                                        "--format", "csv", f"SELECT * FROM {t}"],
                                       stdout=out, check=True)
                answers = os.path.join(d, "duckdb-answers.json")
                r["db_measures"], r["db_measures_rss"] = timed(
                    [sys.executable, DUCKDB_MEASURES, ROOT, wh, aux, answers])
                # The two engines must agree, row for row on every measure (and casework
                # with the planted truth, above), before their times are compared.
                with open(answers) as f:
                    duck = json.load(f)
                outputs = json.loads(subprocess.run(
                    [binary, "measure", "--warehouse", wh, "--as-of", AS_OF, "--format",
                     "json"] + mem, check=True, capture_output=True, text=True).stdout)
                mine = {o["measure"]: o["rows"] for o in outputs}
                problems = []
                if sorted(mine) != sorted(duck):
                    problems.append(f"measures differ: {sorted(mine)} vs {sorted(duck)}")
                for q in sorted(duck):
                    problems += compare(q, mine.get(q, []), duck[q]["columns"], duck[q]["rows"])
                if problems:
                    sys.exit(f"{len(problems)} differences at {n} cases:\n" +
                             "\n".join(problems[:40]))
                r["measures_compared"] = len(duck)
                r["rows_compared"] = sum(len(duck[q]["rows"]) for q in duck)
                r["answers_agree"] = True
                r["ingest_ratio"] = r["cw_ingest"] / r["db_ingest"]
                r["measures_ratio"] = r["cw_measures"] / r["db_measures"]
                if args.per_measure:
                    # Each measure alone, each engine as its own process (its start-up,
                    # reading the manifest and registering the tables, included in both).
                    r["per_measure"] = {}
                    for q in sorted(duck):
                        cws, dbs = [], []
                        for _ in range(args.repeat):  # the engines in turn
                            cws.append(timed([binary, "measure", q, "--warehouse", wh,
                                              "--as-of", AS_OF, "--format", "csv"] + mem))
                            dbs.append(timed([sys.executable, DUCKDB_MEASURES, ROOT, wh, aux,
                                              os.path.join(d, "one.json"), q]))
                        cw, cw_rss = sorted(cws)[len(cws) // 2]
                        db, db_rss = sorted(dbs)[len(dbs) // 2]
                        r["per_measure"][q] = [cw, cw_rss, db, db_rss]
            results.append(r)
            print(json.dumps(r), file=sys.stderr, flush=True)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)

    print(f"\ncasework {args.profile} build, --memory-limit {args.memory_limit}, "
          f"{os.cpu_count()} cores, {time.strftime('%Y-%m-%d')}\n")
    print("| cases | events | CSV MiB | Parquet MiB | step | casework s | casework peak RSS MiB "
          "| DuckDB s | DuckDB peak RSS MiB | casework / DuckDB |")
    print("| ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: |")
    for r in results:
        head = f"| {r['cases']:,} | {r['events']:,} | {r['csv_mib']:.0f} | {r['parquet_mib']:.0f} "
        for step, cw, db in [("ingest", "cw_ingest", "db_ingest"),
                             ("all measures", "cw_measures", "db_measures"),
                             ("full report", "cw_report", None)]:
            if db and db in r:
                tail = f"{r[db]:.1f} | {r[db + '_rss']:.0f} | **{r[cw] / r[db]:.2f}x** |"
            else:
                tail = "– | – | – |"
            print(f"{head}| {step} | {r[cw]:.1f} | {r[cw + '_rss']:.0f} | {tail}")
            head = "| | | | "
    for r in results:
        if "per_measure" not in r:
            continue
        print(f"\nEach measure alone at {r['cases']:,} cases ({r['order']} bundle), "
              f"each engine as its own process, the median of {args.repeat} runs:\n")
        print("| measure | casework s | casework peak RSS MiB | DuckDB s | DuckDB peak RSS MiB "
              "| casework / DuckDB |")
        print("| --- | ---: | ---: | ---: | ---: | ---: |")
        for q, (cw, cw_rss, db, db_rss) in r["per_measure"].items():
            print(f"| {q} | {cw:.2f} | {cw_rss:.0f} | {db:.2f} | {db_rss:.0f} | "
                  f"**{cw / db:.2f}x** |")
    print("\nThe published report (the publication built, then the report from it) against "
          "the full report of the same run:\n")
    print("| cases | full report s | published report s | peak RSS MiB | published / full |")
    print("| ---: | ---: | ---: | ---: | ---: |")
    for r in results:
        print(f"| {r['cases']:,} | {r['cw_report']:.1f} | {r['cw_publish']:.1f} | "
              f"{r['cw_publish_rss']:.0f} | **{r['cw_publish'] / r['cw_report']:.2f}x** |")
    if any("pl_ingest" in r for r in results):
        print("\nPolars (typed `scan_csv(try_parse_dates=True)` -> `sink_parquet`, zstd) on the "
              "same files:\n")
        print("| cases | casework ingest s | Polars s | Polars peak RSS MiB | casework / Polars |")
        print("| ---: | ---: | ---: | ---: | ---: |")
        for r in results:
            if "pl_ingest" in r:
                print(f"| {r['cases']:,} | {r['cw_ingest']:.1f} | {r['pl_ingest']:.1f} | "
                      f"{r['pl_ingest_rss']:.0f} | **{r['cw_ingest'] / r['pl_ingest']:.2f}x** |")


if __name__ == "__main__":
    main()
