#!/usr/bin/env bash
# Peak memory of an ingest: generates a bundle of N cases (default 1,000,000, about 6.5
# million events) and ingests it under /usr/bin/time, printing peak RSS and wall time.
# usage: bench/ingest_memory.sh [N] [PROFILE]   (PROFILE: dev (default) or release)
set -euo pipefail
cd "$(dirname "$0")/.."
n="${1:-1000000}"
profile="${2:-dev}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
python3 bench/gen_bundle.py "$n" "$work/bundle"
cargo build --profile "$profile" --quiet
dir=debug; [ "$profile" = dev ] || dir="$profile"
bin="${CARGO_TARGET_DIR:-target}/$dir/casework"
/usr/bin/time -v "$bin" ingest "$work/bundle" --warehouse "$work/wh" -q 2> "$work/time.txt"
grep -E "Maximum resident|Elapsed" "$work/time.txt"
