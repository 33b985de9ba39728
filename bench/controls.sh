#!/usr/bin/env bash
# Benchmark of the controls engine and the two compliance reports (issue: controls engine).
#
#   bench/controls.sh       generate bench-data/controls-estate once, then time `run`
#
# The estate has 100,000 resources and 1,000,000 recovery points in one account and region,
# 3 frameworks x 11 controls, and report plans for CONTROL_COMPLIANCE_REPORT and
# RESOURCE_COMPLIANCE_REPORT (CSV and JSON). The script prints the per-stage times that `run`
# logs; "evaluate" is the controls plus the two result frames, "render" and "write" are the
# reports. Release mode, idle machine. RUNS=N repeats the timed run.
source "$(dirname "$0")/common.sh"
RUNS=${RUNS:-3}

generate_once controls-estate --accounts 1 --regions us-east-1 --resources 100000 --days 35 \
  --backup-jobs 0 --copy-jobs 0 --restore-jobs 0 --recovery-points 1000000 --frameworks 3 --seed 43
cat "$DATA"/controls-estate/*/*/list-recovery-points-by-backup-vault/*/*.json > /dev/null

for i in $(seq 1 "$RUNS"); do
  rm -rf "$DATA/controls-reports"
  /usr/bin/time -f "run $i: %e s wall, %M KB peak RSS, %P CPU" \
    "$BIN" --log-format json run --source "$DATA/controls-estate" --out "$DATA/controls-reports" --now "$NOW" \
    2> "$DATA/controls-run.log" > "$DATA/controls-run.out" || { cat "$DATA/controls-run.log"; exit 1; }
  stages "$DATA/controls-run.log"
  tail -n 1 "$DATA/controls-run.log"
done
echo "== reports"
grep -i compliance "$DATA/controls-run.out"
