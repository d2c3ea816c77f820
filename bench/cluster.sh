#!/usr/bin/env bash
# A real Apache DataFusion Ballista cluster on loopback: one scheduler and two executors
# as separate processes (the `ballista-scheduler` and `ballista-executor` binaries of
# Ballista 55.0.0, installed by this script with `cargo install`), and casework built
# with the `ballista` feature as their client. Every measure, and the report's tables,
# run on the cluster (`--engine ballista --scheduler df://…`) and here (the local
# engine) over the same warehouse; the script fails when any answer differs, when either
# executor ran no task, or when anything takes longer than its timeout (a hang fails).
#
#   bash bench/cluster.sh            # 20,000 generated cases
#   CLUSTER_CASES=200000 bash bench/cluster.sh
#
# Not part of .ci/run: the two binaries and casework's `ballista` feature are about
# 25 minutes of cold build on two cores. Settings (environment):
#   CLUSTER_CASES     cases to generate (default 20000)
#   CLUSTER_PORT      the scheduler's port; the executors take the next six (default 50150)
#   CLUSTER_PROFILE   debug (default: quicker to build) or release, for the two binaries
#   CLUSTER_TOOLS     where the binaries are installed (default ~/.cache/casework-ballista)
#   CLUSTER_KEEP      set to keep the work folder (warehouse, outputs, logs)
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/casework-target}"
CASES="${CLUSTER_CASES:-20000}"
PORT="${CLUSTER_PORT:-50150}"
PROFILE="${CLUSTER_PROFILE:-debug}"
TOOLS="${CLUSTER_TOOLS:-$HOME/.cache/casework-ballista}"
BALLISTA_VERSION=55.0.0
WORK="$(mktemp -d "${TMPDIR:-/tmp}/casework-cluster-XXXXXX")"
PIDS=()

say() { printf '%s  %s\n' "$(date -u +%H:%M:%S)" "$*"; }
# (To standard error: it may be called inside $( ), whose output is captured.)
fail() {
  say "FAIL: $*" >&2
  exit 1
}
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  if [[ -n "${CLUSTER_KEEP:-}" ]]; then
    say "kept $WORK"
  else
    rm -rf "$WORK"
  fi
}
trap cleanup EXIT

# Waits up to $2 seconds for a TCP port on loopback to accept connections.
wait_port() {
  for _ in $(seq "$2"); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
    sleep 1
  done
  return 1
}

# 1. The scheduler and executor binaries, as Ballista publishes them (their own
#    Cargo.lock: --locked), into a folder of their own.
install=(cargo install --locked --root "$TOOLS" --version "$BALLISTA_VERSION"
  --no-default-features --features build-binary)
[[ "$PROFILE" == debug ]] && install+=(--debug)
for crate in ballista-scheduler ballista-executor; do
  if [[ -x "$TOOLS/bin/$crate" ]] && "$TOOLS/bin/$crate" --version | grep -q "$BALLISTA_VERSION"; then
    say "$crate $BALLISTA_VERSION is installed in $TOOLS"
  else
    say "installing $crate $BALLISTA_VERSION ($PROFILE) into $TOOLS"
    CARGO_TARGET_DIR="$TOOLS/target" "${install[@]}" "$crate"
  fi
done
SCHEDULER="$TOOLS/bin/ballista-scheduler"
EXECUTOR="$TOOLS/bin/ballista-executor"

# 2. casework with the `ballista` feature (dev profile: it is the client; the queries
#    run in the executors). Copied aside: the next plain build replaces the binary.
say "building casework --features ballista"
cargo build --locked --quiet --features ballista
cp "$CARGO_TARGET_DIR/debug/casework" "$WORK/casework"
CW="$WORK/casework"

# 3. A warehouse. Its path must be the same on every executor (they open its Parquet
#    files themselves): here they share this machine's file system.
say "generating and ingesting $CASES cases"
"$CW" generate --cases "$CASES" --seed 7 --out "$WORK/bundle" >/dev/null
"$CW" ingest "$WORK/bundle" --warehouse "$WORK/warehouse" -q

# 4. The cluster: a scheduler and two executors of one task slot each, on loopback.
say "starting the scheduler on 127.0.0.1:$PORT"
"$SCHEDULER" --bind-host 127.0.0.1 --external-host 127.0.0.1 --bind-port "$PORT" \
  >"$WORK/scheduler.log" 2>&1 &
PIDS+=($!)
wait_port "$PORT" 60 || fail "the scheduler did not listen within 60 s (see $WORK/scheduler.log)"
for n in 1 2; do
  base=$((PORT + 3 * n - 2))
  mkdir -p "$WORK/executor-$n"
  "$EXECUTOR" --bind-host 127.0.0.1 --external-host 127.0.0.1 \
    --bind-port "$base" --bind-grpc-port $((base + 1)) --bind-health-port $((base + 2)) \
    --scheduler-host 127.0.0.1 --scheduler-port "$PORT" --scheduler-connect-timeout-seconds 30 \
    --vcores 1 --work-dir "$WORK/executor-$n" >"$WORK/executor-$n.log" 2>&1 &
  PIDS+=($!)
done
for n in 1 2; do
  health=$((PORT + 3 * n))
  ready=""
  for _ in $(seq 60); do
    if curl -fsS "http://127.0.0.1:$health/readyz" >/dev/null 2>&1; then
      ready=1
      break
    fi
    sleep 1
  done
  [[ -n "$ready" ]] || fail "executor $n not ready within 60 s (see $WORK/executor-$n.log)"
done
say "two executors registered"

# 5. Every measure, then the report, on both engines.
URL="df://127.0.0.1:$PORT"
common=(--warehouse "$WORK/warehouse" --as-of 2024-01-01)
# Runs a command under a timeout, its output to $WORK/$1.log; prints its wall time.
timed() {
  local name=$1 start end
  shift
  start=$(date +%s.%N)
  timeout 900 "$@" >"$WORK/$name.log" 2>&1 ||
    fail "exit $? (124: timed out after 900 s): $* (see $WORK/$name.log)"
  end=$(date +%s.%N)
  awk -v s="$start" -v e="$end" 'BEGIN { printf "%.1f", e - s }'
}
# Runs `casework $@` on both engines, into $WORK/$1-local and $WORK/$1-cluster, and
# compares every CSV file below their subfolder $2 (at least $3 of them).
compare() {
  local what=$1 sub=$2 least=$3 t_local t_cluster n
  shift 3
  t_local=$(timed "$what-local" "$CW" "$@" "${common[@]}" --out "$WORK/$what-local")
  t_cluster=$(timed "$what-cluster" "$CW" "$@" "${common[@]}" --out "$WORK/$what-cluster" \
    --engine ballista --scheduler "$URL")
  n=$(find "$WORK/$what-local/$sub" -name '*.csv' | wc -l)
  [[ "$n" -ge "$least" ]] || fail "$what: only $n CSV files written"
  diff -r "$WORK/$what-local/$sub" "$WORK/$what-cluster/$sub" >"$WORK/$what.diff" ||
    fail "$what: the cluster's answers differ from the local engine's: $(head -20 "$WORK/$what.diff")"
  say "$what: all $n CSV files equal (local ${t_local} s, cluster ${t_cluster} s)"
}
compare measure . 11 measure --format csv
compare report tables 1 report

# 6. Both executors did work.
for n in 1 2; do
  tasks=$(grep -cE "Received task|Execute task" "$WORK/executor-$n.log" || true)
  [[ "$tasks" -gt 0 ]] || fail "executor $n ran no task (see $WORK/executor-$n.log)"
  say "executor $n ran $tasks tasks"
done
say "PASS: Ballista $BALLISTA_VERSION, a scheduler and two executors on loopback, $CASES cases"
