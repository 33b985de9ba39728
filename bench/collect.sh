#!/usr/bin/env bash
# Benchmark of live collection (issue: live collection from AWS). The replay endpoint
# (tests/replay/replay_server.py) serves a generated estate with 100 ms of latency per request:
# 1,000,000 backup jobs (1,000 pages of 1,000) and 200,000 recovery points in 20 vaults (one
# account, five regions, four vaults each), 1,000 protected resources. In the same run, the
# script times `backup-audit snapshot --source aws` twice: with the defaults (concurrent), and
# one request at a time (`--max-concurrency 1 --job-slices 1`, i.e. one paginator after the
# other), and prints both and the ratio. Release mode; the endpoint loads the estate first
# (about a minute). LATENCY_MS changes the latency.
source "$(dirname "$0")/common.sh"
LATENCY_MS=${LATENCY_MS:-100}
EST="$DATA/collect-estate"
generate_once collect-estate --accounts 1 --regions us-east-1,us-east-2,us-west-2,eu-west-1,eu-central-1 \
  --resources 1000 --days 30 --backup-jobs 1000000 --copy-jobs 2000 --restore-jobs 200 \
  --max-recovery-points 40000 --frameworks 1 --seed 11
echo "== $(find "$EST" -path '*list-recovery-points-by-backup-vault/*.json' | wc -l) vaults with recovery points"

if ! .venv/bin/python -c "import moto" 2>/dev/null; then
  python3 -m venv .venv
  .venv/bin/pip install --quiet --disable-pip-version-check "moto[server]==5.2.5"
fi
port_file=$(mktemp -u "$DATA/replay-port.XXXXXX")
/usr/bin/time -f "replay endpoint: %M KB peak RSS" .venv/bin/python tests/replay/replay_server.py \
  --estate "$EST" --port-file "$port_file" --latency-ms "$LATENCY_MS" > "$DATA/replay.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true; rm -f "$port_file"' EXIT
for _ in $(seq 1 1200); do [ -s "$port_file" ] && break; sleep 0.5; done
cat "$DATA/replay.log"
endpoint="http://127.0.0.1:$(cat "$port_file")"
export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1
regions=us-east-1,us-east-2,us-west-2,eu-west-1,eu-central-1

collect() {
  local name=$1; shift
  rm -rf "$DATA/collected-$name"
  local start end
  start=$(date +%s.%N)
  "$BIN" --log-format json snapshot --source aws --out "$DATA/collected-$name" --now "$NOW" \
    --endpoint-url "$endpoint" --regions "$regions" "$@" 2> "$DATA/collect-$name.log" > /dev/null \
    || { tail -5 "$DATA/collect-$name.log"; exit 1; }
  end=$(date +%s.%N)
  python3 -c "print('%-10s %7.1f s' % ('$name', $end - $start))"
  grep -h '"collected the estate"' "$DATA/collect-$name.log" | python3 -c '
import json, sys
f = json.loads(sys.stdin.readline())["fields"]
print("           %d requests, %d retries, %d files, %.0f MB, %d failures" % (f["requests"], f["retries"], f["files"], f["bytes"] / 1e6, f["failures"]))'
  echo "$end - $start" | bc > "$DATA/collect-$name.seconds"
}

echo "== latency $LATENCY_MS ms per request"
collect concurrent
collect sequential --max-concurrency 1 --job-slices 1
python3 -c "print('speed-up: %.1fx' % ($(cat "$DATA/collect-sequential.seconds") / $(cat "$DATA/collect-concurrent.seconds")))"
# Both snapshots hold the same data: the same reports come out of them.
for name in concurrent sequential; do
  rm -rf "$DATA/collect-reports-$name"
  "$BIN" run --source "$DATA/collected-$name" --out "$DATA/collect-reports-$name" --now "$NOW" > /dev/null 2>&1
done
diff -r -x manifests "$DATA/collect-reports-concurrent" "$DATA/collect-reports-sequential" > /dev/null \
  && echo "reports from both snapshots: identical" || echo "reports from both snapshots DIFFER"
