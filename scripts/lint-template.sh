#!/usr/bin/env bash
# Checks template.yaml the way a deployment would see it, offline and without AWS credentials:
#   sam validate --lint (which is cfn-lint), checkov (CloudFormation framework) and a real `sam build`,
#   which installs the layer from its lock, hashes checked. `--build-only`: just the build.
# The tools pin their own boto3 exactly (the SAM CLI one, checkov another), so they live in two virtual
# environments of their own: .venv-tools (SAM CLI, cfn-lint; override with CERTROTATE_TOOLS_VENV) from
# requirements-tools.txt and .venv-checkov (CERTROTATE_CHECKOV_VENV) from requirements-checkov.txt, both locked
# (`make tools-lock`, `make tools-upgrade`), each created or updated here when its lock changed.
# Skipped checkov checks are justified next to the resource, in its Metadata (checkov: skip: comment).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
venv="${CERTROTATE_TOOLS_VENV:-$root/.venv-tools}"
checkov_venv="${CERTROTATE_CHECKOV_VENV:-$root/.venv-checkov}"
python="${PYTHON:-python3.11}"

# No AWS account is involved: no telemetry, no instance metadata look-ups, a fixed region.
export SAM_CLI_TELEMETRY=0
export AWS_EC2_METADATA_DISABLED=true
export AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
unset AWS_PROFILE AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN

build_only=false
[[ "${1:-}" == "--build-only" ]] && build_only=true
log="$(mktemp -t certrotate-lint.XXXXXX)"
if $build_only; then # `make build`: keep the output where sam deploy looks for it
    build_dir="$root/.aws-sam/build"
    trap 'rm -f "$log"' EXIT
else
    build_dir="$(mktemp -d -t certrotate-build.XXXXXX)"
    trap 'rm -rf "$log" "$build_dir"' EXIT
fi

quietly() { # run a step, show its output only when it fails
    local what="$1"
    shift
    if "$@" >"$log" 2>&1; then
        echo "ok: $what"
    else
        local rc=$?
        echo "FAILED: $what (exit $rc)" >&2
        cat "$log" >&2
        exit "$rc"
    fi
}

# --- the tools' virtual environments (idempotent: reinstalled only when their lock changed)
tools_venv() { # tools_venv <venv> <lock> <executable>...
    local dir="$1" lock="$2"
    shift 2
    local stamp="$dir/.requirements.sha256" wanted missing=false
    wanted="$(sha256sum "$lock" | cut -d' ' -f1)"
    for tool in "$@"; do [[ -x "$dir/bin/$tool" ]] || missing=true; done
    if $missing || [[ "$(cat "$stamp" 2>/dev/null)" != "$wanted" ]]; then
        [[ -x "$dir/bin/python" ]] || quietly "create $dir" "$python" -m venv "$dir"
        # Exactly the lock: --no-deps, so that a package missing from it fails here instead of being resolved.
        quietly "install $lock" "$dir/bin/python" -m pip install --quiet --no-deps -r "$lock"
        quietly "check $dir" "$dir/bin/python" -m pip check
        echo "$wanted" >"$stamp"
    fi
}
tools_venv "$venv" requirements-tools.txt sam cfn-lint
$build_only || tools_venv "$checkov_venv" requirements-checkov.txt checkov

if ! $build_only; then
    # sam validate --lint runs cfn-lint (the version in requirements-tools.txt) over the template, its SAR
    # metadata (AWS::ServerlessRepo::Application) included.
    quietly "sam validate --lint" "$venv/bin/sam" validate --lint --region us-east-1 --template-file template.yaml
    # cfn-lint has no schema for the Serverless Application Repository metadata: rule E9101 checks it.
    quietly "cfn-lint SAR metadata (E9101)" "$venv/bin/cfn-lint" --append-rules scripts/cfnlint_rules -- \
        template.yaml
    quietly "checkov" "$checkov_venv/bin/checkov" --file template.yaml --framework cloudformation \
        --skip-download --compact --quiet
    # The member roles (deployed to each managed account) and the operators' policy: plain CloudFormation.
    for extra in member-role.yaml operator-policy.yaml; do
        quietly "cfn-lint $extra" "$venv/bin/cfn-lint" "$extra"
        quietly "checkov $extra" "$checkov_venv/bin/checkov" --file "$extra" --framework cloudformation \
            --skip-download --compact --quiet
    done
fi
# Builds the layer (pip, arm64 wheels, the lock's hashes checked) and both functions as `sam deploy` would.
quietly "sam build" "$venv/bin/sam" build --template-file template.yaml --build-dir "$build_dir" \
    --region us-east-1
for fn in ScanFunction RotateFunction; do
    [[ -f "$build_dir/$fn/app.py" ]] || { echo "FAILED: sam build produced no $fn/app.py" >&2; exit 1; }
done
layer_dir="$(find "$build_dir" -maxdepth 1 -type d -name 'CertRotateLayer*' | head -n1)"
[[ -n "$layer_dir" && -f "$layer_dir/python/certrotate/names.py" ]] \
    || { echo "FAILED: sam build produced no layer with python/certrotate/" >&2; exit 1; }
# Package data the code loads with importlib.resources (the staging roots) must be in the layer too.
[[ -f "$layer_dir/python/certrotate/roots/letsencrypt-staging.pem" ]] \
    || { echo "FAILED: the layer lacks certrotate/roots/letsencrypt-staging.pem" >&2; exit 1; }
# The layer ships bytecode (its Makefile): without it every cold start compiles what it imports.
[[ -n "$(find "$layer_dir/python/certrotate" -name 'names.*.pyc' -print -quit)" ]] \
    || { echo "FAILED: the layer holds no .pyc for certrotate (layers/certrotate/Makefile)" >&2; exit 1; }
# The layer holds exactly what the lock pins: nothing more (say, an SDK through an extra), nothing else.
normalized() { awk -F'==' '{ name = tolower($1); gsub(/[_.]/, "-", name); print name "==" $2 }' | sort; }
locked="$(grep -oE '^[A-Za-z0-9._-]+==[^ ;]+' layers/certrotate/requirements.txt | normalized)"
built="$(cd "$layer_dir/python" && for d in *.dist-info; do d="${d%.dist-info}"; echo "${d%-*}==${d##*-}"; done \
    | normalized)"
[[ "$locked" == "$built" ]] || {
    echo "FAILED: the built layer differs from layers/certrotate/requirements.txt:" >&2
    diff <(echo "$locked") <(echo "$built") >&2
    exit 1
}
echo "ok: the layer holds the $(wc -l <<<"$locked") packages of its lock"
$build_only && echo "built into $build_dir" || echo "template checks passed"
