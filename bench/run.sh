#!/usr/bin/env bash
# Benchmark of `backup-audit run` on a large synthetic estate (issue: offline pipeline).
#
#   bench/run.sh            generate bench-data/estate once (about 1.4 GB), then time `run`
#
# The estate has 1,000,000 backup jobs in 1,000-job pages, 200,000 copy jobs and 20,000
# restore jobs over 30 days, in one account and region. `run` writes the daily BACKUP, COPY
# and RESTORE job reports in CSV and JSON. The script prints the per-stage times that `run`
# logs (load, frames, render, write), the wall time and the peak RSS (from /usr/bin/time).
# Release mode; run it on an otherwise idle machine. Set RUNS=N to repeat the timed run.
source "$(dirname "$0")/common.sh"
RUNS=${RUNS:-3}

job_estate

for i in $(seq 1 "$RUNS"); do
  rm -rf "$DATA/reports"
  /usr/bin/time -f "run $i: %e s wall, %M KB peak RSS, %P CPU" \
    "$BIN" --log-format json run --verbose --source "$DATA/estate" --out "$DATA/reports" --now "$NOW" \
    2> "$DATA/run.log" > "$DATA/run.out" || { cat "$DATA/run.log"; exit 1; }
  stages "$DATA/run.log"
  tail -n 1 "$DATA/run.log"
done
echo "== reports"
cat "$DATA/run.out"
