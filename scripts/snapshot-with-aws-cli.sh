#!/usr/bin/env bash
# Writes an estate snapshot (the README's "Estate layout") with the plain AWS CLI, v1 or v2:
# every command of the layout, for the credentials' own account, in each region given.
#
#   scripts/snapshot-with-aws-cli.sh OUT REGION [REGION ...]
#   backup-audit run --source OUT --out reports/
#
# - OUT must be new or empty. For more accounts, run it again into the same OUT with each
#   account's credentials (AWS_PROFILE=...): every account has its own folder.
# - Every call names its region (--region): the AWS CLI v1 ignores AWS_REGION, and a folder
#   holding another region's data is an error for backup-audit.
# - The CLI follows NextToken by itself, so each list command is one file of all its pages.
# - A call that fails leaves no file: the command reads as "not collected", never as "none".
#   A per-entity command (one file per vault, plan, selection, resource, framework, report
#   plan) whose call fails for any entity is removed whole, for the same reason. A vault
#   without an access policy (ResourceNotFoundException) has no file in the existing
#   get-backup-vault-access-policy/ folder, which backup-audit reads as "no policy".
# - list-parents (the account's AWS Organizations path, for "Path To Root") is optional: it
#   is written only where Organizations answers (the management account).
# - Failures are listed in OUT/snapshot.json ("Failures"), and the exit code is 4, as with
#   `backup-audit snapshot`. OUT/snapshot.json "CollectedAt" is the start of the collection.
#
# Needs: the AWS CLI on PATH (or AWS_CLI=/path/to/aws), bash, sed. AWS_ENDPOINT_URL points the
# CLI at an emulator (the test suite's replay endpoint).
set -uo pipefail

if [ $# -lt 2 ]; then
    echo "usage: $0 OUT REGION [REGION ...]" >&2
    exit 2
fi
out=$1
shift
regions=("$@")
aws=${AWS_CLI:-aws}
if [ -e "$out" ] && [ -n "$(ls -A "$out" 2>/dev/null)" ] && [ ! -f "$out/snapshot.json" ]; then
    echo "error: \`$out\` is not empty; a snapshot goes into a new or empty folder (or one this script wrote)" >&2
    exit 2
fi
mkdir -p "$out"
collected_at=$(date -u +%Y-%m-%dT%H:%M:%SZ)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
errors=$work/errors

# Runs one CLI call; its JSON goes to FILE only when it succeeds (written to a hidden name
# first, which backup-audit ignores, then renamed). Returns the CLI's exit status.
save() {
    local file=$1
    shift
    mkdir -p "$(dirname "$file")"
    local tmp
    tmp="$(dirname "$file")/.$(basename "$file").partial"
    if "$aws" --region "$region" --output json "$@" >"$tmp" 2>"$errors"; then
        mv "$tmp" "$file"
        return 0
    fi
    rm -f "$tmp"
    return 1
}

# The first line of the last call's error, safe inside a JSON string.
last_error() {
    sed -n '/./{p;q;}' "$errors" | tr -d '"\\' | tr '\t' ' '
}

fail() { # fail COMMAND: one line of snapshot.json "Failures"
    echo "{\"Account\": \"$account\", \"Region\": \"$region\", \"Command\": \"$1\", \"Error\": \"$(last_error)\"}" >>"$work/failures-$region"
    echo "warning: account $account region $region: $1 not collected: $(last_error)" >&2
}

# The values of a top-level member field of a saved list (`"Key": "value"`). AWS restricts
# the fields read this way (vault, framework and report plan names, plan and selection ids,
# ARNs) to characters that need no JSON escaping.
field() { # field FILE KEY
    sed -n "s/^ *\"$2\": \"\\([^\"]*\\)\",\\{0,1\\}\$/\\1/p" "$1"
}

# Percent-encodes every byte but ASCII letters and digits: an ARN as one file name.
pct() {
    local s=$1 out='' c i
    for ((i = 0; i < ${#s}; i++)); do
        c=${s:i:1}
        case $c in
        [a-zA-Z0-9]) out+=$c ;;
        *) out+=$(printf '%%%02X' "'$c") ;;
        esac
    done
    printf '%s' "$out"
}

# A list command: DIR/COMMAND.json. Returns non-zero when it was not collected.
list() { # list COMMAND CLI-ARGS...
    local command=$1
    shift
    save "$dir/$command.json" "$@" || {
        fail "$command"
        return 1
    }
}

# One entity of a per-entity command: DIR/COMMAND/KEY.json. A failure marks the whole command
# for removal; `not_found_is_none` makes ResourceNotFoundException mean "none" (no file).
entity() { # entity COMMAND KEY not_found_is_none|strict CLI-ARGS...
    local command=$1 key=$2 mode=$3
    shift 3
    mkdir -p "$dir/$command/$(dirname "$key")"
    save "$dir/$command/$key.json" "$@" && return 0
    if [ "$mode" = not_found_is_none ] && grep -q ResourceNotFoundException "$errors"; then
        return 0
    fi
    [ -n "${broken[$command]:-}" ] || fail "$command"
    broken[$command]=1
}

account=$("$aws" --region "${regions[0]}" --output text sts get-caller-identity --query Account 2>"$errors") || {
    echo "error: cannot tell which account the credentials belong to (sts get-caller-identity): $(last_error)" >&2
    exit 2
}

# One region, in a background process of its own (regions are collected at once).
collect_region() {
    region=$1
    errors=$work/errors-$region
    dir="$out/$account/$region"
    declare -A broken=()
    echo "collecting account $account region $region" >&2

    list list-backup-jobs backup list-backup-jobs
    list list-copy-jobs backup list-copy-jobs
    list list-restore-jobs backup list-restore-jobs

    mkdir -p "$dir/describe-backup-vault" "$dir/get-backup-vault-access-policy" "$dir/list-recovery-points-by-backup-vault"
    if list list-backup-vaults backup list-backup-vaults; then
        for vault in $(field "$dir/list-backup-vaults.json" BackupVaultName); do
            entity describe-backup-vault "$vault" strict backup describe-backup-vault --backup-vault-name "$vault"
            entity get-backup-vault-access-policy "$vault" not_found_is_none \
                backup get-backup-vault-access-policy --backup-vault-name "$vault"
            entity list-recovery-points-by-backup-vault "$vault" strict \
                backup list-recovery-points-by-backup-vault --backup-vault-name "$vault"
        done
    else
        broken[describe-backup-vault]=1 broken[get-backup-vault-access-policy]=1 broken[list-recovery-points-by-backup-vault]=1
    fi

    mkdir -p "$dir/get-backup-plan" "$dir/list-backup-selections" "$dir/get-backup-selection"
    if list list-backup-plans backup list-backup-plans; then
        for plan in $(field "$dir/list-backup-plans.json" BackupPlanId); do
            entity get-backup-plan "$plan" strict backup get-backup-plan --backup-plan-id "$plan"
            if entity list-backup-selections "$plan" strict backup list-backup-selections --backup-plan-id "$plan" \
                && [ -f "$dir/list-backup-selections/$plan.json" ]; then
                for selection in $(field "$dir/list-backup-selections/$plan.json" SelectionId); do
                    entity get-backup-selection "$plan/$selection" strict \
                        backup get-backup-selection --backup-plan-id "$plan" --selection-id "$selection"
                done
            else
                broken[get-backup-selection]=1
            fi
        done
    else
        broken[get-backup-plan]=1 broken[list-backup-selections]=1 broken[get-backup-selection]=1
    fi

    mkdir -p "$dir/describe-protected-resource"
    if list list-protected-resources backup list-protected-resources; then
        for arn in $(field "$dir/list-protected-resources.json" ResourceArn); do
            # A resource AWS Backup no longer describes has no detail file, as with backup-audit.
            entity describe-protected-resource "$(pct "$arn")" not_found_is_none \
                backup describe-protected-resource --resource-arn "$arn"
        done
    else
        broken[describe-protected-resource]=1
    fi

    mkdir -p "$dir/describe-framework"
    if list list-frameworks backup list-frameworks; then
        for name in $(field "$dir/list-frameworks.json" FrameworkName); do
            entity describe-framework "$name" strict backup describe-framework --framework-name "$name"
        done
    else
        broken[describe-framework]=1
    fi

    mkdir -p "$dir/describe-report-plan"
    if list list-report-plans backup list-report-plans; then
        for name in $(field "$dir/list-report-plans.json" ReportPlanName); do
            entity describe-report-plan "$name" strict backup describe-report-plan --report-plan-name "$name"
        done
    else
        broken[describe-report-plan]=1
    fi

    list get-resources resourcegroupstaggingapi get-resources
    list describe-instances ec2 describe-instances

    # Optional: the account's path in AWS Organizations, parent by parent up to the root.
    child=$account
    for _ in 1 2 3 4 5 6 7; do
        save "$dir/list-parents/$child.json" organizations list-parents --child-id "$child" || break
        parent=$(field "$dir/list-parents/$child.json" Id)
        grep -q '"Type": "ROOT"' "$dir/list-parents/$child.json" && break
        child=$parent
    done
    rmdir "$dir/list-parents" 2>/dev/null || true

    # A per-entity command that failed for some entity is not collected at all.
    for command in "${!broken[@]}"; do
        rm -rf "${dir:?}/$command"
    done
}

for region in "${regions[@]}"; do
    collect_region "$region" &
done
wait

# Failures of earlier runs into OUT (other accounts) are kept.
failures=()
if [ -f "$out/snapshot.json" ]; then
    while IFS= read -r line; do
        failures+=("$line")
    done < <(sed -n 's/^ *\({"Account".*}\),\{0,1\}$/\1/p' "$out/snapshot.json")
fi
for region in "${regions[@]}"; do
    [ -f "$work/failures-$region" ] || continue
    while IFS= read -r line; do
        failures+=("$line")
    done <"$work/failures-$region"
done

{
    printf '{\n  "CollectedAt": "%s",\n  "Collector": "scripts/snapshot-with-aws-cli.sh",\n  "Failures": [' "$collected_at"
    sep=''
    for f in "${failures[@]}"; do
        printf '%s\n    %s' "$sep" "$f"
        sep=','
    done
    printf '\n  ]\n}\n'
} >"$out/.snapshot.json.partial" && mv "$out/.snapshot.json.partial" "$out/snapshot.json"

echo "wrote $out (account $account, ${#regions[@]} region(s), ${#failures[@]} failure(s))" >&2
[ ${#failures[@]} -eq 0 ] || exit 4
exit 0
