#!/usr/bin/env python3
"""Writes a synthetic case bundle for the ingest memory benchmark.

usage: gen_bundle.py N OUT_DIR

N cases, 2 findings each, 6 or 7 events each (6.5 events per case on average, so one
million cases give about 6.5 million events) and a financial remedy for every third
case. Deterministic. This is a stand-in until `casework generate` exists.
"""
import os
import random
import sys

n = int(sys.argv[1])
out = sys.argv[2]
os.makedirs(out, exist_ok=True)
r = random.Random(1)
steps = ["requested", "performed", "reviewed", "reported", "alert_raised", "acted_on", "patient_informed"]
with open(f"{out}/cases.csv", "w") as c, open(f"{out}/findings.csv", "w") as f, \
        open(f"{out}/events.csv", "w") as e, open(f"{out}/recommendations.csv", "w") as rc:
    c.write("case_id,source,organisation_code,organisation_type,region,opened_date,closed_date,decision,harm,patient_ref\n")
    f.write("case_id,code,stage,note\n")
    e.write("case_id,episode,event,occurred_at,urgency\n")
    rc.write("case_id,kind,amount_gbp,made_date,status\n")
    for i in range(n):
        y = 2010 + i % 12
        cid = f"case-{i:08d}"
        c.write(f"{cid},ombudsman_complaint,R{r.randrange(400):03d},acute_trust,London,"
                f"{y}-0{1 + i % 9}-1{i % 9},{y + 1}-02-01,upheld,moderate,PT{i}\n")
        for _ in range(2):
            f.write(f"{cid},{r.choice(['UF1', 'FA2', 'DL3', 'LL1'])},reporting,some note text\n")
        for k in range(6 if i % 2 else 7):
            e.write(f"{cid},1,{steps[k]},{y}-0{1 + k}-0{1 + k}T10:00,urgent\n")
        if i % 3 == 0:
            rc.write(f"{cid},financial_remedy,250.00,{y + 1}-03-01,pending\n")
