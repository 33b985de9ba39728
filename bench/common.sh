# Shared by the benchmark scripts: release build, and the per-stage line of a `run` log.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${BENCH_DATA:-bench-data}
NOW=2026-11-24T03:00:00Z

# The same features as the Lambda package, so that one release build serves every script.
cargo build --release --locked --quiet --features lambda --bins
BIN=target/release/backup-audit

# generate_once NAME ARGS...: writes the synthetic estate $DATA/NAME with `generate ARGS` unless
# it is already there, then prints its size.
generate_once() {
  local name=$1; shift
  if [ ! -f "$DATA/$name/snapshot.json" ]; then
    rm -rf "${DATA:?}/$name"
    mkdir -p "$DATA"
    echo "== generating the estate (once)"
    /usr/bin/time -f "generate: %e s wall, %M KB peak RSS" "$BIN" generate --out "$DATA/$name" --now "$NOW" "$@"
  fi
  echo "== estate: $(du -sh --apparent-size "$DATA/$name" | cut -f1), $(find "$DATA/$name" -name '*.json' | wc -l) files"
}

# job_estate: $DATA/estate (about 1.4 GB): 1,000,000 backup jobs in 1,000-job pages, 200,000
# copy jobs and 20,000 restore jobs over 30 days, one account and region; page cache warmed.
job_estate() {
  generate_once estate --accounts 1 --regions us-east-1 --resources 33334 --days 30 \
    --backup-jobs 1000000 --copy-jobs 200000 --restore-jobs 20000 --max-recovery-points 20000 --frameworks 0 --seed 42
  # Warm the page cache so the runs measure parsing, not the disk.
  cat "$DATA"/estate/*/*/list-*-jobs/*.json > /dev/null
}

# stages LOG: prints the stage times that `run --log-format json` logged in LOG.
stages() {
  grep -h '"run finished"' "$1" | python3 -c '
import json, sys
f = json.loads(sys.stdin.readline())["fields"]
names = ["load", "frames", "evaluate", "render", "write"]
print("  stages: " + ", ".join("%s %d ms" % (n, f[n + "_ms"]) for n in names)
      + "; evaluate+render+write %d ms" % sum(f[n + "_ms"] for n in names[2:]))'
}
