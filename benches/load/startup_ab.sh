#!/usr/bin/env bash
# Start-up A/B of pricepool binaries on the big snapshot data (issue 16's
# seventh round): starts each binary in turn, ROUNDS times, and prints
# per start the time to /readyz 200 from exec, RSS once ready, page
# faults, and the CPU time until ready (user and system, from
# /proc/PID/stat). The data's files are read once first, so every start
# finds them in the page cache; what is compared is the binaries' work.
#
# Usage:  benches/load/startup_ab.sh ROUNDS BINARY [BINARY...]
#         (e.g. 3 target/release/pricepool /tmp/pricepool-before)
# Knobs (environment): DATA (the data dir; written with bench-snapshots,
# BIG_HOMES x BIG_INTERVALS, when it has no homes/), BIG_HOMES (10000),
# BIG_INTERVALS (960), NOW, ENV_<n> (environment for the n-th binary,
# e.g. ENV_2=GLIBC_TUNABLES=glibc.malloc.hugetlb=1).
# Needs the release bench-snapshots and fake-tibber (built here when
# missing). Not run by CI; talks only to 127.0.0.1.

set -euo pipefail

(($# >= 2)) || { echo "usage: $0 ROUNDS BINARY [BINARY...]" >&2; exit 2; }
ROUNDS=$1
shift
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BIN=$ROOT/target/release
NOW=${NOW:-2025-11-20T13:00:00Z}
DATA=${DATA:-/tmp/pricepool-startup-data}
CLK_TCK=$(getconf CLK_TCK)

[[ -x $BIN/bench-snapshots ]] || (cd "$ROOT" && cargo build --release --quiet --bin bench-snapshots)
[[ -x $BIN/fake-tibber ]] || (cd "$ROOT" && cargo build --release --quiet --features testkit --bin fake-tibber)
if [[ ! -d $DATA/homes ]]; then
    "$BIN/bench-snapshots" --data-dir "$DATA" --homes "${BIG_HOMES:-10000}" \
        --intervals "${BIG_INTERVALS:-960}" --now "$NOW"
    sync
fi
cat "$DATA"/homes/* >/dev/null

FAKE_OUT=$(mktemp)
"$BIN/fake-tibber" --listen 127.0.0.1:0 --now "$NOW" >"$FAKE_OUT" 2>/dev/null &
FAKE_PID=$!
PP_PID=
trap 'kill "$FAKE_PID" ${PP_PID:+"$PP_PID"} 2>/dev/null; rm -f "$FAKE_OUT"' EXIT
until FAKE_URL=$(grep -m1 '^http' "$FAKE_OUT"); do sleep 0.05; done

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
now_ns() { date +%s%N; }

for ((round = 1; round <= ROUNDS; round++)); do
    n=0
    for binary in "$@"; do
        n=$((n + 1))
        env_var=ENV_$n
        port=$(free_port)
        started=$(now_ns)
        env ${!env_var:-} "$binary" --source tibber --tibber-url "$FAKE_URL" \
            --tibber-token fake-token-5f3c9a --data-dir "$DATA" \
            --listen "127.0.0.1:$port" --now "$NOW" >/dev/null 2>&1 &
        PP_PID=$!
        until [[ $(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/readyz") == 200 ]]; do
            kill -0 "$PP_PID" 2>/dev/null || { echo "$binary exited" >&2; exit 1; }
            sleep 0.01
        done
        ready_ms=$((($(now_ns) - started) / 1000000))
        rss_mib=$(awk '/^VmRSS:/ { print int($2 / 1024) }' "/proc/$PP_PID/status")
        awk -v hz="$CLK_TCK" -v r="$round" -v b="$binary" -v ms="$ready_ms" -v rss="$rss_mib" '{
            printf "round %d %s: ready %d ms, RSS %d MiB, %d page faults, CPU %d ms (user %d, system %d)\n",
                r, b, ms, rss, $10, ($14 + $15) * 1000 / hz, $14 * 1000 / hz, $15 * 1000 / hz
        }' "/proc/$PP_PID/stat"
        kill -TERM "$PP_PID"
        wait "$PP_PID" || true
        PP_PID=
    done
done
