# Shared by the benchmark scripts: release build, and the per-stage line of a `run` log.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${BENCH_DATA:-bench-data}
NOW=2026-11-24T03:00:00Z

cargo build --release --locked --quiet
BIN=target/release/backup-audit

# stages LOG: prints the stage times that `run --log-format json` logged in LOG.
stages() {
  grep -h '"run finished"' "$1" | python3 -c '
import json, sys
f = json.loads(sys.stdin.readline())["fields"]
names = ["load", "frames", "evaluate", "render", "write"]
print("  stages: " + ", ".join("%s %d ms" % (n, f[n + "_ms"]) for n in names)
      + "; evaluate+render+write %d ms" % sum(f[n + "_ms"] for n in names[2:]))'
}
