#!/usr/bin/env bash
# Benchmark of live collection, in two parts.
#
# Part 1 (issue: live collection from AWS). The replay endpoint
# (tests/replay/replay_server.py) serves a generated estate with 100 ms of latency per request:
# 1,000,000 backup jobs (1,000 pages of 1,000) and 200,000 recovery points in 20 vaults (one
# account, five regions, four vaults each), 1,000 protected resources. In the same run, the
# script times `backup-audit snapshot --source aws` twice: with the defaults (concurrent), and
# one request at a time (`--max-concurrency 1 --job-slices 1`, i.e. one paginator after the
# other), and prints both and the ratio. Release mode; the endpoint loads the estate first
# (about a minute). LATENCY_MS changes the latency.
#
# Part 2 (issue: live collection at the service quota). A small estate (one account and
# region, 40 resources) is collected from the replay endpoint under a quota (`--rate 20`: a
# token bucket of 20 requests a second, burst 20, per account, region and service), under 20%
# random throttling, and with no throttling; each with the defaults (the rate limiter) and with
# the limiter off in the SDK's adaptive and standard retry modes (the defaults before). For
# each it prints the wall time, the requests and throttled requests the endpoint counted, the
# quota floor (the most requests any one service accepted, less the first burst, over the
# quota) and wall / floor. The reports of the quota run must equal the offline run's.
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

echo
echo "== part 2: collection at a quota"
QEST="$DATA/quota-estate"
generate_once quota-estate --accounts 1 --regions us-east-1 --resources 40 --days 3 --seed 5
rm -rf "$DATA/quota-offline"
"$BIN" run --source "$QEST" --out "$DATA/quota-offline" --now "$NOW" > /dev/null 2>&1 || true

# quota_case LABEL "SERVER ARGS" "CLIENT ARGS": one collection against a fresh endpoint.
quota_case() {
  local label=$1 server_args=$2 client_args=$3
  local pf
  pf=$(mktemp -u "$DATA/quota-port.XXXXXX")
  # shellcheck disable=SC2086
  .venv/bin/python tests/replay/replay_server.py --estate "$QEST" --port-file "$pf" $server_args > "$DATA/quota-replay.log" 2>&1 &
  local srv=$!
  for _ in $(seq 1 100); do [ -s "$pf" ] && break; sleep 0.1; done
  local ep="http://127.0.0.1:$(cat "$pf")"
  rm -rf "$DATA/quota-collected"
  local start end
  start=$(date +%s.%N)
  # shellcheck disable=SC2086
  "$BIN" snapshot --source aws --out "$DATA/quota-collected" --now "$NOW" --endpoint-url "$ep" \
    --regions us-east-1 $client_args > /dev/null 2> "$DATA/quota-collect.log" || true
  end=$(date +%s.%N)
  local stats
  stats=$(curl -s "$ep/__stats")
  kill $srv 2>/dev/null || true
  rm -f "$pf"
  python3 - "$label" "$server_args" "$client_args" "$stats" "$start" "$end" <<'PY'
import json, sys
label, server, client, stats, start, end = sys.argv[1:]
st = json.loads(stats)
wall = float(end) - float(start)
args = server.split()
rate = float(args[args.index("--rate") + 1]) if "--rate" in args else 0
floor = max(((n - rate) / rate for n in st["accepted"].values()), default=0) if rate else 0
share = 100 * st["throttled"] / max(1, st["requests"])
ratio = "%5.2fx" % (wall / floor) if floor else "    -"
print("%-26s %-34s %6.2f s %5d req %4d throttled (%4.1f%%)  floor %5.2f s  %s"
      % (label, client or "(defaults)", wall, st["requests"], st["throttled"], share, floor, ratio))
PY
}

for latency in 50 0; do
  for client in "" "--rate-limit off --retry-mode adaptive" "--rate-limit off --retry-mode standard"; do
    quota_case "quota 20/s, ${latency} ms" "--rate 20 --latency-ms $latency" "$client"
    if [ -z "$client" ] && [ "$latency" = 50 ]; then
      rm -rf "$DATA/quota-reports"
      "$BIN" run --source "$DATA/quota-collected" --out "$DATA/quota-reports" --now "$NOW" > /dev/null 2>&1 || true
      diff -r -x manifests "$DATA/quota-offline" "$DATA/quota-reports" > /dev/null \
        && echo "  reports of the quota run and the offline run: identical" \
        || echo "  reports of the quota run and the offline run DIFFER"
    fi
  done
done
for client in "" "--rate-limit off --retry-mode adaptive" "--rate-limit off --retry-mode standard"; do
  quota_case "20% throttled, 50 ms" "--throttle-rate 0.2 --latency-ms 50" "$client"
done
for client in "" "--rate-limit off --retry-mode adaptive"; do
  quota_case "no throttling, 50 ms" "--latency-ms 50" "$client"
done
