# bench/lib.sh: measuring and reporting for bench/run (sourced, not run).
#
# A measurement is one pgbench (or redis-benchmark, or a scenario's own client)
# run of one variant at one client count; it appends
# "scenario,variant,clients,round,tps" to $OUT/raw.csv.
# compare() runs the variants of a scenario interleaved (A B A B ...) so that
# drift of a shared, noisy machine hits them all alike, and the medians of the
# rounds are what reports use.  Needs: OUT, TMP, ROUNDS, CLIENTS, LENGTH (the
# pgbench -T/-t arguments), REDIS_BENCH_N, RPORT.

# Writes a pgbench script for scenario $1, variant $2 from stdin.
script() {
  mkdir -p "$TMP/sql"
  cat >"$TMP/sql/$1-$2.sql"
}

# One pgbench run; prints the tps (0 if it failed; the error goes to the log).
pgbench_tps() {
  local file=$1 clients=$2 threads out
  threads=$(( clients < $(nproc) ? clients : $(nproc) ))
  if ! out=$(pgbench -n -M prepared -c "$clients" -j "$threads" "${LENGTH[@]}" -f "$file" 2>>"$TMP/pgbench.log"); then
    echo "bench: pgbench failed on $file (see below)" >&2
    tail -n 5 "$TMP/pgbench.log" >&2
    echo 0
    return
  fi
  awk '/^tps = / { print $3; exit }' <<<"$out"
}

# One redis-benchmark run of GET at this concurrency; prints requests per second.
redis_tps() {
  local clients=$1
  redis-benchmark -h 127.0.0.1 -p "$RPORT" -c "$clients" -n "$REDIS_BENCH_N" -t get -d 100 \
    -r 1000 --csv 2>>"$TMP/redis-benchmark.log" |
    awk -F'","' '/^"GET/ { print $2; exit }'
}

# Variant hooks: a variant may need L2 on or off (cachext.redis_url is reloadable),
# or settings of its own for its sessions (PGOPTIONS, e.g. "-c cachext.events=async").
declare -A VARIANT_L2=()
declare -A VARIANT_PGOPTIONS=()
# A variant measured by a client of its own instead of pgbench: the name of a
# function, called as FUNCTION VARIANT CLIENTS (with the variant's PGOPTIONS),
# that prints the tps.
declare -A VARIANT_RUN=()

# compare SCENARIO VARIANT... : every round at every client count, variants interleaved.
# The variant "redis" is redis-benchmark's GET, a variant with a VARIANT_RUN runs that;
# any other runs $TMP/sql/SCENARIO-VARIANT.sql.
compare() {
  local scenario=$1 clients round variant tps
  shift
  for clients in $CLIENTS; do
    for round in $(seq "$ROUNDS"); do
      for variant in "$@"; do
        [ -z "${VARIANT_L2[$scenario-$variant]:-}" ] || l2_switch "${VARIANT_L2[$scenario-$variant]}"
        if [ "$variant" = redis ]; then
          tps=$(redis_tps "$clients")
        elif [ -n "${VARIANT_RUN[$scenario-$variant]:-}" ]; then
          tps=$(PGOPTIONS="${VARIANT_PGOPTIONS[$scenario-$variant]:-}" \
            "${VARIANT_RUN[$scenario-$variant]}" "$variant" "$clients")
        else
          tps=$(PGOPTIONS="${VARIANT_PGOPTIONS[$scenario-$variant]:-}" \
            pgbench_tps "$TMP/sql/$scenario-$variant.sql" "$clients")
        fi
        echo "$scenario,$variant,$clients,$round,${tps:-0}" >>"$OUT/raw.csv"
      done
    done
  done
}

# median SCENARIO VARIANT CLIENTS: the median tps of the rounds (empty if none); one
# decimal, or four significant digits below 100 (bulk_update's statements per second).
median() {
  awk -F, -v s="$1" -v v="$2" -v c="$3" '$1 == s && $2 == v && $3 == c { print $5 }' "$OUT/raw.csv" |
    sort -g |
    awk '{ x[NR] = $1 }
      END {
        if (NR == 0) exit
        m = (NR % 2) ? x[(NR + 1) / 2] : (x[NR / 2] + x[NR / 2 + 1]) / 2
        printf (m < 100 && m > -100) ? "%.4g\n" : "%.1f\n", m
      }'
}

# ratio A B: A / B with two decimals, "n/a" when either is missing or zero.
ratio() {
  awk -v a="${1:-0}" -v b="${2:-0}" 'BEGIN { if (a + 0 == 0 || b + 0 == 0) print "n/a"; else printf "%.2f\n", a / b }'
}

# latency_ms CLIENTS TPS: the mean latency of one transaction at that concurrency.
latency_ms() {
  awk -v c="$1" -v t="${2:-0}" 'BEGIN { if (t + 0 > 0) printf "%.3f\n", 1000 * c / t; else print "n/a" }'
}

# Appends the median rows of a scenario to results.csv (unit: what tps counts).
record() {
  local scenario=$1 unit=$2 clients variant
  shift 2
  for variant in "$@"; do
    for clients in $CLIENTS; do
      echo "$scenario,$variant,$clients,$(median "$scenario" "$variant" "$clients"),$unit,$ROUNDS" >>"$OUT/results.csv"
    done
  done
}

# A scenario that could not run still gets a row, saying why.
skip() {
  echo "$1: skipped ($2)"
  echo "$1,skipped,,,$2,0" >>"$OUT/results.csv"
}

# target NAME VALUE OP LIMIT: prints and records PASS/MISS ("n/a" values are MISS).
target() {
  local name=$1 value=$2 op=$3 limit=$4 verdict
  if [ "$value" != n/a ] && awk -v v="$value" -v l="$limit" "BEGIN { exit !(v $op l) }"; then
    verdict=PASS
  else
    verdict=MISS
  fi
  printf '  %-4s %s: %s (target %s %s)\n' "$verdict" "$name" "$value" "$op" "$limit" | tee -a "$OUT/targets.txt"
}

# A line of the per-scenario summary, also kept in summary.txt.
say() {
  echo "$*" | tee -a "$OUT/summary.txt"
}
