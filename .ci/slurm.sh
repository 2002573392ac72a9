#!/usr/bin/env bash
# CI part of issue 10: a real Slurm 22.05 from Debian's packages, two nodes (two slurmd) on this
# host in a temporary directory, loopback only, on free ports; the Slurm executor's integration
# tests against it (TRAINYARD_REQUIRE_SLURM=1: a missing cluster fails them), then the WHOLE
# public conformance suite against a release server with --executor slurm and authentication
# on (tests/clients/ci_auth.sh). The daemons are stopped by PID on any exit (trap).
# Usage: .ci/slurm.sh   (from .ci/run, after the release build; needs root for apt and slurmd)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
SHARED=${TRAINYARD_SHARED:-$ROOT/../shared}
export CARGO_TERM_COLOR=never

T0=$(date +%s)
STEP_T=$T0
STEP_NAME=""
step() {
  local now; now=$(date +%s)
  [ -n "$STEP_NAME" ] && printf '==== slurm: %s took %d s\n' "$STEP_NAME" $((now - STEP_T))
  STEP_NAME="$*"; STEP_T=$now
  [ -n "$STEP_NAME" ] && printf '\n==== slurm: %s (%s)\n' "$STEP_NAME" "$(date -u +%H:%M:%S)"
  return 0
}

step "install Slurm (Debian packages, --no-install-recommends)"
if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null || ! command -v sbatch >/dev/null \
   || ! command -v munged >/dev/null; then
  apt-get update -q
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
    slurmctld slurmd slurm-client munge
fi
slurmctld -V
# the digits example runs as the worker user (nobody), with Debian's python3 (.ci/contain.sh)
if ! setpriv --reuid=nobody --regid=nogroup --clear-groups /usr/bin/python3 -c 'import sklearn, joblib' 2>/dev/null; then
  apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends python3-sklearn
fi
export TRAINYARD_REQUIRE_SKLEARN=1

step "start a two-node cluster"
# free ports: slurmctld, slurmd n1 (P) and n2 (P+1), the server of the conformance run
read -r CTLD SLURMD AUTH_PORT < <(python3 - <<'EOF'
import random, socket
def free(p):
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", p))
        return True
    except OSError:
        return False
    finally:
        s.close()
taken = set()
def pick(n):
    while True:
        p = random.randint(20000, 59000)
        span = set(range(p, p + n))
        if not (span & taken) and all(free(q) for q in span):
            taken.update(span)
            return p
print(pick(1), pick(2), pick(1))
EOF
)
WORK=$(mktemp -d /tmp/ty-slurm.XXXXXX)
chmod 755 "$WORK"   # munged wants every directory above its socket a+x
CLUSTER=$WORK/cluster
cleanup() {
  rc=$?
  step ""
  echo "==== slurm: stopping the cluster (by PID)"
  bash tests/slurm/slurm-local-down.sh "$CLUSTER" --purge || true
  rm -rf "$WORK"
  printf '==== slurm: CI part took %d s (rc=%d)\n' $(( $(date +%s) - T0 )) "$rc"
  exit "$rc"
}
trap cleanup EXIT
# 8 CPUs per node advertised (config_overrides) so the suites' small jobs run side by side;
# memory enforced by jobacct_gather's OverMemoryKill; finished jobs purged after 10 s, so the
# executor's sacct -c path (job completion log) is exercised too
SLURM_LOCAL_CTLD_PORT=$CTLD SLURM_LOCAL_SLURMD_PORT=$SLURMD SLURM_LOCAL_NODES=2 \
SLURM_LOCAL_CPUS=8 SLURM_LOCAL_MEMORY=1 SLURM_LOCAL_MINJOBAGE=10 SLURM_LOCAL_WARMUP=1 \
  bash tests/slurm/slurm-local-up.sh "$CLUSTER"
export SLURM_CONF=$CLUSTER/etc/slurm.conf
sinfo -N -o '%N %c %m %T'

export TRAINYARD_TEST_SLURM_DIR=$CLUSTER TRAINYARD_REQUIRE_SLURM=1

step "Slurm executor integration tests (executor, server, binary)"
# (--workspace: the same features as .ci/run's `cargo test --workspace`, so nothing rebuilds)
cargo test --locked --workspace --no-fail-fast --test it slurm::

step "the whole conformance suite on --executor slurm, with authentication"
BIN=./target/release/trainyard
[ -x "$BIN" ] || cargo build --release --locked -p trainyard
TRAINYARD_EXECUTOR=slurm TRAINYARD_AUTH_PORT=$AUTH_PORT \
  bash tests/clients/ci_auth.sh conformance "$BIN" "$SHARED"
step ""
