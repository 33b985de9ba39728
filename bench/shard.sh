#!/usr/bin/env bash
# Benchmark of an organisation run cut into shards: `plan`, `shard` and `merge` against one
# `run` of the same estate, with the wall time and peak RSS of every step (/usr/bin/time), and
# a byte comparison of the reports (manifests and summaries left out).
#
#   bench/shard.sh                     the three estates below, SHARDS=4
#   ESTATES="org-estate" bench/shard.sh
#
# Estates (generated once into bench-data/):
#   org-estate       100 accounts x 2 regions: 20,000 resources, 200,000 recovery points,
#                    60,000 backup jobs, 3 frameworks (200 scopes);
#   estate           bench/run.sh's: 1,000,000 backup jobs in one account and region;
#   controls-estate  bench/controls.sh's: 100,000 resources, 1,000,000 recovery points.
# The shards run one after another on this machine; the script prints each one's time and
# RSS, their sum and maximum. Release mode, idle machine.
source "$(dirname "$0")/common.sh"
SHARDS=${SHARDS:-4}
ESTATES=${ESTATES:-"org-estate estate controls-estate"}

generate_once org-estate --accounts 100 --regions us-east-1,eu-west-1 --resources 20000 --days 10 \
  --backup-jobs 60000 --copy-jobs 6000 --restore-jobs 600 --recovery-points 200000 --frameworks 3 --seed 44
for e in $ESTATES; do
  case $e in
    estate) job_estate ;;
    controls-estate) generate_once controls-estate --accounts 1 --regions us-east-1 --resources 100000 --days 35 \
      --backup-jobs 0 --copy-jobs 0 --restore-jobs 0 --recovery-points 1000000 --frameworks 3 --seed 43 ;;
  esac
done

# timed NAME CMD...: runs CMD under /usr/bin/time, prints "NAME wall_s rss_mb".
timed() {
  local name=$1; shift
  /usr/bin/time -o "$DATA/shard-step.time" -f "%e %M" "$@" > "$DATA/shard-step.out" 2> "$DATA/shard-step.log" \
    || { cat "$DATA/shard-step.log"; exit 1; }
  read -r wall rss < "$DATA/shard-step.time"
  printf "%-22s %8.2f s %8d MB\n" "$name" "$wall" "$((rss / 1024))"
  echo "$wall $rss" >> "$DATA/shard-steps"
}

for e in $ESTATES; do
  ESTATE="$DATA/$e"
  RUN_OUT="$DATA/shard-bench-run" PARTS="$DATA/shard-bench-parts" MERGED="$DATA/shard-bench-merged"
  rm -rf "$RUN_OUT" "$PARTS" "$MERGED"
  echo "== $e: $(find "$ESTATE" -mindepth 2 -maxdepth 2 -type d | wc -l) account/region(s), $SHARDS shards"
  : > "$DATA/shard-steps"
  timed "run" "$BIN" run --source "$ESTATE" --out "$RUN_OUT" --now "$NOW"
  timed "plan" "$BIN" plan --source "$ESTATE" --parts "$PARTS" --now "$NOW"
  : > "$DATA/shard-steps"
  for i in $(seq 0 $((SHARDS - 1))); do
    timed "shard $i/$SHARDS" "$BIN" shard --source "$ESTATE" --parts "$PARTS" --now "$NOW" --shard "$i/$SHARDS"
  done
  awk '{s += $1; if ($1 > m) m = $1; if ($2 > r) r = $2} END {printf "%-22s %8.2f s (longest %.2f s) %8d MB\n", "shards, sum", s, m, r / 1024}' "$DATA/shard-steps"
  timed "merge" "$BIN" merge --parts "$PARTS" --out "$MERGED"
  echo "parts: $(du -sb "$PARTS" | cut -f1) bytes in $(find "$PARTS" -type f | wc -l) files; reports: $(du -sb --exclude=manifests --exclude=summaries "$RUN_OUT" | cut -f1) bytes"
  if diff -rq --exclude=manifests --exclude=summaries "$RUN_OUT" "$MERGED" > /dev/null; then
    echo "merged reports: byte-identical to run's"
  else
    echo "merged reports DIFFER from run's"; exit 1
  fi
done
