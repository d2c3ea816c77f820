#!/usr/bin/env python3
"""A bundle casework did not generate: other distributions, rows in no order.

usage: independent_bundle.py N OUT_DIR [--seed S]

Written apart from `casework generate` (which the other benchmarks use), so that a
measure tuned to the generator's shapes shows here (issue 34: "measure this on a bundle
you did not generate with `casework generate`"). What differs from the generator:

- case ids are random letters and digits of 6 to 20 characters, not a numbered sequence,
  and every file is written in a random order (no file is in case order);
- organisations: 800, with sizes from a Zipf law (s = 1.1): a few very large, a long tail
  of tiny ones; some codes hold a space; names vary in case between rows;
- regions: 11, one in twenty-five cases blank;
- opened dates 2013 to 2024 with a seasonal peak, closed after a log-normal delay
  (median about 120 days), one case in six still open;
- findings: a Poisson number (mean 1.3, zero allowed) of codes per case, drawn with
  weights that differ by organisation type, so themes go together unevenly;
- events: 0 to 5 episodes per case (geometric), each with 2 to 9 steps of the ten, some
  out of order, some repeated steps, times to the minute in half the episodes and dates
  alone in the rest, urgencies skewed to routine;
- recommendations: 0 to 4 per case, amounts log-normal;
- codings: one case in twelve coded independently by two or three of seven coders,
  who agree with the findings about four times in five.

Deterministic for a seed. Writes no truth.json: `bench/national.py --independent`
compares casework with DuckDB row for row instead.
"""
import argparse
import datetime
import math
import os
import random
import string

SOURCES = ["ombudsman_complaint", "local_complaint", "patient_safety_incident", "serious_incident"]
SOURCE_W = [5, 3, 2, 0.5]
TYPES = ["acute_trust", "mental_health_trust", "community_trust", "ambulance_trust",
         "gp_practice", "independent_provider", "commissioner", "other"]
TYPE_W = [6, 2, 2, 1, 5, 1, 0.5, 0.5]
REGIONS = ["North East", "North West", "Yorkshire", "East Midlands", "West Midlands", "East",
           "London", "South East", "South West", "Wales", "Northern Ireland"]
DECISIONS_CLOSED = ["upheld", "partly_upheld", "not_upheld", "resolved"]
DECISION_W = [2, 3, 4, 1]
HARMS = ["none", "low", "moderate", "severe", "death", ""]
HARM_W = [4, 3, 2, 1, 0.3, 2]
STAGES = ["request", "acquisition", "review", "reporting", "communication", "action", "learning"]
STEPS = ["requested", "performed", "reviewed", "reported", "alert_raised", "alert_acknowledged",
         "acted_on", "patient_informed", "diagnosed", "learning_review"]
URGENCIES = ["critical", "urgent", "significant", "routine", ""]
URGENCY_W = [0.5, 1.5, 2, 6, 1]
KINDS = ["apology", "financial_remedy", "action_plan", "audit", "policy_review", "training",
         "duty_of_candour", "other"]
STATUSES = ["pending", "complied", "not_complied"]
CODERS = [f"coder_{c}" for c in "abcdefg"]


def codes(root):
    out = []
    with open(os.path.join(root, "data", "codes", "imaging-themes.csv")) as f:
        next(f)
        for line in f:
            out.append(line.split(",", 1)[0])
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("n", type=int)
    ap.add_argument("out")
    ap.add_argument("--seed", type=int, default=7)
    a = ap.parse_args()
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    code_list = codes(root)
    r = random.Random(a.seed)
    os.makedirs(a.out, exist_ok=True)

    orgs = []
    for k in range(800):
        code = f"{r.choice(string.ascii_uppercase)}{r.choice(string.ascii_uppercase)}{k:03d}"
        if k % 37 == 0:
            code = f"ORG {k}"
        t = r.choices(range(len(TYPES)), TYPE_W)[0]
        orgs.append((code, f"Provider {k} of {REGIONS[k % 11]}", t, REGIONS[k % 11]))
    org_w = [1 / (k + 1) ** 1.1 for k in range(len(orgs))]
    # Code weights per organisation type: themes go together differently by type.
    type_code_w = [[r.expovariate(1.0) for _ in code_list] for _ in TYPES]
    seen = set()
    ids = []
    alphabet = string.ascii_letters + string.digits
    while len(ids) < a.n:
        cid = "".join(r.choices(alphabet, k=r.randint(6, 20)))
        if cid not in seen:
            seen.add(cid)
            ids.append(cid)
    del seen
    start = datetime.date(2013, 1, 1)
    span = (datetime.date(2024, 12, 31) - start).days
    cases, findings, events, recs, codings = [], [], [], [], []
    for cid in ids:
        o = r.choices(orgs, org_w)[0] if r.random() < 0.999 else orgs[r.randrange(len(orgs))]
        while True:
            opened = start + datetime.timedelta(days=r.randrange(span))
            # A seasonal peak in the winter months.
            if r.random() < 0.6 + 0.4 * math.cos((opened.month - 1) / 12 * 2 * math.pi):
                break
        if r.random() < 1 / 6:
            closed, decision = "", "open"
        else:
            closed = (opened + datetime.timedelta(days=int(r.lognormvariate(4.8, 0.9)))).isoformat()
            decision = r.choices(DECISIONS_CLOSED, DECISION_W)[0]
        region = "" if r.random() < 0.04 else o[3]
        name = o[1].upper() if r.random() < 0.05 else o[1]
        cases.append(f'{cid},{r.choices(SOURCES, SOURCE_W)[0]},"{o[0]}","{name}",{TYPES[o[2]]},'
                     f'"{region}",{opened.isoformat()},{closed},{decision},'
                     f'{r.choices(HARMS, HARM_W)[0]}\n')
        # Findings: Poisson(1.3) codes, no code twice in a case and stage.
        k, p, L = 0, 1.0, math.exp(-1.3)
        while True:
            p *= r.random()
            if p < L:
                break
            k += 1
        mine = set()
        for _ in range(k):
            code = r.choices(code_list, type_code_w[o[2]])[0]
            stage = r.choice(STAGES)
            if (code, stage) in mine:
                continue
            mine.add((code, stage))
            findings.append(f"{cid},{code},{stage},\n")
        # Events: a geometric number of episodes.
        ep = 0
        while r.random() < 0.55 and ep < 5:
            ep += 1
            label = str(ep) if r.random() < 0.7 else f"ep-{opened.year}-{ep}"
            urgency = r.choices(URGENCIES, URGENCY_W)[0]
            timed = r.random() < 0.5
            t = datetime.datetime.combine(opened, datetime.time(8)) - datetime.timedelta(
                days=r.randrange(400))
            for step in sorted(r.sample(range(len(STEPS)), r.randint(2, 9))):
                gap = r.expovariate(1 / (3 if step < 4 else 10))
                if r.random() < 0.03:
                    gap = -gap  # out of order
                t = t + datetime.timedelta(days=gap)
                when = t.strftime("%Y-%m-%dT%H:%M") if timed else t.strftime("%Y-%m-%d")
                events.append(f"{cid},{label},{STEPS[step]},{when},{urgency}\n")
        for _ in range(r.choices([0, 1, 2, 3, 4], [5, 3, 1.5, 0.7, 0.3])[0]):
            kind = r.choice(KINDS)
            amount = f"{r.lognormvariate(6, 1.2):.2f}" if kind == "financial_remedy" else ""
            made = opened + datetime.timedelta(days=r.randrange(30, 700))
            recs.append(f"{cid},{kind},{amount},{made.isoformat()},{r.choice(STATUSES)}\n")
        if r.random() < 1 / 12:
            for coder in r.sample(CODERS, r.choice([2, 2, 3])):
                given = set()
                for code, stage in mine:
                    if r.random() < 0.8:
                        given.add((code, stage))
                if r.random() < 0.2:
                    given.add((r.choice(code_list), r.choice(STAGES)))
                if not given:
                    codings.append(f"{cid},{coder},,\n")
                for code, stage in sorted(given):
                    codings.append(f"{cid},{coder},{code},{stage}\n")
    for rows in (cases, findings, events, recs, codings):
        r.shuffle(rows)
    files = {
        "cases": ("case_id,source,organisation_code,organisation_name,organisation_type,region,"
                  "opened_date,closed_date,decision,harm\n", cases),
        "findings": ("case_id,code,stage,note\n", findings),
        "events": ("case_id,episode,event,occurred_at,urgency\n", events),
        "recommendations": ("case_id,kind,amount_gbp,made_date,status\n", recs),
        "codings": ("case_id,coder,code,stage\n", codings),
    }
    for name, (header, rows) in files.items():
        with open(os.path.join(a.out, f"{name}.csv"), "w") as f:
            f.write(header)
            f.writelines(rows)


if __name__ == "__main__":
    main()
