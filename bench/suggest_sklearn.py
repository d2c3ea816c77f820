#!/usr/bin/env python3
"""casework suggest against scikit-learn, on the same texts, labels and folds.

usage: bench/suggest_sklearn.py [--cfpb CSV] [--px CSV] [--keep DIR] [--simulate]
       (CASEWORK_BIN=path times that binary; else a release build)

For each labelled text set it writes a bundle (one case per text, its label as the one
finding's code, a code list of the labels), ingests it with `casework ingest --codes`,
runs `casework suggest` (5 folds, seed 1) and reads back the folds it used
(folds.csv). scikit-learn then fits, on the same folds:

  default    TfidfVectorizer() + LogisticRegression()          (both at their defaults)
  matched    TfidfVectorizer word 1-2 grams + char_wb 3-5 grams, min_df 2, sublinear tf,
             each block L2-normalised (a FeatureUnion) + LogisticRegression(C=1),
             one-vs-rest: what casework fits
  balanced   matched, with class_weight="balanced" (rare labels weighted up)
  calibrated matched, each label's decision values put through a Platt sigmoid
             (sklearn.calibration._sigmoid_calibration) fitted on the training part's
             own out-of-fold decision values (cross_val_predict, 3 inner folds), the
             most probable label then taken: what casework does with its out-of-fold
             decision values, nested here

and the script prints each one's top-1 macro-F1 (the most probable label of each
held-out text against its label; f1_score(average="macro")) beside casework's. The
issue's bar: casework within 0.02 of scikit-learn's, or above.

The data sets:
  --cfpb  tests/data/cfpb-complaints-sample/complaints_sample.csv (the default; the copy of
          ../shared/datasets' that the tests carry):
          the 1,532 complaints with a consumer narrative; label: Product.
  --px    the NHS patient-experience comments of The-Strategy-Unit's pxtextmining,
          datasets/phase_1/text_data.csv (commit ba6c0a2f10ca9bb3b964b72afe6047b463095c75;
          10,334 comments of three trusts; label: `label`, nine categories). Not shipped
          with casework (its data is shared under CC BY-NC-SA 4.0): fetch it, e.g.
          `git -C pxtextmining show HEAD:datasets/phase_1/text_data.csv > text_data.csv`.

scikit-learn is installed by this script (`pip install scikit-learn`) when missing: it is
the benchmark's reference, not a dependency of casework or of its tests.
"""
import argparse
import csv
import json
import os
import re
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def need_sklearn():
    try:
        import sklearn  # noqa: F401
    except ImportError:
        subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "scikit-learn"],
                       check=True)


def binary():
    b = os.environ.get("CASEWORK_BIN")
    if b:
        return b
    subprocess.run(["cargo", "build", "--release", "--locked", "--quiet"], cwd=ROOT, check=True)
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
    return os.path.join(target, "release", "casework")


def cfpb(path):
    csv.field_size_limit(10**9)
    out = []
    with open(path, newline="", encoding="utf-8") as f:
        for r in csv.DictReader(f):
            text = (r.get("Consumer complaint narrative") or "").strip()
            if text:
                out.append((f"cfpb-{r['Complaint ID']}", text, r["Product"]))
    return out


def px(path):
    out = []
    with open(path, newline="", encoding="utf-8") as f:
        for r in csv.DictReader(f):
            text = (r.get("feedback") or "").strip()
            if text and r.get("label"):
                out.append((f"px-{r['row_index']}", text, r["label"]))
    return out


def bundle(rows, folder):
    """A bundle of the rows (id, text, label) and a code list of the labels."""
    os.makedirs(folder, exist_ok=True)
    labels = sorted({r[2] for r in rows})
    code = {label: f"L{i:02d}" for i, label in enumerate(labels)}
    with open(os.path.join(folder, "codes.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["code", "theme", "meaning"])
        for label in labels:
            theme = re.sub(r"[^a-z0-9]+", "_", label.lower()).strip("_") or "label"
            w.writerow([code[label], f"{theme}_{code[label].lower()}", label])
    b = os.path.join(folder, "bundle")
    os.makedirs(b, exist_ok=True)
    with open(os.path.join(b, "cases.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["case_id", "source", "organisation_code", "opened_date", "narrative"])
        for cid, text, _ in rows:
            w.writerow([cid, "ombudsman_complaint", "ORG", "2020-01-01", text])
    with open(os.path.join(b, "findings.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["case_id", "code"])
        for cid, _, label in rows:
            w.writerow([cid, code[label]])
    return b, os.path.join(folder, "codes.csv"), code


def references(rows, fold):
    """scikit-learn's top-1 macro-F1 on the folds, for the two pipelines."""
    import numpy as np
    from scipy.sparse import hstack
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.calibration import _sigmoid_calibration
    from sklearn.model_selection import KFold, cross_val_predict
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import f1_score
    from sklearn.multiclass import OneVsRestClassifier
    from sklearn.preprocessing import normalize

    texts = [r[1] for r in rows]
    y = np.array([r[2] for r in rows])
    folds = np.array([fold[r[0]] for r in rows])
    out = {}
    for name in ["default", "matched", "balanced", "calibrated"]:
        pred = np.empty(len(rows), dtype=object)
        t0 = time.time()
        for f in sorted(set(folds)):
            tr, te = folds != f, folds == f
            train = [t for t, k in zip(texts, tr) if k]
            test = [t for t, k in zip(texts, te) if k]
            if name == "default":
                v = TfidfVectorizer()
                xtr, xte = v.fit_transform(train), v.transform(test)
                m = LogisticRegression()
            else:
                vw = TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True)
                vc = TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 5), min_df=2,
                                     sublinear_tf=True)
                xtr = hstack([vw.fit_transform(train), vc.fit_transform(train)]).tocsr()
                xte = hstack([vw.transform(test), vc.transform(test)]).tocsr()
                m = {
                    "matched": lambda: OneVsRestClassifier(LogisticRegression(C=1.0)),
                    "balanced": lambda: OneVsRestClassifier(
                        LogisticRegression(C=1.0, class_weight="balanced")),
                    "calibrated": lambda: OneVsRestClassifier(LogisticRegression(C=1.0)),
                }[name]()
            m.fit(xtr, y[tr])
            if name != "calibrated":
                pred[te] = m.predict(xte)
                continue
            inner = cross_val_predict(OneVsRestClassifier(LogisticRegression(C=1.0)), xtr,
                                      y[tr], cv=KFold(3, shuffle=True, random_state=1),
                                      method="decision_function")
            z = m.decision_function(xte)
            prob = np.zeros_like(z)
            for k, c in enumerate(m.classes_):
                a, b = _sigmoid_calibration(inner[:, k], (y[tr] == c).astype(int))
                prob[:, k] = 1 / (1 + np.exp(a * z[:, k] + b))
            pred[te] = m.classes_[prob.argmax(axis=1)]
        out[name] = {
            "macro_f1": f1_score(y, pred.astype(str), average="macro"),
            "seconds": time.time() - t0,
        }
    return out


def run(name, rows, cw, work, simulate):
    d = os.path.join(work, name)
    b, codes, code = bundle(rows, d)
    wh = os.path.join(d, "warehouse")
    subprocess.run([cw, "ingest", b, "--codes", codes, "--warehouse", wh, "-q"], check=True,
                   stdout=subprocess.DEVNULL)
    out = os.path.join(d, "suggest")
    t0 = time.time()
    p = subprocess.run([cw, "suggest", "--warehouse", wh, "--out", out, "--format", "json"],
                       check=True, capture_output=True, text=True)
    seconds = time.time() - t0
    result = json.loads(p.stdout)
    with open(os.path.join(out, "folds.csv")) as f:
        fold = {r["case_id"]: int(r["fold"]) for r in csv.DictReader(f)}
    ref = references(rows, fold)
    mine = result["header"]["top1_macro_f1"]
    line = {
        "data": name,
        "texts": len(rows),
        "labels": len(code),
        "casework_top1_macro_f1": mine,
        "casework_seconds": seconds,
        "sklearn": ref,
        "within_0.02_or_above": all(mine >= r["macro_f1"] - 0.02 for r in ref.values()),
    }
    if simulate:
        sim = os.path.join(d, "simulate")
        p = subprocess.run([cw, "suggest", "--warehouse", wh, "--out", sim, "--simulate",
                            "--batch", str(simulate[0]), "--budget", str(simulate[1])],
                           check=True, capture_output=True, text=True)
        line["simulation"] = p.stdout.strip()
        line["curves"] = os.path.join(sim, "learning_curves.csv")
    print(json.dumps(line), file=sys.stderr, flush=True)
    return line


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cfpb", default=os.path.join(
        ROOT, "tests", "data", "cfpb-complaints-sample", "complaints_sample.csv"))
    ap.add_argument("--px", help="pxtextmining's datasets/phase_1/text_data.csv")
    ap.add_argument("--keep", help="work in this folder and keep it")
    ap.add_argument("--simulate", action="store_true",
                    help="also run casework suggest --simulate on each set")
    a = ap.parse_args()
    need_sklearn()
    cw = binary()
    work = a.keep or tempfile.mkdtemp(prefix="casework-suggest-")
    lines = [run("cfpb", cfpb(a.cfpb), cw, work, (50, 1000) if a.simulate else None)]
    if a.px:
        lines.append(run("px", px(a.px), cw, work, (100, 4000) if a.simulate else None))
    print("\n| data | texts | labels | casework top-1 macro-F1 | scikit-learn default | "
          "matched | balanced | calibrated | casework s | within 0.02 or above |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
    for l in lines:
        s = l["sklearn"]
        print(f"| {l['data']} | {l['texts']:,} | {l['labels']} | {l['casework_top1_macro_f1']:.3f} | "
              + " | ".join(f"{s[k]['macro_f1']:.3f}" for k in
                           ["default", "matched", "balanced", "calibrated"])
              + f" | {l['casework_seconds']:.1f} | "
              f"{'yes' if l['within_0.02_or_above'] else 'NO'} |")
    for l in lines:
        if "simulation" in l:
            print(f"\n{l['data']}: {l['simulation']}")


if __name__ == "__main__":
    main()
