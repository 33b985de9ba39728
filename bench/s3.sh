#!/usr/bin/env bash
# Benchmark of delivery to S3 against delivery to a local folder, in the same run (issue:
# delivery to S3). The estate is bench/run.sh's (1,000,000 backup jobs; generated once). Each
# round runs `backup-audit run` twice on it: once with `--out <folder>`, once with
# `--out s3://…` against the S3 test server (moto, tests/s3/s3_server.py, on 127.0.0.1), and
# prints both runs' write stage (rendered bytes to delivered objects, SHA-256 and manifest
# included) and wall time, and the ratio. Release mode; an idle machine. RUNS=N repeats.
# S3_ENDPOINT=http://127.0.0.1:PORT benchmarks another S3-compatible server started by hand
# (with a bucket named `bench`) instead of moto; S3_ARGS adds arguments to the S3 run, e.g.
# S3_ARGS="--multipart-threshold 100000000" for s3s-fs 0.14, which refuses CRC32 multipart.
source "$(dirname "$0")/common.sh"
RUNS=${RUNS:-3}
job_estate

export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1
if [ -n "${S3_ENDPOINT:-}" ]; then
  endpoint=$S3_ENDPOINT
else
  if ! .venv/bin/python -c "import moto, werkzeug, boto3" 2>/dev/null; then
    python3 -m venv .venv
    .venv/bin/pip install --quiet --disable-pip-version-check "moto[server]==5.2.5"
  fi
  port_file=$(mktemp -u "$DATA/s3-port.XXXXXX")
  .venv/bin/python tests/s3/s3_server.py --port-file "$port_file" > "$DATA/s3-server.log" 2>&1 &
  server=$!
  trap 'kill $server 2>/dev/null || true; rm -f "$port_file"' EXIT
  for _ in $(seq 1 100); do [ -s "$port_file" ] && break; sleep 0.1; done
  endpoint="http://127.0.0.1:$(cat "$port_file")"
  .venv/bin/python -c "import boto3; boto3.client('s3', endpoint_url='$endpoint').create_bucket(Bucket='bench')"
fi
echo "== S3 server at $endpoint"

write_ms() {
  grep -h '"run finished"' "$1" | python3 -c 'import json, sys; print(json.loads(sys.stdin.readline())["fields"]["write_ms"])'
}

for i in $(seq 1 "$RUNS"); do
  rm -rf "$DATA/reports"
  /usr/bin/time -f "  local: %e s wall, %M KB peak RSS" \
    "$BIN" --log-format json run --source "$DATA/estate" --out "$DATA/reports" --now "$NOW" \
    2> "$DATA/run-local.log" > /dev/null || { cat "$DATA/run-local.log"; exit 1; }
  /usr/bin/time -f "  s3:    %e s wall, %M KB peak RSS" \
    "$BIN" --log-format json run --source "$DATA/estate" --out "s3://bench/reports" --now "$NOW" \
      --s3-endpoint-url "$endpoint" --s3-path-style ${S3_ARGS:-} \
    2> "$DATA/run-s3.log" > /dev/null || { cat "$DATA/run-s3.log"; exit 1; }
  grep -h "wall" "$DATA/run-local.log" "$DATA/run-s3.log" || true
  local_ms=$(write_ms "$DATA/run-local.log")
  s3_ms=$(write_ms "$DATA/run-s3.log")
  python3 -c "print('round $i: write stage local $local_ms ms, S3 $s3_ms ms, ratio %.2f' % ($s3_ms / max($local_ms, 1)))"
done
echo "== objects: $(find "$DATA/reports" -type f | wc -l), $(du -sh --apparent-size "$DATA/reports" | cut -f1)"
