"""The S3-compatible server of the tests: moto's server, plus two things moto lacks.

1. ExpectedBucketOwner. moto accepts any `x-amz-expected-bucket-owner`; real S3 answers 403
   AccessDenied when the bucket belongs to another account. Here every bucket belongs to moto's
   account (MOTO_ACCOUNT_ID, default 123456789012), and a request naming another owner gets
   S3's 403.
2. Injected faults, chosen by the object key so that one server serves every test:
   - a key containing `inject-failure`: every UploadPart with partNumber=2 answers 500
     InternalError (the SDK retries, then the upload must be aborted);
   - a key containing `slowdown-once`: the first request for the key answers 503 SlowDown
     (the SDK must back off and retry).

Usage: python s3_server.py --port-file FILE [--host 127.0.0.1]
Binds a free port, writes it to FILE, and serves until killed.
"""

import argparse
import os
import threading
from urllib.parse import parse_qs, unquote

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import make_server

OWNER = os.environ.get("MOTO_ACCOUNT_ID", "123456789012")


def s3_error(start_response, status, code, message):
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{code}</Code><Message>{message}</Message></Error>"
    ).encode()
    start_response(status, [("Content-Type", "application/xml"), ("Content-Length", str(len(body)))])
    return [body]


class Faults:
    """WSGI middleware in front of moto."""

    def __init__(self, app):
        self.app = app
        self.lock = threading.Lock()
        self.slowed = set()

    def __call__(self, environ, start_response):
        path = unquote(environ.get("PATH_INFO", ""))
        query = parse_qs(environ.get("QUERY_STRING", ""))
        owner = environ.get("HTTP_X_AMZ_EXPECTED_BUCKET_OWNER")

        def drain():
            length = int(environ.get("CONTENT_LENGTH") or 0)
            if length:
                environ["wsgi.input"].read(length)

        if owner is not None and owner != OWNER:
            drain()
            return s3_error(start_response, "403 Forbidden", "AccessDenied", "Access Denied")
        if "inject-failure" in path and query.get("partNumber") == ["2"]:
            drain()
            return s3_error(start_response, "500 Internal Server Error", "InternalError", "injected failure")
        if "slowdown-once" in path:
            with self.lock:
                first = path not in self.slowed
                self.slowed.add(path)
            if first:
                drain()
                return s3_error(start_response, "503 Slow Down", "SlowDown", "Please reduce your request rate.")
        return self.app(environ, start_response)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port-file", required=True)
    args = parser.parse_args()
    app = Faults(DomainDispatcherApplication(create_backend_app))
    server = make_server(args.host, 0, app, threaded=True)
    with open(args.port_file + ".tmp", "w") as f:
        f.write(str(server.server_port))
    os.replace(args.port_file + ".tmp", args.port_file)
    server.serve_forever()


if __name__ == "__main__":
    main()
