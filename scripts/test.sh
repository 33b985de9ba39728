#!/usr/bin/env bash
# The test command. Installs the S3 test server (moto) and the AWS CLI (for the snapshot script's
# test), from PyPI into .venv, and Debian's chromium (for the summary page's browser test), on
# first use;
# starts it on 127.0.0.1, runs `cargo test` against it, and stops it. The tests that need these
# servers are `#[ignore]`d with the reason under a plain `cargo test`; here they run too.
# Arguments (a test name filter) are passed to `cargo test` (e.g. `scripts/test.sh s3::`).
set -euo pipefail
cd "$(dirname "$0")/.."

# The test servers' and the AWS CLI script test's Python packages, pinned in one file.
if ! .venv/bin/python -c "import moto, werkzeug, antlr4" 2>/dev/null || ! .venv/bin/aws --version >/dev/null 2>&1 \
    || ! .venv/bin/cfn-lint --version >/dev/null 2>&1; then
    echo "== installing tests/requirements.txt into .venv (once)"
    python3 -m venv .venv
    .venv/bin/pip install --quiet --disable-pip-version-check -r tests/requirements.txt
fi

# Debian's Chromium, for the test that opens the run summary in a headless browser.
if ! command -v chromium >/dev/null 2>&1; then
    echo "== installing Debian's chromium (once)"
    sudo=""
    [ "$(id -u)" = 0 ] || sudo="sudo"
    export DEBIAN_FRONTEND=noninteractive
    $sudo apt-get install -y -qq chromium >/dev/null 2>&1 \
        || { $sudo apt-get update -qq && $sudo apt-get install -y -qq chromium >/dev/null; }
fi
export BACKUP_AUDIT_TEST_CHROMIUM="$(command -v chromium)"

mkdir -p target
port_file=$(mktemp -u target/s3-server-port.XXXXXX)
.venv/bin/python tests/s3/s3_server.py --port-file "$port_file" > target/s3-server.log 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true; rm -f "$port_file"' EXIT
for _ in $(seq 1 100); do
    [ -s "$port_file" ] && break
    kill -0 $server 2>/dev/null || { cat target/s3-server.log; echo "the S3 test server did not start" >&2; exit 1; }
    sleep 0.1
done
[ -s "$port_file" ] || { cat target/s3-server.log; echo "the S3 test server did not start in 10 s" >&2; exit 1; }
export BACKUP_AUDIT_TEST_S3="http://127.0.0.1:$(cat "$port_file")"
export BACKUP_AUDIT_TEST_PYTHON="$PWD/.venv/bin/python"
export BACKUP_AUDIT_TEST_AWS_CLI="$PWD/.venv/bin/aws"
# Dummy credentials for the clients that use the default chain against the test servers.
export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1
unset AWS_PROFILE
echo "== S3 test server at $BACKUP_AUDIT_TEST_S3"
cargo test "$@" -- --include-ignored
