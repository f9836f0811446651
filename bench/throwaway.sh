# bench/throwaway.sh: a throwaway PostgreSQL with cachext preloaded, for bench/eviction and
# bench/expiry_storm (sourced, not run). They measure the cachext installed in $PG_BIN
# (build and install it first: make PG_CONFIG=$PG_BIN/pg_config install).
#
#   run_unprivileged "$@"   as root: re-runs the calling script as the user scripts/setup
#                           creates (PostgreSQL refuses root), writing into $OUT
#   start_throwaway         initdb + start in a temp dir (unix socket only); removed at exit
#   restart_with SETTING... restarts with these postgresql.conf lines (e.g. cachext.l1_eviction = sieve)
#   sql ARGS...             psql on it, quiet, unaligned, stopping at the first error
PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
BENCH_USER=cachext

run_unprivileged() {
  [ "$(id -u)" -eq 0 ] || return 0
  id -u "$BENCH_USER" >/dev/null 2>&1 || useradd --system -m "$BENCH_USER"
  mkdir -p "$OUT"
  chown "$BENCH_USER:" "$OUT"
  exec runuser -u "$BENCH_USER" -- env PG_BIN="$PG_BIN" OUT="$OUT" bash "$0" "$@"
}

start_throwaway() {
  export PATH=$PG_BIN:$PATH
  TMP=$(mktemp -d /tmp/cachext-bench.XXXXXX)
  trap 'pg_ctl -D "$TMP/data" -m immediate stop >/dev/null 2>&1 || true; rm -rf "$TMP"' EXIT
  initdb -D "$TMP/data" -A trust -E UTF8 --locale=C --no-sync >"$TMP/initdb.log"
  cat >>"$TMP/data/postgresql.conf" <<CONF
shared_preload_libraries = 'cachext'
listen_addresses = ''
unix_socket_directories = '$TMP'
max_connections = 60
synchronous_commit = off
cachext.events = off
include_if_exists = 'bench_profile.conf'
CONF
  export PGHOST=$TMP PGPORT=5432 PGDATABASE=postgres
  pg_ctl -D "$TMP/data" -l "$TMP/postgres.log" -w start >/dev/null
  sql -c 'CREATE EXTENSION cachext'
}

restart_with() {
  printf '%s\n' "$@" >"$TMP/data/bench_profile.conf"
  pg_ctl -D "$TMP/data" -l "$TMP/postgres.log" -m fast -w restart >/dev/null
}

sql() {
  PGOPTIONS="${PGOPTIONS:-} -c client_min_messages=warning" psql -X -q -A -t -v ON_ERROR_STOP=1 "$@"
}

# machine.txt: what the numbers were measured on.
describe_machine() {
  {
    echo "command: $*"
    echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "nproc: $(nproc)"
    echo "cpu: $(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)"
    echo "postgresql: $(sql -c 'SHOW server_version')"
    echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
  } | tee "$OUT/machine.txt"
}
