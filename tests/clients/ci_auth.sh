#!/usr/bin/env bash
# Starts a release trainyard WITH authentication on a fresh data directory (so it creates the
# local default project, user and access key in credentials.json), adds a second project with
# its own user and key, then runs, depending on MODE:
#   clients      the real-client checks (huaweicloudsdkcore signer, otcextensions)
#   conformance  the conformance suite with AK/SK, token login and the second project
#   all          both
# Usage: tests/clients/ci_auth.sh MODE TRAINYARD_BIN SHARED_DIR [conformance.py args...]
# Needs: pip install huaweicloudsdkcore otcextensions (for clients). Exits non-zero on failure.
set -euo pipefail
MODE=${1:?MODE: clients|conformance|all}
BIN=${2:?path of the trainyard binary}
SHARED=${3:?path of shared/}
shift 3
cd "$(dirname "$0")/../.."
PORT=${TRAINYARD_AUTH_PORT:-18766}
DATA=$(mktemp -d)
# the boot scripts of the conformance cases: a directory the workers' user (nobody, when CI runs
# as root) can read, under an allowed root (/tmp)
WORK=$(mktemp -d)
chmod 0755 "$WORK"
"$BIN" serve --listen "127.0.0.1:$PORT" --data-dir "$DATA" > "$DATA/server.log" 2>&1 &
SERVER=$!
cleanup() {
  kill "$SERVER" 2>/dev/null || true
  wait "$SERVER" 2>/dev/null || true
  if [ "${rc:-1}" != 0 ]; then echo "---- server log (tail)"; tail -n 40 "$DATA/server.log" || true; fi
  rm -rf "$DATA" "$WORK"
}
trap cleanup EXIT
for _ in $(seq 1 150); do
  [ -s "$DATA/credentials.json" ] && curl -sf -o /dev/null "http://127.0.0.1:$PORT/v3" && break
  sleep 0.2
done
[ -s "$DATA/credentials.json" ] || { echo "server did not write credentials.json"; exit 1; }
field() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$1" "$2"; }
CREDS="$DATA/credentials.json"
"$BIN" projects add second --data-dir "$DATA" --json > "$DATA/p2.json"
"$BIN" users add second-user --projects second --data-dir "$DATA" --json > /dev/null
"$BIN" keys create --user second-user --data-dir "$DATA" --json > "$DATA/k2.json"
# The client checks make wrong signatures on purpose; they get a key of their own (failed
# signatures are throttled per client address after 20, never per key: docs/auth.md).
"$BIN" keys create --user "$(field "$CREDS" username)" --data-dir "$DATA" --json > "$DATA/kc.json"
rc=0
if [ "$MODE" = clients ] || [ "$MODE" = all ]; then
  echo "==== huaweicloudsdkcore signer"
  python3 tests/clients/huaweicloud_signer.py --credentials "$CREDS" \
    --ak "$(field "$DATA/kc.json" access_key)" --sk "$(field "$DATA/kc.json" secret_key)" || rc=1
  echo "==== otcextensions"
  python3 tests/clients/otc_openstack.py --credentials "$CREDS" || rc=1
fi
if [ "$MODE" = conformance ] || [ "$MODE" = all ]; then
  echo "==== conformance with authentication"
  TRAINYARD_ENDPOINT="http://127.0.0.1:$PORT" \
  TRAINYARD_PROJECT_ID="$(field "$CREDS" project_id)" \
  TRAINYARD_ACCESS_KEY="$(field "$CREDS" access_key)" \
  TRAINYARD_SECRET_KEY="$(field "$CREDS" secret_key)" \
  TRAINYARD_USERNAME="$(field "$CREDS" username)" \
  TRAINYARD_PASSWORD="$(field "$CREDS" password)" \
  TRAINYARD_DOMAIN="$(field "$CREDS" domain)" \
  TRAINYARD_PROJECT_ID_2="$(field "$DATA/p2.json" project_id)" \
  TRAINYARD_ACCESS_KEY_2="$(field "$DATA/k2.json" access_key)" \
  TRAINYARD_SECRET_KEY_2="$(field "$DATA/k2.json" secret_key)" \
    python3 "$SHARED/conformance/conformance.py" --workdir "$WORK" "$@" || rc=1
fi
exit $rc
