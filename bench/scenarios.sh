# bench/scenarios.sh: the scenarios of bench/run, one function each (sourced, not run).
#
# Each scenario_NAME prepares its data (so any subset runs alone, in any order),
# writes its pgbench scripts, runs compare() over its variants, records the medians
# in results.csv and prints one line of ratios per client count, then PASS/MISS for
# its targets.  The "floor" variant, SELECT :id, is the cost of a prepared statement
# round trip doing nothing: no cache read can be cheaper than that.
# Uses from bench/run: sql, profile, MAIN, l2_switch, HAS_L2, PGMEMCACHE, RPORT, SMOKE.

if [ -n "$SMOKE" ]; then
  NKEYS=100 NWRITE=1000 NBIG=5 SCALE_SIZES="100 1000 10000" NBULK=1000
else
  NKEYS=1000 NWRITE=10000 NBIG=50 SCALE_SIZES="1000 100000 1000000" NBULK=100000
fi

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

# 9. A bulk UPDATE of every row of a watched table (NBULK rows, each row's key
# cached, Redis configured) vs the same UPDATE of an unwatched copy, timed by the
# client, one statement per round, variants interleaved; recorded as 1/seconds in
# the "tps" column.  Then a one-row UPDATE's latency, watched vs unwatched, with
# Redis configured, at each client count.
scenario_bulk_update() {
  local c round table t0 t1 watched unwatched
  if [ -z "$HAS_L2" ]; then skip bulk_update "no L2"; return; fi
  profile "${MAIN[@]}"
  l2_switch on
  sql <<EOF >/dev/null
DROP TABLE IF EXISTS bench_bulk_watched, bench_bulk_unwatched;
CREATE TABLE bench_bulk_watched (id int PRIMARY KEY, n int NOT NULL DEFAULT 0, note text);
INSERT INTO bench_bulk_watched (id, note) SELECT i, 'row ' || i FROM generate_series(1, $NBULK) AS i;
CREATE TABLE bench_bulk_unwatched AS SELECT * FROM bench_bulk_watched;
ALTER TABLE bench_bulk_unwatched ADD PRIMARY KEY (id);
VACUUM ANALYZE bench_bulk_watched, bench_bulk_unwatched;
SELECT cache_watch_table('bench_bulk_watched', 'BULK', ARRAY['bulk:{id}']);
EOF
  # watched_events_off: the watched UPDATE with cachext.events = off (no
  # NOTIFY per key)
  local events_off variant
  for round in $(seq "$ROUNDS"); do
    for variant in watched watched_events_off unwatched; do
      table=${variant%_events_off} events_off=
      [ "$variant" = watched_events_off ] && events_off='-c cachext.events=off'
      sql -c "SELECT count(cache_set('bulk:' || i, '{\"cached\": true}', NULL)) FROM generate_series(1, $NBULK) AS i" >/dev/null
      sql -c "VACUUM bench_bulk_$table" >/dev/null
      t0=$(date +%s.%N)
      PGOPTIONS="$events_off" sql -c "UPDATE bench_bulk_$table SET n = n + 1" >/dev/null
      t1=$(date +%s.%N)
      echo "bulk_update,$variant,1,$round,$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.4f", 1 / (b - a) }')" >>"$OUT/raw.csv"
    done
  done
  watched=$(median bulk_update watched 1) unwatched=$(median bulk_update unwatched 1)
  events_off=$(median bulk_update watched_events_off 1)
  CLIENTS=1 record bulk_update statements/s watched watched_events_off unwatched
  say "bulk_update: UPDATE of $NBULK rows watched $(ratio 1 "$watched") s (events off: $(ratio 1 "$events_off") s), unwatched $(ratio 1 "$unwatched") s: watched takes $(ratio "$unwatched" "$watched")x the time (events off: $(ratio "$unwatched" "$events_off")x)"
  target "bulk_update watched/unwatched time" "$(ratio "$unwatched" "$watched")" '<=' 2
  target "bulk_update watched (events off)/unwatched time" "$(ratio "$unwatched" "$events_off")" '<=' 2

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
