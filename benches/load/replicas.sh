# The replica workload of the load benchmark (issue 15), sourced by
# benches/load/run.sh, which owns the tools, the fake Tibber server,
# `measure`, `start_pricepool` and the path helpers used here.
#
#   replicas: redis-server on loopback (no persistence) and REPLICAS (3)
#             replicas of pricepool sharing it (`--redis-url`,
#             `--replicas`), each on its own empty data dir, against the
#             fake Tibber; and a lone instance without Redis, also on an
#             empty data dir. Measures:
#             - the hot 2-day range on one replica against the lone
#               instance, in the order lone, replica, replica, lone (each
#               side's mean): >= 0.9 x, since a hit never touches Redis;
#             - the mixed workload (hot views plus COLD_PERCENT % cold days
#               on the fake's homes) on the lone instance, then driven at
#               all replicas at once (one wrk each, a share of the
#               connections): the upstream calls summed over the replicas
#               equal the lone instance's for the same path list.
#
# Rows go to $WORK/results-replicas.tsv (same columns as RESULTS) and the
# figures into OUT between the `results-replicas` markers.

REPLICAS=${REPLICAS:-3}
RP_TARGETS=()

install_redis() {
    if ! command -v redis-server >/dev/null || ! command -v redis-cli >/dev/null; then
        log "installing redis-server"
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null
    fi
    command -v redis-server >/dev/null || die "redis-server is not installed"
}

# Sets REDIS_PORT, REDIS_PID: a redis-server on loopback without persistence.
start_redis() {
    REDIS_PORT=$(free_port)
    redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no \
        >"$WORK/redis.log" 2>&1 &
    REDIS_PID=$!
    STARTED_PIDS+=("$REDIS_PID")
    for _ in $(seq 1 100); do
        [[ $(redis-cli -p "$REDIS_PORT" ping 2>/dev/null) == PONG ]] && return
        sleep 0.05
    done
    die "redis-server did not start: $(tail -5 "$WORK/redis.log")"
}

# A target line: "<what>: MET|MISSED (<detail>)".
rp_target() {
    local what=$1 ok=$2 detail=$3 verdict=MISSED
    ((ok)) && verdict=MET
    RP_TARGETS+=("$what: $verdict ($detail)")
    log "$what: $verdict ($detail)"
}

# Drives wrk at every replica at once over `paths_file` (a share of the
# connections each) and appends one row: requests summed, the worst
# latencies, upstream calls summed over the replicas.
#   measure_spread WORKLOAD PATHS_FILE STRETCHES
measure_spread() {
    local workload=$1 paths_file=$2 stretches=$3 i out calls_before=0 calls_after=0
    local per=$((CONNECTIONS / REPLICAS)) threads=$((WRK_THREADS > REPLICAS ? WRK_THREADS / REPLICAS : 1))
    local pids=()
    for ((i = 0; i < REPLICAS; i++)); do
        calls_before=$((calls_before + $(upstream_calls "${RP_PORTS[$i]}")))
    done
    for ((i = 0; i < REPLICAS; i++)); do
        out=$WORK/wrk-replicas-$workload-$i.txt
        PATHS=$paths_file wrk -t"$threads" -c"$per" -d"$DURATION" --latency \
            -s "$LUA" "http://127.0.0.1:${RP_PORTS[$i]}" >"$out" 2>&1 &
        pids+=($!)
    done
    for i in "${pids[@]}"; do wait "$i" || die "wrk failed"; done
    for ((i = 0; i < REPLICAS; i++)); do
        calls_after=$((calls_after + $(upstream_calls "${RP_PORTS[$i]}")))
    done
    local rss
    rss=$(rss_kib "${RP_PIDS[0]}")
    for ((i = 0; i < REPLICAS; i++)); do
        sed -n 's/^RESULT //p' "$WORK/wrk-replicas-$workload-$i.txt"
    done | jq -rs --arg workload "$workload" --arg homes "${#FAKE_HOMES[@]}" --arg rss "$rss" \
        --arg calls $((calls_after - calls_before)) --arg stretches "$stretches" \
        --arg paths "$(wc -l <"$paths_file")" --arg load "$(cut -d' ' -f1 /proc/loadavg)" '
        ["replicas", $workload, $homes, "pricepool",
         (map(.requests / (.duration_us / 1e6)) | add | floor),
         (map(.p50_us) | max / 1000), (map(.p99_us) | max / 1000), (map(.p999_us) | max / 1000),
         (map(.non2xx + .connect + .read + .write + .timeout) | add),
         (map(.non2xx) | add), (map(.connect + .read + .write + .timeout) | add),
         ($rss | tonumber), ($rss | tonumber), $calls, $stretches,
         (map(.requests) | add), ($paths | tonumber), 0, 0, $load] | @tsv' >>"$RESULTS"
    log "$(tail -1 "$RESULTS" | awk -F'\t' '{ printf "replicas %-8s %7d req/s p99 %.2f ms errors %d calls %s", $2, $5, $7, $9, $14 }')"
}

run_replica_workloads() {
    local i lone_port lone_pid homes_file paths_file rps_lone=0 rps_replica=0 lone_calls kind
    install_redis
    start_redis
    homes_file=$WORK/homes-replicas.txt
    printf '%s\n' "${FAKE_HOMES[@]}" >"$homes_file"
    path_of range demo >"$WORK/paths-replicas-range.txt"
    # Cold days far from the classic workloads' (offsets from 200 on).
    write_mixed_paths "$homes_file" 200 >"$WORK/paths-replicas-mixed.txt"

    RP_PORTS=() RP_PIDS=()
    for ((i = 0; i < REPLICAS; i++)); do
        start_pricepool "replica-$i" "$WORK/data-replica-$i" \
            --redis-url "redis://127.0.0.1:$REDIS_PORT/0" --replicas "$REPLICAS"
        RP_PORTS+=("$PP_PORT")
        RP_PIDS+=("$PP_PID")
    done
    start_pricepool lone "$WORK/data-lone"
    lone_port=$PP_PORT lone_pid=$PP_PID
    for i in "${RP_PORTS[@]}" "$lone_port"; do
        for home in "${FAKE_HOMES[@]}"; do
            check_paths "$i" <(path_of range "$home") range
        done
    done

    # The hot range: lone, replica, replica, lone; each side's mean.
    CEILING_RPS=0 CEILING_P99=0
    for kind in lone replica replica lone; do
        if [[ $kind == lone ]]; then
            measure replicas lone-range 1 "$WORK/paths-replicas-range.txt" "$lone_port" "$lone_pid" pricepool
            rps_lone=$((rps_lone + $(tail -1 "$RESULTS" | cut -f5) / 2))
        else
            measure replicas replica-range 1 "$WORK/paths-replicas-range.txt" "${RP_PORTS[0]}" "${RP_PIDS[0]}" pricepool
            rps_replica=$((rps_replica + $(tail -1 "$RESULTS" | cut -f5) / 2))
        fi
    done
    rp_target "hot 2-day range on a replica with Redis >= 0.9 x a lone instance's" \
        "$(awk -v r="$rps_replica" -v l="$rps_lone" 'BEGIN { print (r >= 0.9 * l) ? 1 : 0 }')" \
        "$rps_replica vs $rps_lone req/s, $(awk -v r="$rps_replica" -v l="$rps_lone" 'BEGIN { printf "%.2f", (l > 0) ? r / l : 0 }') x"

    # The mixed workload: the lone instance, then all replicas at once.
    paths_file=$WORK/paths-replicas-mixed.txt
    measure replicas lone-mixed "${#FAKE_HOMES[@]}" "$paths_file" "$lone_port" "$lone_pid" pricepool "$COLD_STRETCHES"
    lone_calls=$(tail -1 "$RESULTS" | cut -f14)
    measure_spread mixed "$paths_file" "$COLD_STRETCHES"
    local calls errors
    calls=$(tail -1 "$RESULTS" | cut -f14)
    errors=$(tail -1 "$RESULTS" | cut -f9)
    rp_target "mixed workload over $REPLICAS replicas: upstream calls equal one instance's" \
        "$((calls == lone_calls && errors == 0))" \
        "$calls calls over the replicas vs $lone_calls alone, $errors errors"

    kill -TERM "$lone_pid" "${RP_PIDS[@]}" 2>/dev/null || true
    for i in "$lone_pid" "${RP_PIDS[@]}"; do wait "$i" 2>/dev/null || true; done
    kill -TERM "$REDIS_PID" 2>/dev/null || true
}

# Runs the replica section when ONLY asks for it (or is unset), with its
# own results file, then writes its part of OUT.
run_replicas() {
    wants replicas || return 0
    local saved_results=$RESULTS load_before
    load_before=$(cut -d' ' -f1-3 /proc/loadavg)
    RESULTS=$WORK/results-replicas.tsv
    : >"$RESULTS"
    run_replica_workloads
    local rows=$RESULTS
    RESULTS=$saved_results
    write_replicas_report "$rows" "$load_before" "$(cut -d' ' -f1-3 /proc/loadavg)"
}

write_replicas_report() {
    local rows=$1 load_before=$2 load_after=$3 table section commit
    commit=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
    table=$(
        awk -F'\t' '
            BEGIN {
                print "| workload | homes | req/s | p50 ms | p99 ms | p99.9 ms | errors | upstream calls | load after |"
                print "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
            }
            { printf "| %s | %s | %d | %.2f | %.2f | %.2f | %d | %s | %s |\n", $2, $3, $5, $6, $7, $8, $9, $14, $20 }' "$rows"
    )
    section=$(
        cat <<EOF
<!-- results-replicas:begin (written by benches/load/run.sh; edit outside the markers) -->
## Latest run: replicas sharing Redis

\`\`\`sh
$COMMAND
\`\`\`

- Commit \`$commit\`, $(date -u +'%Y-%m-%d %H:%M UTC'); $(nproc) CPUs, load average before $load_before, after $load_after; $(redis-server --version | cut -d' ' -f1-3).
- $REPLICAS replicas (\`--redis-url\`, \`--replicas $REPLICAS\`) and a lone instance, each on an empty data dir, against the fake Tibber's ${#FAKE_HOMES[@]} homes; clocks at \`$NOW\`; wrk $WRK_THREADS threads, $CONNECTIONS connections, $DURATION per workload (spread: one wrk per replica with $((CONNECTIONS / REPLICAS)) connections each).
- lone-range and replica-range: the hot 2-day range of \`demo\`, in the order lone, replica, replica, lone, compared by each side's mean. lone-mixed and mixed: the same mixed list ($COLD_PERCENT % cold days, $COLD_STRETCHES stretches) on the lone instance, then on every replica at once; upstream calls summed over the replicas.

$table

Targets:
$(printf -- '- %s\n' "${RP_TARGETS[@]}")
<!-- results-replicas:end -->
EOF
    )
    write_section results-replicas "$section"
    log "wrote $OUT (replicas)"
    printf '%s\n' "${RP_TARGETS[@]}" >&2
}
