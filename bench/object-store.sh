#!/usr/bin/env bash
# Reads a warehouse from S3 (`--warehouse s3://…`, cargo feature `cloud`) served by moto's
# S3 server on loopback, and from Azure Blob Storage (`az://…`) served by Azurite, and
# checks that every measure gives the same rows as reading the same warehouse from its
# folder. Not part of .ci/run: the `cloud` feature (reqwest, rustls) recompiles
# DataFusion with another object_store, about 13 more minutes cold.
# Needs python3 and npm; installs moto[server] and azure-storage-blob into
# $HOME/.cache/casework-moto and Azurite into $HOME/.cache/casework-azurite.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/casework-target}"
cargo build --locked --features cloud --manifest-path "$repo/Cargo.toml"
bin="$CARGO_TARGET_DIR/debug/casework"
venv="$HOME/.cache/casework-moto"
[ -x "$venv/bin/pip" ] || python3 -m venv "$venv"
"$venv/bin/pip" install -q "moto[server]==5.2.5" "azure-storage-blob==12.31.1"
azurite="$HOME/.cache/casework-azurite"
if [ ! -x "$azurite/node_modules/.bin/azurite-blob" ]; then
  mkdir -p "$azurite"
  (cd "$azurite" && npm install --silent azurite@3.35.0)
fi
work="$(mktemp -d)"
port=$((20000 + RANDOM % 20000))
"$venv/bin/moto_server" -H 127.0.0.1 -p "$port" >"$work/moto.log" 2>&1 &
moto=$!
azport=$((port + 1))
"$azurite/node_modules/.bin/azurite-blob" --blobHost 127.0.0.1 --blobPort "$azport" \
  --location "$work/azurite" --silent --skipApiVersionCheck >"$work/azurite.log" 2>&1 &
azure=$!
trap 'kill $moto $azure 2>/dev/null; rm -rf "$work"' EXIT
cd "$work"
"$bin" generate --cases 2000 --seed 5 --out bundle >/dev/null
"$bin" ingest bundle -q
export AWS_ENDPOINT="http://127.0.0.1:$port" AWS_ALLOW_HTTP=true AWS_REGION=us-east-1 \
  AWS_ACCESS_KEY_ID=casework AWS_SECRET_ACCESS_KEY=casework
# Upload the warehouse as it is on disk (the `current` link is a convenience; skipped)
# to S3, and to Azurite's development account (its well-known key).
export AZURE_STORAGE_USE_EMULATOR=true AZURITE_BLOB_STORAGE_URL="http://127.0.0.1:$azport"
"$venv/bin/python" - <<'PY'
import os, time
import boto3
from azure.storage.blob import BlobServiceClient

def retry(make):
    """The servers take a moment to start: try for up to ten seconds."""
    for _ in range(50):
        try:
            return make()
        except Exception:
            time.sleep(0.2)
    return make()

def upload(put, name):
    n = 0
    for folder, _, files in os.walk("warehouse"):
        for f in files:
            path = os.path.join(folder, f)
            if os.path.islink(path) or f == ".lock":
                continue
            put(path, "national/" + os.path.relpath(path, "warehouse"))
            n += 1
    print(f"uploaded {n} files to {name}")

s3 = boto3.client("s3", endpoint_url=os.environ["AWS_ENDPOINT"])
retry(lambda: s3.create_bucket(Bucket="casework"))
upload(lambda path, key: s3.upload_file(path, "casework", key), "s3://casework/national")

key = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
url = os.environ["AZURITE_BLOB_STORAGE_URL"]
conn = f"DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey={key};BlobEndpoint={url}/devstoreaccount1;"
container = retry(lambda: BlobServiceClient.from_connection_string(conn).create_container("casework"))

def put_blob(path, name):
    with open(path, "rb") as data:
        container.upload_blob(name, data)

upload(put_blob, "az://casework/national")
PY
"$bin" measure --as-of 2024-01-01 --format json --warehouse warehouse >local.json
"$bin" measure --as-of 2024-01-01 --format json --warehouse s3://casework/national >s3.json
"$bin" measure --as-of 2024-01-01 --format json --warehouse az://casework/national >az.json
python3 - <<'PY'
import json
local = json.load(open("local.json"))
assert len(local) == 11, len(local)
truth = json.load(open("bundle/truth.json"))
for store in ["s3", "az"]:
    got = json.load(open(f"{store}.json"))
    assert local == got, f"{store} and folder answers differ"
    prevalence = next(m for m in got if m["measure"] == "theme_prevalence")
    for row in prevalence["rows"]:
        assert row["cases_with_theme"] == truth["themes"][row["theme"]], row
    print(f"{store}: all 11 measures equal the folder's; theme counts equal the planted truth")
PY
