# bench/scenarios.sh: the scenarios of bench/run, one function each (sourced, not run).
#
# Each scenario_NAME prepares its data (so any subset runs alone, in any order),
# writes its pgbench scripts, runs compare() over its variants, records the medians
# in results.csv and prints one line of ratios per client count, then PASS/MISS for
# its targets.  The "floor" variant, SELECT :id, is the cost of a prepared statement
# round trip doing nothing: no cache read can be cheaper than that.
# Uses from bench/run: sql, profile, MAIN, l2_switch, HAS_L2, PGMEMCACHE, RPORT, SMOKE,
# HERE (write_path builds its client from bench/write_path.c).

if [ -n "$SMOKE" ]; then
  NKEYS=100 NWRITE=1000 NBIG=5 SCALE_SIZES="100 1000 10000" NBULK=1000 NLATENCY=20
  NWARM=1000 WARM_BEFORE_S=3 WARM_LIMIT_S=15
else
  NKEYS=1000 NWRITE=10000 NBIG=50 SCALE_SIZES="1000 100000 1000000" NBULK=100000 NLATENCY=1000
  NWARM=100000 WARM_BEFORE_S=10 WARM_LIMIT_S=180
fi
# Overrides for warm_restart, to size it to the machine: keys read, seconds measured
# before the restart, longest wait for the hit ratio after it.
NWARM=${BENCH_WARM_KEYS:-$NWARM}
WARM_BEFORE_S=${BENCH_WARM_BEFORE_S:-$WARM_BEFORE_S}
WARM_LIMIT_S=${BENCH_WARM_LIMIT_S:-$WARM_LIMIT_S}
# write_path's latency part: commits a second, low enough that one never waits for another.
LATENCY_RATE=200

# The value the hit scenarios read: a ~100-byte user record.
USER_VALUE="jsonb_build_object('id', i, 'name', 'user ' || i, 'email', 'user' || i || '@example.com', 'active', true, 'roles', jsonb_build_array('reader', 'writer'))"

# A jsonb value of about $1 bytes that compresses poorly (md5 strings), keyed by i.
sized_value() {
  echo "(SELECT jsonb_agg(md5(i::text || '-' || g)) FROM generate_series(1, ceil($1 / 40.0)::int) AS g)"
}

floor_script() {
  script "$1" floor <<EOF
\set id random(1, $2)
SELECT :id;
EOF
}

l1_hit_rate() {
  sql -c "SELECT coalesce(round(hit_rate::numeric, 4)::text, 'n/a') FROM cache_stats WHERE layer = 'l1'"
}

# 'user:1'..'user:N' in L1 (no expiry), in an UNLOGGED table and in memcached.
populate_users() {
  sql <<EOF
DROP TABLE IF EXISTS bench_kv;
CREATE UNLOGGED TABLE bench_kv (k text PRIMARY KEY, v jsonb NOT NULL);
INSERT INTO bench_kv SELECT 'user:' || i, $USER_VALUE FROM generate_series(1, $NKEYS) AS i;
VACUUM ANALYZE bench_kv;
SELECT count(cache_set(k, v, NULL)) FROM bench_kv;
EOF
  [ -z "$PGMEMCACHE" ] || sql -c "SELECT count(memcache_set(k, v::text)) FROM bench_kv" >/dev/null
}

# 1. L1 hit vs the floor, a primary-key lookup and pgmemcache.
scenario_l1_hit() {
  local variants=(floor cachext table) c floor hit table mc
  profile "${MAIN[@]}"
  l2_switch off
  populate_users >/dev/null
  floor_script l1_hit "$NKEYS"
  script l1_hit cachext <<EOF
\set id random(1, $NKEYS)
SELECT cache_get('user:' || :id);
EOF
  script l1_hit table <<EOF
\set id random(1, $NKEYS)
SELECT v FROM bench_kv WHERE k = 'user:' || :id;
EOF
  script l1_hit pgmemcache <<EOF
\set id random(1, $NKEYS)
SELECT memcache_get('user:' || :id);
EOF
  [ -z "$PGMEMCACHE" ] || variants+=(pgmemcache)
  sql -c 'SELECT cache_stats_reset()' >/dev/null
  compare l1_hit "${variants[@]}"
  record l1_hit tx "${variants[@]}"
  say "l1_hit: L1 hit rate during the runs $(l1_hit_rate) ($NKEYS keys of ~100 B)"
  for c in $CLIENTS; do
    floor=$(median l1_hit floor "$c") hit=$(median l1_hit cachext "$c")
    table=$(median l1_hit table "$c") mc=$(median l1_hit pgmemcache "$c")
    say "l1_hit c=$c: cache_get $hit tps; floor $floor, table $table, pgmemcache ${mc:-n/a}:" \
      "$(ratio "$hit" "$floor")x floor, $(ratio "$hit" "$table")x table, $(ratio "$hit" "$mc")x pgmemcache"
    target "l1_hit c=$c cache_get/floor" "$(ratio "$hit" "$floor")" '>=' 0.90
    target "l1_hit c=$c cache_get/table" "$(ratio "$hit" "$table")" '>=' 1.10
    target "l1_hit c=$c cache_get/pgmemcache" "$(ratio "$hit" "$mc")" '>=' 2.00
  done
}

# 2. L2 hit: an L1 of 8 entries in front of 1000 keys, so reads go to Redis and
# promote; vs floor + one redis GET (the model 1/(1/floor + 1/GET)) and pgmemcache.
scenario_l2_hit() {
  local variants=(floor cachext redis) c floor hit redis mc model
  if [ -z "$HAS_L2" ]; then skip l2_hit "no L2 in this build"; return; fi
  profile l1_tiny "cachext.l1_max_entries = 8" "cachext.l1_partitions = 1"
  l2_switch on
  sql -c "SELECT count(cache_set('l2user:' || i, $USER_VALUE, NULL)) FROM generate_series(1, $NKEYS) AS i" >/dev/null
  [ -z "$PGMEMCACHE" ] ||
    sql -c "SELECT count(memcache_set('l2user:' || i, ($USER_VALUE)::text)) FROM generate_series(1, $NKEYS) AS i" >/dev/null
  # redis-benchmark's own keys (key:000000000000 ...), with values of the same size.
  redis-benchmark -h 127.0.0.1 -p "$RPORT" -t set -d 100 -r 1000 -n 20000 -q >/dev/null
  floor_script l2_hit "$NKEYS"
  script l2_hit cachext <<EOF
\set id random(1, $NKEYS)
SELECT cache_get('l2user:' || :id);
EOF
  script l2_hit pgmemcache <<EOF
\set id random(1, $NKEYS)
SELECT memcache_get('l2user:' || :id);
EOF
  [ -z "$PGMEMCACHE" ] || variants+=(pgmemcache)
  sql -c 'SELECT cache_stats_reset()' >/dev/null
  compare l2_hit "${variants[@]}"
  record l2_hit tx "${variants[@]}"
  say "l2_hit: reads by layer: $(sql -F' ' -c "SELECT string_agg(layer || ' hits=' || hits || ' misses=' || misses, ', ' ORDER BY layer) FROM cache_stats")"
  for c in $CLIENTS; do
    floor=$(median l2_hit floor "$c") hit=$(median l2_hit cachext "$c")
    redis=$(median l2_hit redis "$c") mc=$(median l2_hit pgmemcache "$c")
    model=$(awk -v f="${floor:-0}" -v r="${redis:-0}" 'BEGIN { if (f > 0 && r > 0) printf "%.1f\n", 1 / (1 / f + 1 / r) }')
    echo "l2_hit,floor+GET (model),$c,$model,tx,$ROUNDS" >>"$OUT/results.csv"
    say "l2_hit c=$c: cache_get via L2 $hit tps; floor $floor, redis GET $redis, floor+GET model $model, pgmemcache ${mc:-n/a}:" \
      "$(ratio "$hit" "$model")x (floor+GET), $(ratio "$hit" "$mc")x pgmemcache"
    target "l2_hit c=$c cache_get/(floor+GET)" "$(ratio "$hit" "$model")" '>=' 0.80
    target "l2_hit c=$c cache_get/pgmemcache" "$(ratio "$hit" "$mc")" '>' 1.00
  done
}

# L2 hits with cachext pointed at `l2_switch STATE` vs at the plain Redis over TCP: the
# same reads of the same values (an L1 of 8 entries in front of them), variants
# interleaved.  l2_versus_plain SCENARIO STATE HOW RATIO_NAME MINIMUM
l2_versus_plain() {
  local scenario=$1 state=$2 how=$3 ratio_name=$4 minimum=$5 s variant c plain other
  local variants=(plain "$state")
  profile l1_tiny "cachext.l1_max_entries = 8" "cachext.l1_partitions = 1"
  for s in on "$state"; do
    l2_switch "$s"
    sql -c "SELECT count(cache_set('l2user:' || i, $USER_VALUE, NULL)) FROM generate_series(1, $NKEYS) AS i" >/dev/null
  done
  for variant in "${variants[@]}"; do
    script "$scenario" "$variant" <<EOF
\set id random(1, $NKEYS)
SELECT cache_get('l2user:' || :id);
EOF
  done
  VARIANT_L2[$scenario-plain]=on
  VARIANT_L2[$scenario-$state]=$state
  sql -c 'SELECT cache_stats_reset()' >/dev/null
  compare "$scenario" "${variants[@]}"
  record "$scenario" tx "${variants[@]}"
  for c in $CLIENTS; do
    plain=$(median "$scenario" plain "$c") other=$(median "$scenario" "$state" "$c")
    say "$scenario c=$c: cache_get via L2 $how $other tps, over TCP $plain tps: $(ratio "$other" "$plain")x"
    target "$scenario c=$c $ratio_name" "$(ratio "$other" "$plain")" '>=' "$minimum"
  done
}

# 2b. L2 hits over TLS (rediss://) vs over plain TCP, from two Redis servers of the same build.
scenario_l2_tls() {
  if [ -z "$HAS_L2" ] || [ -z "$TLS_RPORT" ] ||
    [ -z "$(sql -c "SELECT 1 FROM pg_settings WHERE name = 'cachext.redis_tls_ca_file'")" ]; then
    skip l2_tls "no L2, no TLS Redis, or no TLS in this build"
    return
  fi
  l2_versus_plain l2_tls tls "over TLS" TLS/TCP 0.70
}

# 2c. L2 hits through Redis Cluster routing (redis-cluster://, three masters) vs plain TCP
# to one server.
scenario_l2_cluster() {
  if [ -z "$HAS_L2" ] || [ -z "$CLUSTER_SEEDS" ]; then
    skip l2_cluster "no L2 or no Redis Cluster"
    return
  fi
  l2_versus_plain l2_cluster cluster "through Cluster routing" Cluster/TCP 0.80
}

# 3. Writes with a TTL, L1 only and L1+L2, vs an upsert into an UNLOGGED table.
scenario_writes() {
  local variants=(l1_set table_upsert) c l1 l1l2 table
  profile "${MAIN[@]}"
  sql <<EOF
DROP TABLE IF EXISTS bench_kv_write;
CREATE UNLOGGED TABLE bench_kv_write (k text PRIMARY KEY, v jsonb NOT NULL);
EOF
  local value="'{\"id\": 1, \"name\": \"user 1\", \"email\": \"user1@example.com\", \"active\": true, \"roles\": [\"reader\", \"writer\"]}'"
  script writes l1_set <<EOF
\set id random(1, $NWRITE)
SELECT cache_set('w:' || :id, $value::jsonb, interval '1 hour');
EOF
  cp "$TMP/sql/writes-l1_set.sql" "$TMP/sql/writes-l1l2_set.sql"
  script writes table_upsert <<EOF
\set id random(1, $NWRITE)
INSERT INTO bench_kv_write (k, v) VALUES ('w:' || :id, $value::jsonb) ON CONFLICT (k) DO UPDATE SET v = EXCLUDED.v;
EOF
  VARIANT_L2[writes-l1_set]=off
  if [ -n "$HAS_L2" ]; then
    VARIANT_L2[writes-l1l2_set]=on
    variants+=(l1l2_set)
  else
    say "writes: L1+L2 skipped (no L2 in this build)"
  fi
  compare writes "${variants[@]}"
  l2_switch off
  record writes tx "${variants[@]}"
  for c in $CLIENTS; do
    l1=$(median writes l1_set "$c") l1l2=$(median writes l1l2_set "$c") table=$(median writes table_upsert "$c")
    if [ -n "$l1l2" ]; then
      say "writes c=$c: cache_set L1 $l1 tps, L1+L2 $l1l2, table upsert $table:" \
        "L1 $(ratio "$l1" "$table")x table, L1+L2 $(ratio "$l1l2" "$table")x table"
    else
      say "writes c=$c: cache_set L1 $l1 tps, table upsert $table: L1 $(ratio "$l1" "$table")x table"
    fi
  done
}

# 4. cache_get_or_set over a hot working set, 90% reads and 10% UPDATEs of the
# source rows, which a watched table turns into invalidations; vs the same mix
# reading the table directly (unwatched copy).
scenario_get_or_set() {
  local c cached plain
  profile "${MAIN[@]}"
  l2_switch off
  sql <<EOF >/dev/null
DROP TABLE IF EXISTS bench_src, bench_src_plain;
CREATE UNLOGGED TABLE bench_src (id int PRIMARY KEY, n int NOT NULL DEFAULT 0, v jsonb NOT NULL);
INSERT INTO bench_src (id, v) SELECT i, $USER_VALUE FROM generate_series(1, $NKEYS) AS i;
CREATE UNLOGGED TABLE bench_src_plain AS SELECT * FROM bench_src;
ALTER TABLE bench_src_plain ADD PRIMARY KEY (id);
VACUUM ANALYZE bench_src, bench_src_plain;
SELECT cache_watch_table('bench_src', 'SRC', ARRAY['gos:{id}']);
SELECT cache_invalidate_pattern('gos:*');
EOF
  script get_or_set cached <<EOF
\set id random(1, $NKEYS)
\set r random(1, 100)
\if :r <= 90
SELECT cache_get_or_set('gos:' || :id, 'SELECT v FROM bench_src WHERE id = \$1::int', interval '1 hour', :id::text);
\else
UPDATE bench_src SET n = n + 1 WHERE id = :id;
\endif
EOF
  script get_or_set plain <<EOF
\set id random(1, $NKEYS)
\set r random(1, 100)
\if :r <= 90
SELECT v FROM bench_src_plain WHERE id = :id;
\else
UPDATE bench_src_plain SET n = n + 1 WHERE id = :id;
\endif
EOF
  sql -c 'SELECT cache_stats_reset()' >/dev/null
  compare get_or_set cached plain
  record get_or_set tx cached plain
  say "get_or_set: $(sql -F' ' -c "SELECT 'hit rate ' || coalesce(round(hit_rate::numeric, 4)::text, 'n/a') || ', loads ' || loads || ', invalidations ' || invalidations FROM cache_stats WHERE layer = 'l1'") (90/10 read/update over $NKEYS keys)"
  for c in $CLIENTS; do
    cached=$(median get_or_set cached "$c") plain=$(median get_or_set plain "$c")
    say "get_or_set c=$c: cached mix $cached tps, plain table mix $plain: $(ratio "$cached" "$plain")x"
  done
}

# 5. The cost of invalidation: the same UPDATE on a watched and an unwatched table;
# watched_async is the watched UPDATE with cachext.events = async.
scenario_invalidation() {
  local c watched unwatched async
  profile "${MAIN[@]}"
  l2_switch off
  sql <<EOF >/dev/null
DROP TABLE IF EXISTS bench_watched, bench_unwatched;
CREATE UNLOGGED TABLE bench_watched (id int PRIMARY KEY, n int NOT NULL DEFAULT 0, note text);
INSERT INTO bench_watched (id, note) SELECT i, 'row ' || i FROM generate_series(1, $NWRITE) AS i;
CREATE UNLOGGED TABLE bench_unwatched AS SELECT * FROM bench_watched;
ALTER TABLE bench_unwatched ADD PRIMARY KEY (id);
VACUUM ANALYZE bench_watched, bench_unwatched;
SELECT cache_watch_table('bench_watched', 'ITEM', ARRAY['item:{id}']);
SELECT count(cache_set('item:' || i, '{"cached": true}', NULL)) FROM generate_series(1, $NWRITE) AS i;
EOF
  local table
  for table in watched unwatched; do
    script invalidation "$table" <<EOF
\set id random(1, $NWRITE)
UPDATE bench_$table SET n = n + 1 WHERE id = :id;
EOF
  done
  cp "$TMP/sql/invalidation-watched.sql" "$TMP/sql/invalidation-watched_async.sql"
  VARIANT_PGOPTIONS[invalidation-watched_async]="-c cachext.events=async"
  compare invalidation watched watched_async unwatched
  record invalidation tx watched watched_async unwatched
  for c in $CLIENTS; do
    watched=$(median invalidation watched "$c") unwatched=$(median invalidation unwatched "$c")
    async=$(median invalidation watched_async "$c")
    say "invalidation c=$c: UPDATE watched $watched tps (events async: $async), unwatched $unwatched: watched takes $(ratio "$unwatched" "$watched")x the time (async: $(ratio "$unwatched" "$async")x)"
    target "invalidation c=$c watched/unwatched time" "$(ratio "$unwatched" "$watched")" '<=' 1.15
    target "invalidation c=$c watched (events async)/unwatched time" "$(ratio "$unwatched" "$async")" '<=' 1.15
  done
}

# 6. cache_get_multi of 10 and 100 keys vs as many single cache_get statements
# (one pgbench transaction each); compared per key read.
scenario_multi_get() {
  local n c multi single i
  profile "${MAIN[@]}"
  l2_switch off
  populate_users >/dev/null
  for n in 10 100; do
    script multi_get "multi$n" <<EOF
\set base random(1, $((NKEYS - n + 1)))
SELECT count(*) FROM cache_get_multi(ARRAY(SELECT 'user:' || g FROM generate_series(:base, :base + $((n - 1))) AS g));
EOF
    for i in $(seq "$n"); do
      printf '\\set k%d random(1, %d)\nSELECT cache_get('"'user:'"' || :k%d);\n' "$i" "$NKEYS" "$i"
    done | script multi_get "single$n"
  done
  sql -c 'SELECT cache_stats_reset()' >/dev/null
  compare multi_get multi10 single10 multi100 single100
  record multi_get "tx of 10 or 100 keys" multi10 single10 multi100 single100
  say "multi_get: L1 hit rate during the runs $(l1_hit_rate)"
  for c in $CLIENTS; do
    for n in 10 100; do
      multi=$(median multi_get "multi$n" "$c") single=$(median multi_get "single$n" "$c")
      say "multi_get c=$c n=$n: cache_get_multi $(awk -v t="${multi:-0}" -v n=$n 'BEGIN { printf "%.0f", t * n }') keys/s," \
        "$n single gets $(awk -v t="${single:-0}" -v n=$n 'BEGIN { printf "%.0f", t * n }') keys/s: $(ratio "$multi" "$single")x per key"
    done
  done
}

# 7. L1 hit at 100 B, 10 kB and 500 kB values vs a primary-key read of the same
# jsonb from a table, where the larger ones are TOASTed (and compressed).
scenario_value_size() {
  local size count c hit table variants=()
  profile "${MAIN[@]}"
  l2_switch off
  sql -c "DROP TABLE IF EXISTS bench_sized; CREATE UNLOGGED TABLE bench_sized (k text PRIMARY KEY, v jsonb NOT NULL)" >/dev/null
  for size in 100 10k 500k; do
    case $size in 100) bytes=100 count=$NKEYS ;; 10k) bytes=10000 count=$NKEYS ;; 500k) bytes=500000 count=$NBIG ;; esac
    sql <<EOF >/dev/null
INSERT INTO bench_sized SELECT 'sz$size:' || i, $(sized_value $bytes) FROM generate_series(1, $count) AS i;
SELECT count(cache_set(k, v, NULL)) FROM bench_sized WHERE k LIKE 'sz$size:%';
EOF
    script value_size "cachext_$size" <<EOF
\set id random(1, $count)
SELECT cache_get('sz$size:' || :id);
EOF
    script value_size "table_$size" <<EOF
\set id random(1, $count)
SELECT v FROM bench_sized WHERE k = 'sz$size:' || :id;
EOF
    variants+=("cachext_$size" "table_$size")
  done
  sql -c 'VACUUM ANALYZE bench_sized' -c 'SELECT cache_stats_reset()' >/dev/null
  say "value_size: stored sizes $(sql -c "SELECT string_agg(s || ' ' || pg_size_pretty(b), ', ') FROM (SELECT split_part(k, ':', 1) AS s, avg(pg_column_size(v))::bigint AS b FROM bench_sized GROUP BY 1 ORDER BY 2) AS x") (as stored in the table)"
  compare value_size "${variants[@]}"
  record value_size tx "${variants[@]}"
  say "value_size: L1 hit rate during the runs $(l1_hit_rate)"
  for c in $CLIENTS; do
    local line="value_size c=$c:"
    for size in 100 10k 500k; do
      hit=$(median value_size "cachext_$size" "$c") table=$(median value_size "table_$size" "$c")
      line+=" $size: L1 $hit tps, table $table ($(ratio "$hit" "$table")x);"
    done
    say "$line"
  done
}

# 8. Hit cost as L1 holds 1k, 100k and 1M entries (a restart per size, with
# l1_max_entries and l1_memory raised); each size against its own floor, so the
# ratio hit/floor is what must stay flat.  Reads spread over all the keys
# (cachext) grow the working set with the store; reads of 1000 keys spread
# across the whole store (cachext_hot1k) keep the working set fixed, which
# tells the cost of the store's size from the cost of CPU cache misses.
scenario_scaling() {
  local size c first last hot_first hot_last hit hot floor r ratios
  for size in $SCALE_SIZES; do
    profile "scale$size" "cachext.l1_max_entries = $((size * 5 / 4 + 64))" \
      "cachext.l1_memory = '$(( size * 640 / 1024 > 65536 ? size * 640 / 1024 : 65536 ))kB'"
    l2_switch off
    sql -c "SELECT count(cache_set('s:' || i, $USER_VALUE, NULL)) FROM generate_series(1, $size) AS i" >/dev/null
    floor_script "scaling$size" "$size"
    script "scaling$size" cachext <<EOF
\set id random(1, $size)
SELECT cache_get('s:' || :id);
EOF
    script "scaling$size" cachext_hot1k <<EOF
\set id random(1, $(( size < 1000 ? size : 1000 )))
SELECT cache_get('s:' || (:id * $(( size < 1000 ? 1 : size / 1000 ))));
EOF
    sql -c 'SELECT cache_stats_reset()' >/dev/null
    compare "scaling$size" floor cachext cachext_hot1k
    say "scaling: $size keys: $(sql -c "SELECT entries || ' entries held, hit rate ' || coalesce(round(hit_rate::numeric, 4)::text, 'n/a') FROM cache_stats WHERE layer = 'l1'")"
    # One scenario in the CSV: the size goes into the variant.
    for c in $CLIENTS; do
      for v in floor cachext cachext_hot1k; do
        echo "scaling,${v}_$size,$c,$(median "scaling$size" "$v" "$c"),tx,$ROUNDS" >>"$OUT/results.csv"
      done
    done
  done
  for c in $CLIENTS; do
    ratios= first= last= hot_first= hot_last=
    for size in $SCALE_SIZES; do
      hit=$(median "scaling$size" cachext "$c") floor=$(median "scaling$size" floor "$c")
      hot=$(median "scaling$size" cachext_hot1k "$c")
      r=$(ratio "$hit" "$floor")
      ratios+=" $size: $hit tps ($r x floor), 1k hot keys $hot tps ($(ratio "$hot" "$floor") x floor);"
      first=${first:-$r} last=$r
      hot_first=${hot_first:-$(ratio "$hot" "$floor")} hot_last=$(ratio "$hot" "$floor")
    done
    say "scaling c=$c:$ratios"
    target "scaling c=$c hit/floor at largest vs smallest" "$(ratio "$last" "$first")" '>=' 0.90
    target "scaling c=$c 1k-hot-key hit/floor at largest vs smallest" "$(ratio "$hot_last" "$hot_first")" '>=' 0.90
  done
}

# cache_rows PREFIX: the keys PREFIX1 .. PREFIX<NBULK> cached with no expiry (in L1, and
# in Redis when it is configured), 500 to a cache_set_multi: one Redis round trip each,
# a few seconds for 100 000 keys where as many cache_set calls take several times that.
cache_rows() {
  sql -c "SELECT count(cache_set_multi(k, v, NULL)) FROM (SELECT array_agg('$1' || i) AS k, array_agg('{\"cached\": true}'::jsonb) AS v FROM generate_series(1, $NBULK) AS i GROUP BY i / 500) AS chunks" >/dev/null
}

# 9. A bulk UPDATE of every row of a watched table (NBULK rows, Redis configured) vs
# the same UPDATE of an unwatched copy, timed by the client, one statement per
# round, variants interleaved; recorded as 1/seconds in the "tps" column.  In two
# configurations: default_ (logged tables, synchronous_commit on, as a new user has
# them) and bench_ (UNLOGGED tables, synchronous_commit off, as bench/run's server);
# watched_warm with every row's key cached first (in L1 and Redis), watched_cold
# with none (cache_clear() first), watched_warm_events_off the warm one with
# cachext.events = off.  Then a one-row UPDATE's latency, watched vs unwatched
# (the logged tables, synchronous_commit off), with Redis configured, at each
# client count.
scenario_bulk_update() {
  local c round config what table options t0 t1 unwatched watched line
  local variants=(unwatched watched_warm watched_cold watched_warm_events_off)
  if [ -z "$HAS_L2" ]; then skip bulk_update "no L2"; return; fi
  profile "${MAIN[@]}"
  l2_switch on
  sql <<EOF >/dev/null
DROP TABLE IF EXISTS bench_bulk_watched, bench_bulk_unwatched, bench_bulk_watched_unlogged, bench_bulk_unwatched_unlogged;
CREATE TABLE bench_bulk_watched (id int PRIMARY KEY, n int NOT NULL DEFAULT 0, note text);
INSERT INTO bench_bulk_watched (id, note) SELECT i, 'row ' || i FROM generate_series(1, $NBULK) AS i;
CREATE TABLE bench_bulk_unwatched (LIKE bench_bulk_watched INCLUDING ALL);
CREATE UNLOGGED TABLE bench_bulk_watched_unlogged (LIKE bench_bulk_watched INCLUDING ALL);
CREATE UNLOGGED TABLE bench_bulk_unwatched_unlogged (LIKE bench_bulk_watched INCLUDING ALL);
INSERT INTO bench_bulk_unwatched SELECT * FROM bench_bulk_watched;
INSERT INTO bench_bulk_watched_unlogged SELECT * FROM bench_bulk_watched;
INSERT INTO bench_bulk_unwatched_unlogged SELECT * FROM bench_bulk_watched;
VACUUM ANALYZE bench_bulk_watched, bench_bulk_unwatched, bench_bulk_watched_unlogged, bench_bulk_unwatched_unlogged;
SELECT cache_watch_table('bench_bulk_watched', 'BULK', ARRAY['bulk:{id}']);
SELECT cache_watch_table('bench_bulk_watched_unlogged', 'BULK', ARRAY['bulk:{id}']);
EOF
  for round in $(seq "$ROUNDS"); do
    for config in default bench; do
      for what in "${variants[@]}"; do
        table=bench_bulk_${what%%_*} options=
        if [ "$config" = bench ]; then table+=_unlogged; else options='-c synchronous_commit=on'; fi
        [ "$what" != watched_warm_events_off ] || options+=' -c cachext.events=off'
        if [ "$what" = watched_cold ]; then
          sql -c 'SELECT cache_clear()' >/dev/null
        else
          cache_rows bulk:
        fi
        sql -c "VACUUM $table" >/dev/null
        t0=$(date +%s.%N)
        PGOPTIONS="$options" sql -c "UPDATE $table SET n = n + 1" >/dev/null
        t1=$(date +%s.%N)
        echo "bulk_update,${config}_$what,1,$round,$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.4f", 1 / (b - a) }')" >>"$OUT/raw.csv"
      done
    done
  done
  for config in default bench; do
    CLIENTS=1 record bulk_update statements/s "${variants[@]/#/${config}_}"
    unwatched=$(median bulk_update "${config}_unwatched" 1)
    if [ "$config" = default ]; then line="logged, synchronous_commit on"; else line="UNLOGGED, synchronous_commit off"; fi
    line="bulk_update $config ($line): UPDATE of $NBULK rows unwatched $(ratio 1 "$unwatched") s;"
    for what in "${variants[@]:1}"; do
      watched=$(median bulk_update "${config}_$what" 1)
      line+=" $what $(ratio 1 "$watched") s (takes $(ratio "$unwatched" "$watched")x the time);"
    done
    say "$line"
    for what in watched_warm watched_cold; do
      watched=$(median bulk_update "${config}_$what" 1)
      target "bulk_update $config $what/unwatched time" "$(ratio "$unwatched" "$watched")" '<=' 1.5
    done
  done

  for table in watched unwatched; do
    script bulk_row "$table" <<EOF
\set id random(1, $NBULK)
UPDATE bench_bulk_$table SET n = n + 1 WHERE id = :id;
EOF
  done
  compare bulk_row watched unwatched
  record bulk_row tx watched unwatched
  for c in $CLIENTS; do
    watched=$(median bulk_row watched "$c") unwatched=$(median bulk_row unwatched "$c")
    say "bulk_row c=$c: one-row UPDATE latency watched $(latency_ms "$c" "$watched") ms, unwatched $(latency_ms "$c" "$unwatched") ms: watched takes $(ratio "$unwatched" "$watched")x the time"
  done
}

# bench/write_path.c, built once per run into the temp dir; fails (the compiler's
# words in $TMP/write_path-build.log) when gcc, libpq-dev or libhiredis-dev is missing.
write_path_client() {
  [ ! -x "$TMP/write_path" ] || return 0
  gcc -O2 -Wall -I"$(pg_config --includedir)" -o "$TMP/write_path" "$HERE/write_path.c" \
    -lpq -lhiredis -pthread 2>"$TMP/write_path-build.log"
}

# write_path_run VARIANT CLIENTS: every key of the variant's table cached (in L1, and in
# Redis when it is configured), then bench/write_path.c's one-row UPDATEs of that table
# (hand_written: each followed by the client's own UNLINK of the key); prints the tps.
write_path_run() {
  local variant=$1 clients=$2 table=bench_wp_plain hand=() tps
  case $variant in
    watched*) table=bench_wp_watched ;;
    hand_written) hand=(-u "127.0.0.1:$RPORT" -k "$(sql -c 'SHOW cachext.namespace')bench_wp_plain:") ;;
  esac
  cache_rows "$table:"
  if ! tps=$("$TMP/write_path" -n "$NBULK" -c "$clients" "${LENGTH[@]}" "${hand[@]}" "$table" 2>>"$TMP/write_path.log"); then
    echo "bench: write_path failed on $variant (see below)" >&2
    tail -n 5 "$TMP/write_path.log" >&2
    echo 0
    return
  fi
  echo "$tps"
}

# The commit-to-listener latency of the watched table's events, cachext.events async
# vs on: bench/write_path.c -l, NLATENCY one-row commits at LATENCY_RATE a second
# while its second connection LISTENs, rounds interleaved; p50 and p99 in
# microseconds (as "tps" in raw.csv), medians of the rounds.
write_path_latency() {
  local round events out p50 p99 received commits redis=no
  if [ -n "$HAS_L2" ]; then l2_switch on; redis=yes; else l2_switch off; fi
  for round in $(seq "$ROUNDS"); do
    for events in async on; do
      if ! out=$(PGOPTIONS="-c synchronous_commit=on -c cachext.events=$events" "$TMP/write_path" \
        -n "$NBULK" -l "$NLATENCY" -r "$LATENCY_RATE" -k bench_wp_watched: bench_wp_watched 2>>"$TMP/write_path.log"); then
        echo "bench: write_path -l failed with cachext.events = $events (see below)" >&2
        tail -n 5 "$TMP/write_path.log" >&2
        continue
      fi
      read -r p50 p99 received commits <<<"$out"
      echo "write_path_latency,${events}_p50,1,$round,$p50" >>"$OUT/raw.csv"
      echo "write_path_latency,${events}_p99,1,$round,$p99" >>"$OUT/raw.csv"
      [ "$received" = "$commits" ] ||
        say "write_path_latency: events $events, round $round: only $received of $commits commits' events arrived"
    done
  done
  CLIENTS=1 record write_path_latency us async_p50 async_p99 on_p50 on_p99
  say "write_path_latency: commit returned to event received, $NLATENCY one-row commits at $LATENCY_RATE/s, Redis configured: $redis:" \
    "events async p50 $(median write_path_latency async_p50 1) us, p99 $(median write_path_latency async_p99 1) us;" \
    "events on p50 $(median write_path_latency on_p50 1) us, p99 $(median write_path_latency on_p99 1) us"
}

# 10. The write path of a watched table at default settings (logged tables,
# synchronous_commit on, cachext.events at its default): one-row autocommit UPDATEs
# by bench/write_path.c, the same client for every variant: of an unwatched table
# (unwatched), of the unwatched table followed by the client's own UNLINK of the
# row's key in Redis (hand_written, what applications write without cachext), and
# of a watched table (watched; watched_events_on and _off with cachext.events set).
# NBULK rows, every key cached before each run; with Redis configured (write_path)
# and without (write_path_l1, where hand_written has nothing to unlink).  Then the
# commit-to-listener latency of the events (write_path_latency).
scenario_write_path() {
  local variants=(unwatched hand_written watched watched_events_on watched_events_off)
  local scenario v events key sync="-c synchronous_commit=on" c unwatched hand watched on off
  if ! write_path_client; then
    skip write_path "cannot build bench/write_path.c: $(head -n 1 "$TMP/write_path-build.log")"
    return
  fi
  profile "${MAIN[@]}"
  sql <<EOF >/dev/null
DROP TABLE IF EXISTS bench_wp_plain, bench_wp_watched;
CREATE TABLE bench_wp_plain (id int PRIMARY KEY, v int NOT NULL DEFAULT 0, note text);
CREATE TABLE bench_wp_watched (LIKE bench_wp_plain INCLUDING ALL);
INSERT INTO bench_wp_plain (id, note) SELECT i, 'row ' || i FROM generate_series(1, $NBULK) AS i;
INSERT INTO bench_wp_watched SELECT * FROM bench_wp_plain;
VACUUM ANALYZE bench_wp_plain, bench_wp_watched;
SELECT cache_watch_table('bench_wp_watched', 'T', ARRAY['bench_wp_watched:{id}']);
EOF
  events=$(sql -c 'SHOW cachext.events')
  for scenario in write_path write_path_l1; do
    for v in "${variants[@]}"; do
      VARIANT_RUN[$scenario-$v]=write_path_run
      VARIANT_PGOPTIONS[$scenario-$v]=$sync
      VARIANT_L2[$scenario-$v]=$([ "$scenario" = write_path ] && echo on || echo off)
    done
    VARIANT_PGOPTIONS[$scenario-watched_events_on]="$sync -c cachext.events=on"
    VARIANT_PGOPTIONS[$scenario-watched_events_off]="$sync -c cachext.events=off"
  done

  if [ -n "$HAS_L2" ]; then
    # hand_written must unlink the keys cache_set stored, or it measures nothing.
    l2_switch on
    key="$(sql -c 'SHOW cachext.namespace')bench_wp_plain:1"
    cache_rows bench_wp_plain:
    if [ "$(redis-cli -p "$RPORT" exists "$key" 2>&1)" != 1 ]; then
      say "write_path: warning: no $key in Redis after caching bench_wp_plain:1: hand_written may unlink missing keys"
    fi
    compare write_path "${variants[@]}"
    record write_path tx "${variants[@]}"
    for c in $CLIENTS; do
      unwatched=$(median write_path unwatched "$c") hand=$(median write_path hand_written "$c")
      watched=$(median write_path watched "$c")
      on=$(median write_path watched_events_on "$c") off=$(median write_path watched_events_off "$c")
      say "write_path c=$c, Redis: UPDATE unwatched $unwatched tps, hand-written $hand, watched $watched (events $events), events on $on, off $off:" \
        "watched/unwatched $(ratio "$watched" "$unwatched"), watched/hand-written $(ratio "$watched" "$hand")" \
        "(events on: $(ratio "$on" "$unwatched") / $(ratio "$on" "$hand"), off: $(ratio "$off" "$unwatched") / $(ratio "$off" "$hand"))"
      target "write_path c=$c Redis watched/hand-written" "$(ratio "$watched" "$hand")" '>=' 1.00
      [ "$c" != 8 ] || target "write_path c=$c Redis watched/unwatched" "$(ratio "$watched" "$unwatched")" '>=' 0.75
    done
  else
    say "write_path: with Redis skipped (no L2 in this build or no redis-server)"
  fi

  variants=(unwatched watched watched_events_on watched_events_off)
  compare write_path_l1 "${variants[@]}"
  record write_path_l1 tx "${variants[@]}"
  for c in $CLIENTS; do
    unwatched=$(median write_path_l1 unwatched "$c") watched=$(median write_path_l1 watched "$c")
    on=$(median write_path_l1 watched_events_on "$c") off=$(median write_path_l1 watched_events_off "$c")
    say "write_path_l1 c=$c, L1 only: UPDATE unwatched $unwatched tps, watched $watched (events $events), events on $on, off $off:" \
      "watched/unwatched $(ratio "$watched" "$unwatched") (events on: $(ratio "$on" "$unwatched"), off: $(ratio "$off" "$unwatched"))"
    target "write_path_l1 c=$c L1-only watched/unwatched" "$(ratio "$watched" "$unwatched")" '>=' 0.95
  done

  write_path_latency
}

# L1's hits and misses so far, as "hits misses".
l1_counts() {
  sql -c "SELECT hits || ' ' || misses FROM cache_stats WHERE layer = 'l1'"
}

# hit_ratio "H0 M0" "H1 M1": L1's hit ratio between two l1_counts, empty without reads.
hit_ratio() {
  awk -v a="$1" -v b="$2" 'BEGIN {
    split(a, x, " "); split(b, y, " "); h = y[1] - x[1]; m = y[2] - x[2]
    if (h + m > 0) printf "%.4f\n", h / (h + m) }'
}

# warm_restart_round VARIANT CLIENTS: one measurement: the read workload for
# WARM_BEFORE_S seconds, its L1 hit ratio, a restart (pg_ctl restart -m fast), the
# workload again, and the hit ratio second by second until it is back to 90 % of the
# one before; prints the seconds from the restart's start to that second
# (WARM_LIMIT_S if it never was).
warm_restart_round() {
  local variant=$1 clients=$2 pid before start counts now ratio secs=
  if [ "$variant" = warm ]; then
    sql -c 'ALTER SYSTEM RESET cachext.l1_dump_interval' -c 'SELECT pg_reload_conf()' >/dev/null
  else
    sql -c 'ALTER SYSTEM SET cachext.l1_dump_interval = 0' -c 'SELECT pg_reload_conf()' >/dev/null
  fi
  # every key in L1 and in Redis
  sql -c "SELECT count(cache_get_or_set('w:' || i, 'SELECT payload FROM bench_warm WHERE id = \$1::int', interval '1 hour', i::text)) FROM generate_series(1, $NWARM) AS i" >/dev/null
  pgbench -n -M prepared -c "$clients" -j "$clients" -T "$WARM_BEFORE_S" \
    -f "$TMP/sql/warm_restart-read.sql" >/dev/null 2>>"$TMP/pgbench.log" &
  pid=$!
  sleep 1
  counts=$(l1_counts)
  sleep $((WARM_BEFORE_S - 2))
  before=$(hit_ratio "$counts" "$(l1_counts)")
  wait "$pid" || true

  start=$(date +%s.%N)
  pg_ctl -D "$TMP/data" -l "$TMP/postgres.log" -m fast -w restart >/dev/null
  pgbench -n -M prepared -c "$clients" -j "$clients" -T "$WARM_LIMIT_S" \
    -f "$TMP/sql/warm_restart-read.sql" >/dev/null 2>>"$TMP/pgbench.log" &
  pid=$!
  counts=$(l1_counts)
  while :; do
    sleep 1
    now=$(l1_counts)
    ratio=$(hit_ratio "$counts" "$now")
    counts=$now
    secs=$(awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN { printf "%.1f\n", e - s }')
    if [ -n "$ratio" ] && [ -n "$before" ] &&
      awk -v r="$ratio" -v b="$before" 'BEGIN { exit !(r >= 0.9 * b) }'; then
      break
    fi
    if awk -v s="$secs" -v l="$WARM_LIMIT_S" 'BEGIN { exit !(s >= l) }'; then
      secs=$WARM_LIMIT_S
      break
    fi
  done
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  echo "warm_restart: $variant c=$clients: hit ratio $before before, back to 90 % of it after $secs s" >>"$TMP/warm_restart.log"
  echo "$secs"
}

# 10. Warm restarts: a steady read workload (cache_get_or_set over NWARM keys that fit
# L1, values from a query, Redis configured) across a restart; the seconds until L1's
# hit ratio (from cache_stats' deltas, second by second) is back to 90 % of its value
# before the restart, with cachext.l1_dump_interval at its default (warm: the keys are
# reloaded from Redis) and = 0 (cold: L1 refills at the workload's own pace, from
# Redis).  Variants interleaved per round; medians.  Recorded in seconds in the "tps"
# column (lower is better).
scenario_warm_restart() {
  local c round variant warm cold
  if [ -z "$HAS_L2" ]; then skip warm_restart "no L2"; return; fi
  profile "${MAIN[@]}"
  l2_switch on
  sql <<EOF >/dev/null
DROP TABLE IF EXISTS bench_warm;
CREATE TABLE bench_warm (id int PRIMARY KEY, payload jsonb NOT NULL);
INSERT INTO bench_warm SELECT i, $USER_VALUE FROM generate_series(1, $NWARM) AS i;
VACUUM ANALYZE bench_warm;
EOF
  script warm_restart read <<EOF
\set id random(1, $NWARM)
SELECT cache_get_or_set('w:' || :id, 'SELECT payload FROM bench_warm WHERE id = \$1::int', interval '1 hour', (:id)::text);
EOF
  : >"$TMP/warm_restart.log"
  for c in $CLIENTS; do
    for round in $(seq "$ROUNDS"); do
      for variant in warm cold; do
        echo "warm_restart,$variant,$c,$round,$(warm_restart_round "$variant" "$c")" >>"$OUT/raw.csv"
      done
    done
  done
  sql -c 'ALTER SYSTEM RESET cachext.l1_dump_interval' -c 'SELECT pg_reload_conf()' >/dev/null
  cat "$TMP/warm_restart.log" >>"$OUT/summary.txt"
  record warm_restart seconds warm cold
  for c in $CLIENTS; do
    warm=$(median warm_restart warm "$c") cold=$(median warm_restart cold "$c")
    say "warm_restart c=$c, $NWARM keys: L1's hit ratio back to 90 % of its value before the restart after $warm s warm, $cold s cold (limit $WARM_LIMIT_S s)"
    target "warm_restart c=$c warm: seconds to 90 % of the hit ratio" "$warm" '<=' 60
  done
}
