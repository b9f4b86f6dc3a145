# The dashboard and market-home workloads of the load benchmark (issues 13
# and 11), sourced by benches/load/run.sh, which owns the tools, the fake
# Tibber server, nginx, `measure` and the helpers used here.
#
#   page:   `GET /` for the fake's 3 homes at $CONNECTIONS connections:
#           req/s and p99 against the issue's >= 5,000 req/s (nginx serving
#           the same page as a static file is the ceiling, for scale).
#   market: one pricepool with MARKET_HOMES (10,000) `[[homes]]` on DE-LU,
#           each with a tariff (charges, 19 % tax, a 17:00-20:00 window),
#           priced by the fake Energy-Charts server, plus the fake Tibber's
#           3 homes; and the same service with 1 market home. Measures
#           start-up to /readyz (<= 1 s), RSS once ready against the
#           one-home service's (within 64 MiB), the upstream calls while
#           every home asks for COLD_DAYS days nobody asked for (one call
#           per missing range), and the hot 2-day range on a tariffed
#           market home against a Tibber home's in the same run (>= 0.9 x,
#           each side's mean of two runs ordered Tibber, market, market,
#           Tibber).
#
# Rows go to $WORK/results-page-market.tsv (same columns as RESULTS) and
# the figures into OUT between the `results-page-market` markers.

MARKET_HOMES=${MARKET_HOMES:-10000}
# History days (before today, Berlin) the market workload asks for cold.
COLD_DAYS=(10 20 30)
PM_RESULTS=
ONLY=${ONLY:-}
for section in ${ONLY//,/ }; do
    case $section in
        page | market | replicas | classic) ;;
        *) die "ONLY: unknown section $section (page, market, replicas, classic)" ;;
    esac
done
PM_TARGETS=()
PM_NOTES=()

# Sets FAKE_EC_URL: the fake Energy-Charts server, its clock at NOW.
start_fake_energy_charts() {
    local out=$WORK/fake-ec.out
    "$BIN/fake-energy-charts" --now "$NOW" >"$out" 2>"$WORK/fake-ec.err" &
    FAKE_EC_PID=$!
    STARTED_PIDS+=("$FAKE_EC_PID")
    FAKE_EC_URL=
    for _ in $(seq 1 200); do
        FAKE_EC_URL=$(grep -m1 '^http' "$out" || true)
        [[ -n $FAKE_EC_URL ]] && break
        kill -0 "$FAKE_EC_PID" 2>/dev/null || die "fake-energy-charts exited: $(cat "$WORK/fake-ec.err")"
        sleep 0.05
    done
    [[ -n $FAKE_EC_URL ]] || die "fake-energy-charts did not print its URL"
    log "fake Energy-Charts at $FAKE_EC_URL"
}

# Writes a config file of `n` market homes m-00000… on DE-LU to stdout,
# each paying its own charges (so no two bodies could be shared).
write_market_config() {
    awk -v n="$1" 'BEGIN {
        for (k = 0; k < n; k++) {
            printf "[[homes]]\nid = \"m-%05d\"\nmarket = \"DE-LU\"\nsources = [\"energy-charts\"]\n", k
            printf "[homes.tariff]\ncharges = %.5f\ntax = 0.19\n", 0.1 + k / 100000
            printf "windows = [{ from = \"17:00\", to = \"20:00\", charges = 0.05 }]\n\n"
        }
    }'
}

# A target line: "<what>: MET|MISSED (<detail>)".
pm_target() {
    local what=$1 ok=$2 detail=$3 verdict=MISSED
    ((ok)) && verdict=MET
    PM_TARGETS+=("$what: $verdict ($detail)")
    log "$what: $verdict ($detail)"
}

# The last row's req/s and p99 (ms) of RESULTS.
last_rps() { tail -1 "$RESULTS" | cut -f5; }
last_p99() { tail -1 "$RESULTS" | cut -f7; }

run_page_workload() {
    local paths_file=$WORK/paths-page.txt home page rps p99
    start_pricepool page "$WORK/data-page"
    # The first page is rendered before the first fetch's success is known;
    # the second is the one kept.
    curl -sf -o /dev/null "http://127.0.0.1:$PP_PORT/" || die "GET / failed"
    page=$(curl -sf "http://127.0.0.1:$PP_PORT/") || die "GET / failed"
    for home in "${FAKE_HOMES[@]}"; do
        grep -q "id=\"home-$home\"" <<<"$page" || die "the page lacks $home"
    done
    mkdir -p "$WORK/bodies"
    printf '%s' "$page" >"$WORK/bodies/page.json"
    PM_NOTES+=("page: the fake's 3 homes, $(wc -c <"$WORK/bodies/page.json") B of HTML")
    echo / >"$paths_file"
    measure_ceiling page page 3 "$paths_file" page
    measure page page 3 "$paths_file" "$PP_PORT" "$PP_PID" pricepool
    rps=$(last_rps)
    p99=$(last_p99)
    pm_target "/ for 3 homes >= 5,000 req/s" "$((rps >= 5000))" "$rps req/s, p99 $p99 ms"
    stop_pricepool
}

# Starts pricepool named `name` on a fresh data dir with `config`.
start_market_pricepool() {
    local name=$1 config=$2
    start_pricepool "$name" "$WORK/data-$name" --config "$config" --energy-charts-url "$FAKE_EC_URL"
}

run_market_workloads() {
    local one=$WORK/market-1.toml many=$WORK/market-$MARKET_HOMES.toml
    local one_rss rss ready_ms homes_file paths_file calls_before calls rps_tibber rps_market
    write_market_config 1 >"$one"
    write_market_config "$MARKET_HOMES" >"$many"
    start_fake_energy_charts

    start_market_pricepool market-1 "$one"
    one_rss=$(rss_kib "$PP_PID")
    stop_pricepool

    start_market_pricepool market "$many"
    ready_ms=$PP_READY_MS
    rss=$(rss_kib "$PP_PID")
    pm_target "$MARKET_HOMES market homes: start-up to ready <= 1 s" "$((ready_ms <= 1000))" "$ready_ms ms"
    pm_target "$MARKET_HOMES market homes: RSS once ready within 64 MiB of 1 market home's" \
        "$((rss - one_rss <= 65536))" \
        "$((rss / 1024)) MiB vs $((one_rss / 1024)) MiB, +$(((rss - one_rss) / 1024)) MiB"

    # Cold days across every home: one upstream call per day asked for.
    homes_file=$WORK/homes-market.txt
    awk -v n="$MARKET_HOMES" 'BEGIN { for (k = 0; k < n; k++) printf "m-%05d\n", k }' >"$homes_file"
    paths_file=$WORK/paths-market-cold.txt
    local today day offset
    today=$(local_today Europe/Berlin)
    for offset in "${COLD_DAYS[@]}"; do
        day=$(day_offset "$today" "-$offset")
        awk -v day="$day" '{ print "/v1/homes/" $1 "/intervals?date=" day }' "$homes_file"
    done | shuf --random-source=<(yes) >"$paths_file"
    CEILING_RPS=0 CEILING_P99=0
    calls_before=$(upstream_calls "$PP_PORT")
    measure market cold-days "$MARKET_HOMES" "$paths_file" "$PP_PORT" "$PP_PID" pricepool "${#COLD_DAYS[@]}"
    calls=$(($(upstream_calls "$PP_PORT") - calls_before))
    pm_target "$MARKET_HOMES market homes asking ${#COLD_DAYS[@]} cold days: one upstream call per missing range" \
        "$((calls == ${#COLD_DAYS[@]} && $(tail -1 "$RESULTS" | cut -f9) == 0))" \
        "$calls calls, $(tail -1 "$RESULTS" | cut -f9) errors, $(tail -1 "$RESULTS" | cut -f16) requests"

    # The hot 2-day range: a Tibber home, then a tariffed market home.
    check_paths "$PP_PORT" <(path_of range demo) range
    check_paths "$PP_PORT" <(path_of range m-00000) range
    path_of range demo >"$WORK/paths-tibber-range.txt"
    path_of range m-00000 >"$WORK/paths-market-range.txt"
    # In the order Tibber, market, market, Tibber, each side's mean: a
    # machine whose load drifts during the four runs favours neither.
    rps_tibber=0 rps_market=0
    local kind
    for kind in tibber market market tibber; do
        measure market "$kind-range" 1 "$WORK/paths-$kind-range.txt" "$PP_PORT" "$PP_PID" pricepool
        if [[ $kind == tibber ]]; then
            rps_tibber=$((rps_tibber + $(last_rps) / 2))
        else
            rps_market=$((rps_market + $(last_rps) / 2))
        fi
    done
    pm_target "hot 2-day range, tariffed market home >= 0.9 x a Tibber home's" \
        "$(awk -v m="$rps_market" -v t="$rps_tibber" 'BEGIN { print (m >= 0.9 * t) ? 1 : 0 }')" \
        "$rps_market vs $rps_tibber req/s, $(awk -v m="$rps_market" -v t="$rps_tibber" 'BEGIN { printf "%.2f", (t > 0) ? m / t : 0 }') x"

    # For scale, not a target: the hot range spread over every market home
    # (each body rendered with the home's tariff once, then kept).
    paths_file=$WORK/paths-market-range-all.txt
    write_paths range "$homes_file" >"$paths_file"
    measure market market-range "$MARKET_HOMES" "$paths_file" "$PP_PORT" "$PP_PID" pricepool
    PM_NOTES+=("market: RSS after the workloads $(($(rss_kib "$PP_PID") / 1024)) MiB (peak $(($(awk '/^VmHWM:/ { print $2 }' "/proc/$PP_PID/status") / 1024)) MiB)")
    stop_pricepool
    kill -TERM "$FAKE_EC_PID" 2>/dev/null || true
}

# Runs the sections ONLY asks for (all when unset), with their own results
# file, then writes their part of OUT.
run_page_market() {
    wants page || wants market || return 0
    local saved_results=$RESULTS load_before
    load_before=$(cut -d' ' -f1-3 /proc/loadavg)
    PM_RESULTS=$WORK/results-page-market.tsv
    RESULTS=$PM_RESULTS
    : >"$RESULTS"
    start_nginx
    wants page && run_page_workload
    wants market && run_market_workloads
    kill -TERM "$NGINX_PID" 2>/dev/null || true
    wait "$NGINX_PID" 2>/dev/null || true
    RESULTS=$saved_results
    write_page_market_report "$load_before" "$(cut -d' ' -f1-3 /proc/loadavg)"
}

write_page_market_report() {
    local load_before=$1 load_after=$2 table section commit
    commit=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
    table=$(
        awk -F'\t' '
            BEGIN {
                print "| scenario | workload | homes | req/s | nginx req/s | p50 ms | p99 ms | p99.9 ms | errors | RSS before → after (MiB) | upstream calls | load after |"
                print "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
            }
            $4 == "pricepool" {
                printf "| %s | %s | %s | %d | %s | %.2f | %.2f | %.2f | %d | %.0f → %.0f | %s | %s |\n",
                    $1, $2, $3, $5, ($18 > 0 ? $18 : "–"), $6, $7, $8, $9, $12 / 1024, $13 / 1024, $14, $20
            }' "$PM_RESULTS"
    )
    section=$(
        cat <<EOF
<!-- results-page-market:begin (written by benches/load/run.sh; edit outside the markers) -->
## Latest run: dashboard and market homes

\`\`\`sh
$COMMAND
\`\`\`

- Commit \`$commit\`, $(date -u +'%Y-%m-%d %H:%M UTC'); $(nproc) CPUs, load average before $load_before, after $load_after.
- wrk: $WRK_THREADS threads, $CONNECTIONS connections, $DURATION per workload; clocks at \`$NOW\`; release build.
$(printf -- '- %s\n' "${PM_NOTES[@]}")
- market: $MARKET_HOMES \`[[homes]]\` on DE-LU (charges 0.1 + k/100000, tax 0.19, 17:00–20:00 +0.05), source \`energy-charts\` (the fake), plus the fake Tibber's 3 homes in the same service; cold-days: every home asks for ${#COLD_DAYS[@]} history days (${COLD_DAYS[*]} days back) in shuffled order; tibber-range and market-range: the hot 2-day range of \`demo\` and of \`m-00000\`, run in the order Tibber, market, market, Tibber and compared by each side's mean.

$table

Targets:
$(printf -- '- %s\n' "${PM_TARGETS[@]}")
<!-- results-page-market:end -->
EOF
    )
    write_section results-page-market "$section"
    log "wrote $OUT (dashboard and market homes)"
    printf '%s\n' "${PM_TARGETS[@]}" >&2
}
