#!/usr/bin/env python3
"""casework suggest at scale: training on N coded texts, suggesting for M uncoded.

usage: bench/suggest_scale.py PX_TEXT_DATA.csv [--coded 100000] [--uncoded 1000000]
                              [--keep DIR]
       (CASEWORK_BIN=path times that binary; else a release build)

The texts are made from the NHS patient-experience comments of pxtextmining
(datasets/phase_1/text_data.csv; see bench/suggest_sklearn.py for where to get it): each
case's text is two comments of its label and one of any label, joined, so that every
case has a label its words carry and some words that belong to another. Labels: the
comments' nine categories, as codes L00 to L08. The bundle is written in no order
(coded and uncoded cases mixed), ingested, and then, each timed under /usr/bin/time
(wall seconds, peak RSS):

  casework ingest     the bundle
  casework suggest    5-fold cross-validation on the coded cases, the model trained on
                      all of them, every uncoded case scored and queued
"""
import argparse
import csv
import os
import random
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def timed(cmd):
    with tempfile.NamedTemporaryFile("r", suffix=".time") as t:
        p = subprocess.run(["/usr/bin/time", "-f", "%e %M", "-o", t.name] + cmd,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        if p.returncode != 0:
            sys.exit(f"failed: {' '.join(cmd)}\n{p.stderr[-3000:]}")
        wall, kib = t.read().split()[-2:]
        return float(wall), int(kib) / 1024.0, p.stdout


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("px")
    ap.add_argument("--coded", type=int, default=100_000)
    ap.add_argument("--uncoded", type=int, default=1_000_000)
    ap.add_argument("--keep")
    a = ap.parse_args()
    cw = os.environ.get("CASEWORK_BIN")
    if not cw:
        subprocess.run(["cargo", "build", "--release", "--locked", "--quiet"], cwd=ROOT,
                       check=True)
        cw = os.path.join(os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target")),
                          "release", "casework")
    by_label = {}
    with open(a.px, newline="", encoding="utf-8") as f:
        for r in csv.DictReader(f):
            t = " ".join((r.get("feedback") or "").split())
            if t and r.get("label"):
                by_label.setdefault(r["label"], []).append(t)
    labels = sorted(by_label)
    every = [t for ts in by_label.values() for t in ts]
    work = a.keep or tempfile.mkdtemp(prefix="casework-suggest-scale-")
    b = os.path.join(work, "bundle")
    os.makedirs(b, exist_ok=True)
    rng = random.Random(1)
    n = a.coded + a.uncoded
    order = list(range(n))
    rng.shuffle(order)
    with open(os.path.join(work, "codes.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["code", "theme", "meaning"])
        for i, label in enumerate(labels):
            w.writerow([f"L{i:02d}", f"label_{i:02d}", label])
    with open(os.path.join(b, "cases.csv"), "w", newline="") as fc, \
            open(os.path.join(b, "findings.csv"), "w", newline="") as ff:
        wc, wf = csv.writer(fc), csv.writer(ff)
        wc.writerow(["case_id", "source", "organisation_code", "opened_date", "narrative"])
        wf.writerow(["case_id", "code"])
        for k in order:
            li = rng.randrange(len(labels))
            own = by_label[labels[li]]
            text = " ".join([rng.choice(own), rng.choice(own), rng.choice(every)])
            cid = f"s{k:08d}"
            wc.writerow([cid, "ombudsman_complaint", f"ORG{k % 300}",
                         f"20{18 + k % 6}-{1 + k % 12:02d}-01", text])
            if k < a.coded:
                wf.writerow([cid, f"L{li:02d}"])
    csv_mib = os.path.getsize(os.path.join(b, "cases.csv")) / 2**20
    wh = os.path.join(work, "warehouse")
    ingest = timed([cw, "ingest", b, "--codes", os.path.join(work, "codes.csv"),
                    "--warehouse", wh, "-q"])
    suggest = timed([cw, "suggest", "--warehouse", wh, "--out", os.path.join(work, "out")])
    print(suggest[2])
    print(f"\n{a.coded:,} coded and {a.uncoded:,} uncoded texts ({csv_mib:.0f} MiB of CSV), "
          f"{os.cpu_count()} cores\n")
    print("| step | s | peak RSS MiB |")
    print("| --- | ---: | ---: |")
    print(f"| ingest | {ingest[0]:.1f} | {ingest[1]:.0f} |")
    print(f"| suggest (cross-validation, training, {a.uncoded:,} scored and queued) | "
          f"{suggest[0]:.1f} | {suggest[1]:.0f} |")


if __name__ == "__main__":
    main()
