#!/usr/bin/env python3
"""Writes the seed corpus in fuzz/seeds/<target>/ from the example bundle, a small
generated bundle with malformed rows of every reject kind, and the two public datasets
in tests/data. Standard library only; deterministic. Run from anywhere:

    python3 fuzz/make_seeds.py [GENERATED_BUNDLE_DIR]

GENERATED_BUNDLE_DIR is the output of `casework generate --cases 40 --bad 12 --seed 7
--out DIR` (optional: without it those seeds are left as they are).

The `split` and `encoder` targets' seeds (seeds/split/, seeds/encoder/) are written by
hand, not here: a read-size byte and a messy CSV; shape bytes and text.
"""

import csv
import io
import json
import os
import sys
import zipfile
from datetime import date
from pathlib import Path
from xml.sax.saxutils import escape

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "fuzz" / "seeds"
EXAMPLE = ROOT / "data" / "examples" / "phso-imaging-2021"
TYPES = ["cases", "findings", "events", "recommendations"]


def write(target, name, data):
    d = SEEDS / target
    d.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        data = data.encode("utf-8")
    (d / name).write_bytes(data)


def bundle_files(folder):
    return {t: (folder / f"{t}.csv").read_text(encoding="utf-8") for t in TYPES if (folder / f"{t}.csv").is_file()}


def multi(files, first):
    """The fuzz targets' multi-file text: the first file bare, the others after `==== NAME`."""
    out = []
    for name, text in files:
        if name != first:
            out.append(f"==== {name}\n")
        out.append(text if text.endswith("\n") else text + "\n")
    return "".join(out)


def rows(text):
    return list(csv.reader(io.StringIO(text)))


def csv_seeds(tag, files):
    write("csv", f"{tag}-bundle", multi([(f"{t}.csv", files[t]) for t in files], "cases.csv"))
    for t in files:
        if t != "cases":
            write("csv", f"{tag}-{t}", multi([("cases.csv", files["cases"]), (f"{t}.csv", files[t])], "cases.csv"))


def ndjson_text(text):
    table = rows(text)
    header, body = table[0], table[1:]
    lines = []
    for r in body:
        obj = {}
        for k, v in zip(header, r):
            if v == "":
                continue
            if k in ("amount",) and v.replace(".", "", 1).replace("-", "", 1).isdigit():
                obj[k] = float(v) if "." in v else int(v)
            elif v in ("true", "false"):
                obj[k] = v == "true"
            else:
                obj[k] = v
        lines.append(json.dumps(obj, ensure_ascii=False))
    return "\n".join(lines) + "\n"


def ndjson_seeds(tag, files):
    parts = [(f"{t}.ndjson", ndjson_text(files[t])) for t in files]
    write("ndjson", f"{tag}-bundle", multi(parts, "cases.ndjson"))


def col_name(i):
    s = ""
    i += 1
    while i:
        i, r = divmod(i - 1, 26)
        s = chr(65 + r) + s
    return s


def excel_serial(v):
    try:
        return (date.fromisoformat(v) - date(1899, 12, 30)).days
    except ValueError:
        return None


def sheet_xml(table, date_columns):
    out = ['<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
           '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>']
    for ri, r in enumerate(table, start=1):
        out.append(f'<row r="{ri}">')
        for ci, v in enumerate(r):
            ref = f"{col_name(ci)}{ri}"
            if v == "":
                continue
            serial = excel_serial(v) if ri > 1 and ci in date_columns else None
            if serial is not None:
                # A real date cell: the Excel serial with a date number format (style 1).
                out.append(f'<c r="{ref}" s="1"><v>{serial}</v></c>')
            elif ri > 1 and v.lstrip("-").replace(".", "", 1).isdigit():
                out.append(f'<c r="{ref}"><v>{v}</v></c>')
            elif v in ("true", "false"):
                out.append(f'<c r="{ref}" t="b"><v>{1 if v == "true" else 0}</v></c>')
            else:
                out.append(f'<c r="{ref}" t="inlineStr"><is><t>{escape(v)}</t></is></c>')
        out.append("</row>")
    out.append("</sheetData></worksheet>")
    return "".join(out)


def workbook_parts(files):
    names = list(files)
    parts = []
    overrides = "".join(
        f'<Override PartName="/xl/worksheets/sheet{i}.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
        for i in range(1, len(names) + 1))
    parts.append(("[Content_Types].xml",
                  '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
                  '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
                  '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
                  '<Default Extension="xml" ContentType="application/xml"/>'
                  '<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
                  '<Override PartName="/xl/styles.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/>'
                  f"{overrides}</Types>"))
    parts.append(("_rels/.rels",
                  '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
                  '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
                  '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/>'
                  "</Relationships>"))
    sheets = "".join(f'<sheet name="{n}" sheetId="{i}" r:id="rId{i}"/>' for i, n in enumerate(names, start=1))
    parts.append(("xl/workbook.xml",
                  '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
                  '<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
                  'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
                  f"<sheets>{sheets}</sheets></workbook>"))
    rels = "".join(
        f'<Relationship Id="rId{i}" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet{i}.xml"/>'
        for i in range(1, len(names) + 1))
    style_id = len(names) + 1
    rels += (f'<Relationship Id="rId{style_id}" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/styles" '
             'Target="styles.xml"/>')
    parts.append(("xl/_rels/workbook.xml.rels",
                  '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
                  '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
                  f"{rels}</Relationships>"))
    parts.append(("xl/styles.xml",
                  '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
                  '<styleSheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
                  '<cellXfs count="2"><xf numFmtId="0"/><xf numFmtId="14" applyNumberFormat="1"/></cellXfs>'
                  "</styleSheet>"))
    for i, n in enumerate(names, start=1):
        table = rows(files[n])
        dates = {ci for ci, h in enumerate(table[0]) if h.endswith("_date")}
        parts.append((f"xl/worksheets/sheet{i}.xml", sheet_xml(table, dates)))
    return parts


def xlsx_seeds(tag, files):
    parts = workbook_parts(files)
    text = multi([(p.replace("/", "~"), x) for p, x in parts], "[Content_Types].xml")
    write("xlsx", f"{tag}-parts", text)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for p, x in parts:
            info = zipfile.ZipInfo(p, date_time=(2021, 1, 1, 0, 0, 0))
            z.writestr(info, x, compress_type=zipfile.ZIP_DEFLATED)
    write("xlsx", f"{tag}.xlsx", buf.getvalue())


def validator_seeds(tag, files):
    lines = []
    for t in files:
        table = rows(files[t])
        for r in table[1:]:
            lines.append("\t".join([t] + [v.replace("\t", " ").replace("\n", " ") for v in r]))
    write("validator", f"{tag}-rows", "\n".join(lines) + "\n")


def head_records(path, n, keep=None):
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.reader(f)
        header = next(reader)
        out = [header]
        for r in reader:
            if keep is None or keep(header, r):
                out.append(r)
            if len(out) > n:
                break
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows(out)
    return buf.getvalue(), out


def mapping_seeds():
    cfpb = ROOT / "tests" / "data" / "cfpb-complaints-sample" / "complaints_sample.csv"
    text, _ = head_records(cfpb, 25)
    mapping = (ROOT / "data" / "mappings" / "cfpb-complaints.toml").read_text(encoding="utf-8")
    mapping = mapping.replace('"../codes/cfpb-complaint-themes.csv"', '"codes.csv"')
    codes = (ROOT / "data" / "codes" / "cfpb-complaint-themes.csv").read_text(encoding="utf-8")
    write("mapping", "cfpb", multi([("mapping.toml", mapping), ("export.csv", text), ("codes.csv", codes)], "mapping.toml"))

    maude = ROOT / "tests" / "data" / "fda-maude-aiml-devices"
    text, table = head_records(maude / "mdr_reports_943.csv", 25)
    mapping = (ROOT / "data" / "mappings" / "fda-maude.toml").read_text(encoding="utf-8")
    mapping = mapping.replace('"../codes/device-report-themes.csv"', '"codes.csv"')
    # The lookup rows the reports use, not the whole device file.
    wanted = set()
    header = table[0]
    for r in table[1:]:
        for k, v in zip(header, r):
            if "number" in k.lower() and v:
                wanted.add(v.strip())
    devices, _ = head_records(maude / "aiml_devices_823.csv", 10**6,
                              keep=lambda h, r: any(v.strip() in wanted for v in r))
    codes = (ROOT / "data" / "codes" / "device-report-themes.csv").read_text(encoding="utf-8")
    write("mapping", "maude", multi([("mapping.toml", mapping), ("export.csv", text),
                                     ("fda-maude-devices.csv", devices), ("codes.csv", codes)], "mapping.toml"))


def main():
    example = bundle_files(EXAMPLE)
    bundles = [("example", example)]
    if len(sys.argv) > 1:
        bundles.append(("generated", bundle_files(Path(sys.argv[1]))))
    for tag, files in bundles:
        csv_seeds(tag, files)
        ndjson_seeds(tag, files)
        xlsx_seeds(tag, files)
        validator_seeds(tag, files)
    mapping_seeds()


if __name__ == "__main__":
    main()
