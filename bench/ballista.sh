#!/usr/bin/env bash
# Builds casework with the `ballista` feature and runs tests/it/ballista.rs: the measures on
# Apache DataFusion Ballista (standalone: scheduler and executor in-process) give the same
# answers as the local engine and the planted truth. Not part of .ci/run: Ballista's gRPC
# stack (tonic, prost, arrow-flight; about 300 more crates) adds 15 to 20 minutes to a
# cold build, which would take CI past its 30-minute budget.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/casework-target}"
# A Ballista plan that never finishes (see queries/learning.sql) must fail, not hang.
timeout 1800 cargo test --locked --features ballista --test it ballista:: "$@"
