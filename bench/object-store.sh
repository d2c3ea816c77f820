#!/usr/bin/env bash
# Reads a warehouse from S3 (`--warehouse s3://…`, cargo feature `cloud`) served by moto's
# S3 server on loopback, and checks that every measure gives the same rows as reading the
# same warehouse from its folder. Not part of .ci/run: the `cloud` feature (reqwest,
# rustls) recompiles DataFusion with another object_store, about 10 more minutes cold.
# Needs python3; installs moto[server] into $HOME/.cache/casework-moto.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/casework-target}"
cargo build --locked --features cloud --manifest-path "$repo/Cargo.toml"
bin="$CARGO_TARGET_DIR/debug/casework"
venv="$HOME/.cache/casework-moto"
if [ ! -x "$venv/bin/moto_server" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q "moto[server]==5.2.5"
fi
work="$(mktemp -d)"
port=$((20000 + RANDOM % 20000))
"$venv/bin/moto_server" -H 127.0.0.1 -p "$port" >"$work/moto.log" 2>&1 &
moto=$!
trap 'kill $moto 2>/dev/null; rm -rf "$work"' EXIT
cd "$work"
"$bin" generate --cases 2000 --seed 5 --out bundle >/dev/null
"$bin" ingest bundle -q
export AWS_ENDPOINT="http://127.0.0.1:$port" AWS_ALLOW_HTTP=true AWS_REGION=us-east-1 \
  AWS_ACCESS_KEY_ID=casework AWS_SECRET_ACCESS_KEY=casework
# Upload the warehouse as it is on disk (the `current` link is a convenience; skipped).
"$venv/bin/python" - <<'PY'
import os, time, boto3
s3 = boto3.client("s3", endpoint_url=os.environ["AWS_ENDPOINT"])
for _ in range(50):
    try:
        s3.create_bucket(Bucket="casework")
        break
    except Exception:
        time.sleep(0.2)
n = 0
for folder, _, files in os.walk("warehouse"):
    for f in files:
        path = os.path.join(folder, f)
        if os.path.islink(path) or f == ".lock":
            continue
        s3.upload_file(path, "casework", "national/" + os.path.relpath(path, "warehouse"))
        n += 1
print(f"uploaded {n} files to s3://casework/national")
PY
"$bin" measure --as-of 2024-01-01 --format json --warehouse warehouse >local.json
"$bin" measure --as-of 2024-01-01 --format json --warehouse s3://casework/national >s3.json
python3 - <<'PY'
import json
local, s3 = json.load(open("local.json")), json.load(open("s3.json"))
assert len(local) == 10, len(local)
assert local == s3, "S3 and folder answers differ"
truth = json.load(open("bundle/truth.json"))
prevalence = next(m for m in s3 if m["measure"] == "theme_prevalence")
for row in prevalence["rows"]:
    assert row["cases_with_theme"] == truth["themes"][row["theme"]], row
print("s3: all 10 measures equal the folder's; theme counts equal the planted truth")
PY
