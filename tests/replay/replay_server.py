"""A replay endpoint: serves an estate snapshot folder as AWS would, over HTTP.

It speaks the wire protocols the real SDK clients use, so `backup-audit --source aws
--endpoint-url http://127.0.0.1:PORT` collects from it exactly as from AWS:

- AWS Backup (REST-JSON): the 17 read operations of the estate layout, with `maxResults` /
  `nextToken` paging (opaque tokens), `createdAfter` / `createdBefore` and `accountId=*`
  (every account of the region: an organisation-wide listing) on the job lists, and
  timestamps as epoch seconds, as the service sends them. Routes are those of the
  `aws-sdk-backup` crate's model (`src/operation/*.rs`, `uri_base`).
- Resource Groups Tagging API (JSON 1.1): `GetResources`, paged by `PaginationToken`.
- EC2 (query protocol): `DescribeInstances` (ids and states, from `describe-instances`).
- Organizations (JSON 1.1, global): `ListAccounts` (the estate's account folders, one per
  page) and `ListParents`, from `list-parents/<child>.json` in any folder;
  `AWSOrganizationsNotInUseException` when the estate has none.
- STS (query protocol): `GetCallerIdentity`, and `AssumeRole`, whose temporary access key is
  `ASIA<account-id>`, so later requests signed with it are served from that account's folder.

Which account and region a request is for comes from its SigV4 `Credential=` scope (region)
and access key (`ASIA<account>`, else the default account). Faults are injected on request:
`--latency-ms` per request, `--throttle-rate` (400 ThrottlingException), `--error-rate`
(500), `--deny-regions` (403 AccessDeniedException for every request of those regions),
and `--rate R` a quota: a token bucket of R requests a second (burst `--burst`, default R) per
account, region and service, as AWS enforces them; a request without a token gets 400
ThrottlingException.
A refused region refuses STS too. Random faults use a seeded generator; none is injected on STS.

`GET /__stats` (unsigned) answers {"requests": n, "throttled": n, "failed": n, "accepted":
{"<account>/<region>/<service>": n}} (accepted: counted only with `--rate`).

Usage: python replay_server.py --estate DIR --port-file FILE [--account ID] [faults...]
It loads the estate, binds a free port on 127.0.0.1, writes the port to FILE and serves.
"""

import argparse
import bisect
import glob
import json
import os
import random
import re
import threading
import time
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

# Members that are timestamps in the AWS Backup shapes: sent as epoch seconds on the wire.
TIMESTAMPS = {
    "CreationDate", "CompletionDate", "StartBy", "ExpectedCompletionDate", "LastBackupTime",
    "LastRecoveryPointCreationDate", "LockDate", "DeletionDate", "LastExecutionDate",
    "CreationTime", "LastRestoreTime", "MoveToColdStorageAt", "DeleteAt", "LastUpdateTime",
    "LastAttemptedExecutionTime", "LastSuccessfulExecutionTime", "DeploymentStatusTime",
    "InitiationDate", "IndexCreationDate", "RecoveryPointCreationDate", "LatestRestoreJobCreationDate",
}

JOB_LISTS = {
    "/backup-jobs": ("list-backup-jobs", "BackupJobs", "BackupJobId"),
    "/copy-jobs": ("list-copy-jobs", "CopyJobs", "CopyJobId"),
    "/restore-jobs": ("list-restore-jobs", "RestoreJobs", "RestoreJobId"),
}


def epoch(value):
    if isinstance(value, (int, float)):
        return value
    s = value.replace("Z", "+00:00")
    if "T" not in s and " " in s:
        s = s.replace(" ", "T", 1)
    dt = datetime.fromisoformat(s)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    ms = round(dt.timestamp() * 1000)
    return ms // 1000 if ms % 1000 == 0 else ms / 1000


def wire(value):
    """CLI-shaped JSON to wire-shaped JSON: timestamps become epoch seconds."""
    if isinstance(value, dict):
        return {k: (epoch(v) if k in TIMESTAMPS and isinstance(v, str) else wire(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [wire(v) for v in value]
    return value


def encode(value):
    return json.dumps(value, separators=(",", ":")).encode()


def read(path):
    with open(path, "rb") as f:
        return json.load(f)


def pages(base, command):
    """The bodies of a list command: `<command>.json` or `<command>/page-*.json`."""
    if os.path.isfile(base + "/" + command + ".json"):
        return [read(base + "/" + command + ".json")]
    return [read(p) for p in sorted(glob.glob(base + "/" + command + "/page-*.json"))]


def entity_files(base, command):
    return sorted(glob.glob(base + "/" + command + "/*.json"))


class Scope:
    """One account and region of the estate, as items pre-encoded for fast paging."""

    def __init__(self, base):
        self.lists = {}      # route key -> list of encoded items
        self.members = {}    # route key -> response member name
        self.entities = {}   # path -> encoded body
        self.parents = {}    # list-parents: child id -> body (Organizations is global)
        # Jobs: sorted by creation time, with that time for createdAfter/createdBefore.
        self.jobs = {}
        for route, (command, member, id_key) in JOB_LISTS.items():
            seen, items = set(), []
            for body in pages(base, command):
                for job in body.get(member, []):
                    if job[id_key] in seen:
                        continue
                    seen.add(job[id_key])
                    w = wire(job)
                    items.append((w["CreationDate"], job[id_key], encode(w)))
            items.sort(key=lambda t: (t[0], t[1]))
            # Creation times alone, for bisecting createdAfter / createdBefore.
            self.jobs[route] = (member, [t[0] for t in items], [t[2] for t in items])

        def list_of(route, command, member, key=None):
            items = []
            for body in pages(base, command):
                items.extend(encode(wire(x)) for x in body.get(key or member, []))
            self.lists[route] = items
            self.members[route] = member

        list_of("/backup-vaults", "list-backup-vaults", "BackupVaultList")
        list_of("/backup/plans", "list-backup-plans", "BackupPlansList")
        list_of("/resources", "list-protected-resources", "Results")
        list_of("/audit/frameworks", "list-frameworks", "Frameworks")
        list_of("/audit/report-plans", "list-report-plans", "ReportPlans")
        list_of("tagging", "get-resources", "ResourceTagMappingList")
        self.instances = [i for body in pages(base, "describe-instances") for r in body.get("Reservations", [])
                          for i in r.get("Instances", [])]
        for f in entity_files(base, "list-parents"):
            self.parents[key_of(f)] = read(f)
        for f in entity_files(base, "describe-backup-vault"):
            self.entities["/backup-vaults/" + key_of(f)] = encode(wire(read(f)))
        for f in entity_files(base, "get-backup-vault-access-policy"):
            self.entities["/backup-vaults/" + key_of(f) + "/access-policy"] = encode(wire(read(f)))
        for d in sorted(glob.glob(base + "/list-recovery-points-by-backup-vault/*")):
            name = key_of(d)
            cmd = "list-recovery-points-by-backup-vault/" + name
            items = [encode(wire(x)) for body in pages(base, cmd) for x in body.get("RecoveryPoints", [])]
            self.lists["/backup-vaults/" + name + "/recovery-points"] = items
            self.members["/backup-vaults/" + name + "/recovery-points"] = "RecoveryPoints"
        for f in entity_files(base, "get-backup-plan"):
            self.entities["/backup/plans/" + key_of(f)] = encode(wire(read(f)))
        for d in sorted(glob.glob(base + "/list-backup-selections/*")):
            plan = key_of(d)
            cmd = "list-backup-selections/" + plan
            items = [encode(wire(x)) for body in pages(base, cmd) for x in body.get("BackupSelectionsList", [])]
            self.lists["/backup/plans/" + plan + "/selections"] = items
            self.members["/backup/plans/" + plan + "/selections"] = "BackupSelectionsList"
        for d in sorted(glob.glob(base + "/get-backup-selection/*")):
            for f in entity_files(base, "get-backup-selection/" + key_of(d)):
                self.entities["/backup/plans/" + key_of(d) + "/selections/" + key_of(f)] = encode(wire(read(f)))
        for f in entity_files(base, "describe-protected-resource"):
            self.entities["/resources/" + unquote(key_of(f))] = encode(wire(read(f)))
        for f in entity_files(base, "describe-framework"):
            self.entities["/audit/frameworks/" + key_of(f)] = encode(wire(read(f)))
        for f in entity_files(base, "describe-report-plan"):
            self.entities["/audit/report-plans/" + key_of(f)] = encode(wire(read(f)))


def key_of(path):
    name = os.path.basename(path.rstrip("/"))
    return name[:-5] if name.endswith(".json") else name


class Estate:
    def __init__(self, root, default_account):
        self.scopes = {}
        for account_dir in sorted(glob.glob(root + "/[0-9]*")):
            account = os.path.basename(account_dir)
            for region_dir in sorted(glob.glob(account_dir + "/*")):
                if os.path.isdir(region_dir):
                    self.scopes[(account, os.path.basename(region_dir))] = Scope(region_dir)
        accounts = sorted({a for a, _ in self.scopes})
        self.parents = {k: v for scope in self.scopes.values() for k, v in scope.parents.items()}
        self.default_account = default_account or accounts[0]
        self.merged = {}
        self.lock = threading.Lock()

    def org_jobs(self, route, region):
        """`ByAccountId=*`: the jobs of every account in `region`, by creation time."""
        with self.lock:
            if (route, region) not in self.merged:
                rows = []
                for (account, r), scope in sorted(self.scopes.items()):
                    if r == region:
                        _, created, items = scope.jobs[route]
                        rows.extend(zip(created, items))
                rows.sort(key=lambda t: t[0])
                self.merged[(route, region)] = ([t[0] for t in rows], [t[1] for t in rows])
            return self.merged[(route, region)]


def page(items, query, max_key, token_key, limit):
    start = int(query.get(token_key, ["0"])[0] or "0")
    size = min(int(query.get(max_key, [str(limit)])[0]), limit)
    chunk = items[start:start + size]
    nxt = str(start + size) if start + size < len(items) else None
    return chunk, nxt


def body(member, chunk, next_token, token_member="NextToken"):
    out = b'{"' + member.encode() + b'":[' + b",".join(chunk) + b"]"
    if next_token is not None:
        out += b',"' + token_member.encode() + b'":' + encode(next_token)
    return out + b"}"


def iso_millis(s):
    return epoch(s)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def reply(self, status, data, headers=()):
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def error(self, status, code, message):
        self.reply(status, encode({"__type": code, "message": message}), [("x-amzn-ErrorType", code)])

    def fault(self, service, status, code, message):
        """An injected fault in the service's own error format: EC2 answers in XML, and calls
        its throttling `RequestLimitExceeded`."""
        if service != "ec2":
            return self.error(status, code, message)
        if code == "ThrottlingException":
            code = "RequestLimitExceeded"
        data = (f"<Response><Errors><Error><Code>{code}</Code><Message>{message}</Message></Error></Errors>"
                "<RequestID>replay</RequestID></Response>").encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/xml")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        self.handle_request(b"")

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        self.handle_request(self.rfile.read(length) if length else b"")

    def handle_request(self, payload):
        server = self.server
        if self.path == "/__stats":
            with server.lock:
                stats = {"requests": server.requests, "throttled": server.throttled, "failed": server.failed,
                         "accepted": {"/".join(k): n for k, n in sorted(server.accepted.items())}}
            return self.reply(200, encode(stats))
        auth = self.headers.get("Authorization", "")
        m = re.search(r"Credential=([^/]+)/\d+/([^/]+)/([^/]+)/", auth)
        if not m:
            return self.error(403, "MissingAuthenticationTokenException", "no SigV4 signature")
        access_key, region, service = m.groups()
        account = access_key[4:] if access_key.startswith("ASIA") and access_key[4:].isdigit() else server.estate.default_account
        with server.lock:
            server.requests += 1
        if region in server.deny_regions:
            # A refused region refuses STS too (a disabled opt-in region, an SCP).
            return self.error(403, "AccessDeniedException", "User is not authorized in region " + region)
        if service == "sts":
            return self.sts(payload, account)
        if service == "organizations":
            return self.organizations(payload)
        if server.latency:
            time.sleep(server.latency)
        if server.rate and not server.take_token((account, region, service)):
            with server.lock:
                server.throttled += 1
            return self.fault(service, 400, "ThrottlingException", "Rate exceeded")
        with server.lock:
            roll = server.random.random()
        if roll < server.throttle_rate:
            with server.lock:
                server.throttled += 1
            return self.fault(service, 400, "ThrottlingException", "Rate exceeded")
        if roll < server.throttle_rate + server.error_rate:
            with server.lock:
                server.failed += 1
            return self.fault(service, 500, "ServiceUnavailableException", "injected server error")
        scope = server.estate.scopes.get((account, region))
        if scope is None:
            return self.error(403, "AccessDeniedException", f"account {account} has no region {region} here")
        if service == "ec2":
            return self.ec2(scope)
        if service == "tagging":
            req = json.loads(payload or b"{}")
            query = {"t": [req.get("PaginationToken") or "0"], "n": [str(req.get("ResourcesPerPage", 100))]}
            chunk, nxt = page(scope.lists["tagging"], query, "n", "t", 100)
            return self.reply(200, body("ResourceTagMappingList", chunk, nxt or "", "PaginationToken"))
        url = urlsplit(self.path)
        path = unquote(url.path).rstrip("/") or "/"
        query = parse_qs(url.query)
        if path in scope.jobs:
            member, created, items = scope.jobs[path]
            if query.get("accountId") == ["*"]:
                created, items = server.estate.org_jobs(path, region)
            after = query.get("createdAfter")
            before = query.get("createdBefore")
            lo = bisect.bisect_left(created, iso_millis(after[0])) if after else 0
            hi = bisect.bisect_left(created, iso_millis(before[0])) if before else len(items)
            chunk, nxt = page(items[lo:hi], query, "maxResults", "nextToken", 1000)
            return self.reply(200, body(member, chunk, nxt))
        if path in scope.lists:
            limit = 1000
            max_key, token_key = ("MaxResults", "NextToken") if path.startswith("/audit") else ("maxResults", "nextToken")
            chunk, nxt = page(scope.lists[path], query, max_key, token_key, limit)
            return self.reply(200, body(scope.members[path], chunk, nxt))
        if path in scope.entities:
            return self.reply(200, scope.entities[path])
        return self.error(404, "ResourceNotFoundException", "no such resource: " + path)

    def organizations(self, payload):
        """Organizations (JSON 1.1), global: ListAccounts (the estate's account folders, all
        ACTIVE, one per page) and ListParents from the estate's list-parents files."""
        target = self.headers.get("X-Amz-Target", "")
        if target.endswith(".ListAccounts"):
            accounts = sorted({a for a, _ in self.server.estate.scopes})
            token = json.loads(payload or b"{}").get("NextToken")
            i = int(token) if token else 0
            body = {"Accounts": [{"Id": accounts[i], "Status": "ACTIVE", "State": "ACTIVE"}]}
            if i + 1 < len(accounts):
                body["NextToken"] = str(i + 1)
            return self.reply(200, encode(body))
        if not target.endswith(".ListParents"):
            return self.error(400, "InvalidInputException", "unsupported: " + target)
        if not self.server.estate.parents:
            return self.error(400, "AWSOrganizationsNotInUseException", "Your account is not a member of an organization.")
        child = json.loads(payload or b"{}").get("ChildId", "")
        if child not in self.server.estate.parents:
            return self.error(400, "ChildNotFoundException", "no such child: " + child)
        return self.reply(200, encode(self.server.estate.parents[child]))

    def ec2(self, scope):
        """EC2 (query protocol, XML): DescribeInstances, the instance ids and states only."""
        items = "".join(
            "<item><reservationId>r-replay</reservationId><instancesSet><item>"
            f"<instanceId>{i['InstanceId']}</instanceId>"
            f"<instanceState><code>{i.get('State', {}).get('Code', 16)}</code><name>{i.get('State', {}).get('Name', 'running')}</name></instanceState>"
            "</item></instancesSet></item>"
            for i in scope.instances)
        self.reply_xml('<DescribeInstancesResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">'
                       f"<requestId>replay</requestId><reservationSet>{items}</reservationSet></DescribeInstancesResponse>")

    def reply_xml(self, xml):
        data = xml.encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/xml")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def sts(self, payload, account):
        form = parse_qs(payload.decode())
        action = form.get("Action", [""])[0]
        ns = "https://sts.amazonaws.com/doc/2011-06-15/"
        if action == "GetCallerIdentity":
            xml = (f'<GetCallerIdentityResponse xmlns="{ns}"><GetCallerIdentityResult>'
                   f"<Arn>arn:aws:iam::{account}:user/replay</Arn><UserId>AIDAREPLAY</UserId>"
                   f"<Account>{account}</Account></GetCallerIdentityResult>"
                   "<ResponseMetadata><RequestId>replay</RequestId></ResponseMetadata></GetCallerIdentityResponse>")
        elif action == "AssumeRole":
            arn = form.get("RoleArn", [""])[0]
            target = arn.split(":")[4] if arn.count(":") >= 5 else account
            session = form.get("RoleSessionName", ["s"])[0]
            xml = (f'<AssumeRoleResponse xmlns="{ns}"><AssumeRoleResult><Credentials>'
                   f"<AccessKeyId>ASIA{target}</AccessKeyId><SecretAccessKey>replay</SecretAccessKey>"
                   "<SessionToken>replay</SessionToken><Expiration>2099-01-01T00:00:00Z</Expiration>"
                   f"</Credentials><AssumedRoleUser><Arn>arn:aws:sts::{target}:assumed-role/r/{session}</Arn>"
                   f"<AssumedRoleId>AROAREPLAY:{session}</AssumedRoleId></AssumedRoleUser></AssumeRoleResult>"
                   "<ResponseMetadata><RequestId>replay</RequestId></ResponseMetadata></AssumeRoleResponse>")
        else:
            return self.error(400, "InvalidAction", action)
        self.reply_xml(xml)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--estate", required=True)
    p.add_argument("--port-file", required=True)
    p.add_argument("--account")
    p.add_argument("--latency-ms", type=float, default=0)
    p.add_argument("--throttle-rate", type=float, default=0)
    p.add_argument("--error-rate", type=float, default=0)
    p.add_argument("--deny-regions", default="")
    p.add_argument("--rate", type=float, default=0, help="quota: requests a second per account, region and service")
    p.add_argument("--burst", type=float, help="token bucket size (default: --rate)")
    p.add_argument("--seed", type=int, default=1)
    a = p.parse_args()
    started = time.time()
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    server.request_queue_size = 256
    server.estate = Estate(a.estate, a.account)
    server.latency = a.latency_ms / 1000
    server.throttle_rate = a.throttle_rate
    server.error_rate = a.error_rate
    server.deny_regions = {r for r in a.deny_regions.split(",") if r}
    server.random = random.Random(a.seed)
    server.lock = threading.Lock()
    server.requests = server.throttled = server.failed = 0
    server.rate = a.rate
    server.burst = a.burst if a.burst is not None else a.rate
    server.accepted = {}
    burst = a.burst if a.burst is not None else a.rate
    buckets = {}

    def take_token(key):
        # A token bucket per key: `rate` tokens a second, at most `burst` saved up; full at start.
        now = time.monotonic()
        with server.lock:
            tokens, last = buckets.get(key, (burst, now))
            tokens = min(burst, tokens + (now - last) * server.rate)
            ok = tokens >= 1
            buckets[key] = (tokens - 1 if ok else tokens, now)
            if ok:
                server.accepted[key] = server.accepted.get(key, 0) + 1
            return ok

    server.take_token = take_token
    print(f"loaded {len(server.estate.scopes)} scopes in {time.time() - started:.1f} s", flush=True)
    with open(a.port_file + ".tmp", "w") as f:
        f.write(str(server.server_address[1]))
    os.replace(a.port_file + ".tmp", a.port_file)
    server.serve_forever()


if __name__ == "__main__":
    main()
