#!/usr/bin/env bash
# Benchmark of the controls engine and the two compliance reports (issue: organisation scale).
#
#   bench/controls.sh                 generate bench-data/controls-estate once, then time `run`
#   RESOURCES=25000 bench/controls.sh the same shape at another size (recovery points: 10 per
#                                     resource), in bench-data/controls-estate-25000
#
# The estate has 100,000 resources and 1,000,000 recovery points in one account and region,
# 3 frameworks x 11 controls, and report plans for CONTROL_COMPLIANCE_REPORT and
# RESOURCE_COMPLIANCE_REPORT (CSV and JSON). The script prints the per-stage times that `run`
# logs, the wall time and peak RSS (/usr/bin/time), the report bytes, and the I/O floor of the
# same run: reading the estate's files from the page cache plus writing as many bytes as the
# reports to one file, synced (the local folder sink syncs every report before renaming it),
# and the ratio wall / floor. Release mode, idle machine. RUNS=N repeats the timed run.
source "$(dirname "$0")/common.sh"
RUNS=${RUNS:-3}
RESOURCES=${RESOURCES:-100000}
NAME=controls-estate
[ "$RESOURCES" = 100000 ] || NAME=controls-estate-$RESOURCES

generate_once "$NAME" --accounts 1 --regions us-east-1 --resources "$RESOURCES" --days 35 \
  --backup-jobs 0 --copy-jobs 0 --restore-jobs 0 --recovery-points $((RESOURCES * 10)) --frameworks 3 --seed 43
ESTATE="$DATA/$NAME"
OUT="$DATA/controls-reports"

now_s() { date +%s.%N; }

for i in $(seq 1 "$RUNS"); do
  rm -rf "$OUT"
  sync
  # The estate from the page cache, as the floor reads it.
  find "$ESTATE" -name '*.json' -print0 | xargs -0 cat > /dev/null
  start=$(now_s)
  /usr/bin/time -o "$DATA/controls-run.time" -f "%e %M %P" \
    "$BIN" --log-format json run --verbose --source "$ESTATE" --out "$OUT" --now "$NOW" \
    2> "$DATA/controls-run.log" > "$DATA/controls-run.out" || { cat "$DATA/controls-run.log"; exit 1; }
  read -r wall rss cpu < "$DATA/controls-run.time"
  bytes=$(du -sb "$OUT" | cut -f1)
  # The floor, measured now: read the estate from the page cache, write as many bytes, synced.
  sync
  t0=$(now_s)
  find "$ESTATE" -name '*.json' -print0 | xargs -0 cat > /dev/null
  t1=$(now_s)
  head -c "$bytes" /dev/zero | dd of="$DATA/floor.bin" bs=8M iflag=fullblock conv=fsync status=none
  t2=$(now_s)
  rm -f "$DATA/floor.bin"
  python3 - "$wall" "$rss" "$cpu" "$bytes" "$t0" "$t1" "$t2" "$i" <<'PY'
import sys
wall, rss, cpu, size, t0, t1, t2, i = sys.argv[1:]
wall, rss, size = float(wall), int(rss), int(size)
read, write = float(t1) - float(t0), float(t2) - float(t1)
floor = read + write
print(f"run {i}: {wall:.2f} s wall, {rss / 1024:.0f} MiB peak RSS, {cpu} CPU, {size / 1e9:.2f} GB of reports")
print(f"  floor: {floor:.2f} s (read the estate {read:.2f} s + write {size / 1e9:.2f} GB synced {write:.2f} s); wall / floor = {wall / floor:.2f}")
PY
  stages "$DATA/controls-run.log"
done
echo "== reports"
grep -c " rows " "$DATA/controls-run.out" | sed "s/$/ report objects/"
