"""Runs deploy/state-machine.asl.json in moto's Step Functions interpreter, end to end.

moto executes the definition (`execute_state_machine`): the planner task, the two DISTRIBUTED
Maps reading their items from S3 with `ItemReader`, the `ItemSelector` payloads,
`MaxConcurrencyPath`, `ResultPath`, and the merge task. Its Lambda backend without Docker
would answer every invoke with a canned response; here each invoke instead runs the real
`backup-audit` command that the Lambda's mode stands for (plan, shard, merge) over a
snapshot folder, so the execution's output is the tool's. The script prints every payload the
state machine sent, checks them, and exits non-zero on any failure.

Usage: python state_machine.py --bin target/debug/backup-audit --estate examples/demo-estate
           --work DIR
"""

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import boto3
from moto import mock_aws
from moto.awslambda_simple import models as lambda_simple

ROOT = Path(__file__).resolve().parents[2]
NOW = "2026-11-24T03:00:00Z"


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--estate", required=True)
    ap.add_argument("--work", required=True)
    args = ap.parse_args()
    work = Path(args.work)
    parts, out = work / "parts", work / "merged"
    calls = []

    def run(*cmd):
        p = subprocess.run([args.bin, *cmd], capture_output=True, text=True)
        if p.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} exited {p.returncode}: {p.stderr}")
        return p.stdout

    def invoke(self, function_name, qualifier, body, headers, response_headers):
        event = json.loads(body)
        calls.append(event)
        mode = event.get("mode")
        if mode == "plan":
            # The Lambda's plan mode: the run's parts, and the Map items put where the
            # ItemReader reads them.
            # `now` is the execution's start time ($$.Execution.StartTime); the test's clock
            # stands in for it, so that the reports can be compared with one `run`.
            from datetime import datetime
            datetime.fromisoformat(event["now"].replace("Z", "+00:00"))
            run("plan", "--source", args.estate, "--parts", str(parts), "--now", NOW)
            s3 = boto3.client("s3", region_name="us-east-1")
            s3.put_object(Bucket="audit-parts", Key="parts/date=2026-11-24/_items.json",
                          Body=(parts / "_items.json").read_bytes())
            answer = {"parts": str(parts), "now": NOW,
                      "items": {"Bucket": "audit-parts", "Key": "parts/date=2026-11-24/_items.json"}}
        elif mode == "collect":
            answer = {"accounts": [event["accounts"]], "regions": [event["regions"]], "written": []}
        elif mode == "shard":
            run("shard", "--source", args.estate, "--parts", event["parts"], "--now", event["now"],
                "--accounts", event["accounts"], "--regions", event["regions"], "--role-name", "reader")
            answer = {"accounts": [event["accounts"]], "regions": [event["regions"]]}
        elif mode == "merge":
            run("merge", "--parts", event["parts"], "--out", str(out))
            answer = {"status": "complete", "objects": sum(1 for p in out.rglob("*") if p.is_file())}
        else:
            raise RuntimeError(f"unexpected payload {event}")
        return json.dumps(answer).encode()

    definition = (ROOT / "deploy/state-machine.asl.json").read_text()
    # cfn-lint validates a state machine's definition only inline (SAM's DefinitionUri is a
    # file it does not open): lint it as an AWS::StepFunctions::StateMachine, and lint a copy
    # with a misspelt field to show that the check can fail.
    lint = Path(sys.executable).parent / "cfn-lint"
    for name, text, want in [("inline", definition, 0),
                             ("broken", definition.replace('"Next": "Merge"', '"Nextt": "Merge"'), 2)]:
        template = {"AWSTemplateFormatVersion": "2010-09-09", "Resources": {"StateMachine": {
            "Type": "AWS::StepFunctions::StateMachine",
            "Properties": {"RoleArn": "arn:aws:iam::123456789012:role/sfn", "Definition": json.loads(text),
                           "DefinitionSubstitutions": {"FunctionArn": "arn:aws:lambda:us-east-1:123456789012:function:f"}}}}}
        path = work / f"state-machine-{name}.json"
        path.write_text(json.dumps(template))
        p = subprocess.run([str(lint), str(path)], capture_output=True, text=True)
        if p.returncode != want:
            print(f"cfn-lint on the {name} definition exited {p.returncode}, expected {want}: {p.stdout}", file=sys.stderr)
            return 1

    lambda_simple.LambdaSimpleBackend.invoke = invoke
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}, "lambda": {"use_docker": False}}):
        iam = boto3.client("iam", region_name="us-east-1")
        role = iam.create_role(RoleName="sfn", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
        lam = boto3.client("lambda", region_name="us-east-1")
        fn = lam.create_function(FunctionName="backup-audit", Runtime="provided.al2023", Role=role,
                                 Handler="bootstrap", Code={"ZipFile": b"bootstrap"})["FunctionArn"]
        boto3.client("s3", region_name="us-east-1").create_bucket(Bucket="audit-parts")
        sfn = boto3.client("stepfunctions", region_name="us-east-1")
        machine = sfn.create_state_machine(name="backup-audit", roleArn=role,
                                           definition=definition.replace("${FunctionArn}", fn))
        started = sfn.start_execution(stateMachineArn=machine["stateMachineArn"],
                                      input=json.dumps({"maxConcurrency": 2}))
        for _ in range(600):
            d = sfn.describe_execution(executionArn=started["executionArn"])
            if d["status"] != "RUNNING":
                break
            time.sleep(0.1)
        if d["status"] != "SUCCEEDED":
            history = sfn.get_execution_history(executionArn=started["executionArn"])["events"]
            print(json.dumps(history[-5:], default=str, indent=1), file=sys.stderr)
            print(f"the execution ended {d['status']}", file=sys.stderr)
            return 1
        output = json.loads(d["output"])

    modes = [c["mode"] for c in calls]
    print(json.dumps({"modes": modes, "output": output}))
    scopes = len(json.loads((parts / "_items.json").read_text()))
    expected = ["plan"] + ["collect"] * scopes + ["shard"] * scopes + ["merge"]
    if modes != expected:
        print(f"the state machine invoked {modes}, expected {expected}", file=sys.stderr)
        return 1
    shards = sorted((c["accounts"], c["regions"]) for c in calls if c["mode"] == "shard")
    if len(set(shards)) != scopes or any(c.get("parts") != str(parts) for c in calls[1:]):
        print(f"the Map children did not each get one scope and the run's parts: {calls}", file=sys.stderr)
        return 1
    if output.get("status") != "complete":
        print(f"the merge step's answer is not the execution's output: {output}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
