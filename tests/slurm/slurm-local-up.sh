#!/usr/bin/env bash
# slurm-local-up.sh DIR — bring up a one-node Slurm 22.05 cluster (munged +
# slurmctld + slurmd, optionally slurmrestd) on loopback, as root, without
# systemd and without cgroups. Config, keys, state, spool, logs, sockets and
# pid files all live under DIR (sockets/spool move to a short /tmp dir when
# DIR is too long for a unix socket path); nothing in /etc, /run or /var is
# touched, so several clusters can coexist on different ports.
#
# Needs (Debian 12):  apt-get install -y --no-install-recommends \
#     slurmctld slurmd slurm-client munge  [slurmrestd slurm-wlm-jwt-plugin curl]
#
# Environment knobs (all optional):
#   SLURM_LOCAL_CTLD_PORT   slurmctld port                           (default 6817)
#   SLURM_LOCAL_SLURMD_PORT slurmd port (node 2 uses it + 1)         (default 6818)
#   SLURM_LOCAL_NODES       1 | 2: two slurmd daemons (nodes n1, n2) on this one host;
#                           the Debian build has MULTIPLE_SLURMD, so --nodes=2 jobs
#                           really run one task per node (each node advertises all
#                           CPUs and 90% of memory: they share the machine)  (default 1)
#   SLURM_LOCAL_REST        0 | jwt (or 1) | local                   (default 0)
#                           jwt:   slurmrestd on 127.0.0.1:REST_PORT, rest_auth/jwt,
#                                  acts as the user named in the token
#                           local: slurmrestd on unix socket DIR/run/rest/slurmrestd.socket,
#                                  rest_auth/local, every request acts as REST_USER
#   SLURM_LOCAL_REST_PORT   slurmrestd TCP port                      (default 6820)
#   SLURM_LOCAL_REST_USER   user slurmrestd runs as (refuses root)   (default nobody)
#   SLURM_LOCAL_MINJOBAGE   s finished jobs stay in squeue/scontrol  (default 3600)
#   SLURM_LOCAL_SCHED_DELAY SchedulerParameters batch_sched_delay    (default 0; Slurm's is 3)
#   SLURM_LOCAL_TIMEOUT     s to wait for the node to become idle    (default 60)
#   SLURM_LOCAL_CPUS        CPUs each node advertises (default: nproc; more lets more
#                           small jobs run at once on this shared machine)
#   SLURM_LOCAL_MEMORY      1 = memory is a consumable and enforced: CR_Core_Memory,
#                           DefMemPerCPU=100, JobAcctGatherParams=OverMemoryKill sampled
#                           every second (a step over its --mem is killed: OUT_OF_MEMORY)
#   SLURM_LOCAL_CGROUP      1 = task/cgroup + proctrack/cgroup (cgroup v1, ConstrainRAMSpace):
#                           a job over its --mem is OOM-killed by the kernel and ends
#                           OUT_OF_MEMORY; slurm-local-down.sh removes the slurm_* cgroups
#   SLURM_LOCAL_WARMUP      1 = run one job (name "warmup") before returning, so
#                           the cluster is proven to run jobs; slurmctld does not
#                           start any job until ~3 s after its start (default 0)
#
# On success prints shell-sourceable lines (also written to DIR/env.sh):
#   export SLURM_CONF=DIR/etc/slurm.conf
#   MUNGED_PID=.. SLURMCTLD_PID=.. SLURMD_PID=.. [SLURMD2_PID=..] [SLURMRESTD_PID=.. SLURMRESTD_URL=..
#   SLURMRESTD_TOKEN=.. | SLURMRESTD_SOCKET=..]  STARTUP_SECONDS=..
# On failure stops what it started and exits 1.  Stop with slurm-local-down.sh DIR.
set -euo pipefail

DIR=${1:?usage: slurm-local-up.sh DIR}
mkdir -p "$DIR"
DIR=$(cd "$DIR" && pwd -P)

CTLD_PORT=${SLURM_LOCAL_CTLD_PORT:-6817}
SLURMD_PORT=${SLURM_LOCAL_SLURMD_PORT:-6818}
REST=${SLURM_LOCAL_REST:-0}; [ "$REST" = 1 ] && REST=jwt
REST_PORT=${SLURM_LOCAL_REST_PORT:-6820}
REST_USER=${SLURM_LOCAL_REST_USER:-nobody}
MINJOBAGE=${SLURM_LOCAL_MINJOBAGE:-3600}
SCHED_DELAY=${SLURM_LOCAL_SCHED_DELAY:-0}
TIMEOUT=${SLURM_LOCAL_TIMEOUT:-60}
NODES=${SLURM_LOCAL_NODES:-1}
case "$NODES" in 1|2) ;; *) echo "slurm-local-up: SLURM_LOCAL_NODES must be 1 or 2" >&2; exit 1 ;; esac

NODE=$(hostname -s)
NCPU=${SLURM_LOCAL_CPUS:-$(nproc)}
# 90% of MemTotal in MiB, so jobs may ask for --mem without the node going INVAL
MEM=$(awk '/^MemTotal:/ {printf "%d", $2/1024*0.9}' /proc/meminfo)

case "$(getent hosts "$NODE" | awk '{print $1; exit}')" in
  127.*|::1) ;;
  *) echo "slurm-local-up: warning: $NODE does not resolve to loopback; srun may listen on its address" >&2 ;;
esac

t0=$(date +%s.%N)
STARTED=()   # pids to stop if we fail half-way
log() { echo "slurm-local-up: $*" >&2; }
die() {
  log "ERROR: $*"
  for f in "$DIR"/log/*.log; do [ -f "$f" ] && { echo "--- $f" >&2; tail -15 "$f" >&2; }; done
  for p in "${STARTED[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  sleep 2; for p in "${STARTED[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
  exit 1
}
need() { command -v "$1" >/dev/null || die "$1 not found: apt-get install -y --no-install-recommends $2"; }
need munged munge; need slurmctld slurmctld; need slurmd slurmd; need sbatch slurm-client
port_busy() { ss -Hltn "sport = :$1" 2>/dev/null | grep -q .; }

if [ -f "$DIR/env.sh" ]; then   # refuse to start twice on the same dir
  for p in $(grep -o '_PID=[0-9]*' "$DIR/env.sh" | cut -d= -f2); do
    if kill -0 "$p" 2>/dev/null && { tr '\0' ' ' < "/proc/$p/cmdline"; } 2>/dev/null | grep -qF "$DIR/"; then
      die "cluster in $DIR looks running (pid $p); run slurm-local-down.sh first"
    fi
  done
fi
for p in "$CTLD_PORT" "$SLURMD_PORT" $([ "$NODES" = 2 ] && echo $((SLURMD_PORT + 1))); do port_busy "$p" && die "port $p already in use (set SLURM_LOCAL_*_PORT)"; done
if [ "$REST" = jwt ]; then port_busy "$REST_PORT" && die "port $REST_PORT already in use"; fi

mkdir -p "$DIR"/{etc,state,log,pids}
# unix socket paths are limited to 108 bytes (munged refuses longer ones; the
# slurmd spool holds step sockets too): keep sockets + spool in DIR/run when
# DIR is short, else in a short mktemp dir under /tmp that down.sh removes.
if [ ${#DIR} -le 60 ]; then RUN=$DIR/run; mkdir -p "$RUN"
else RUN=$(mktemp -d /tmp/slurm-local.XXXXXX); ln -sfn "$RUN" "$DIR/run"; fi
mkdir -p "$RUN/munge" "$RUN/spool"
if [ "$NODES" = 2 ]; then
  NODENAMES="n1 n2"; mkdir -p "$RUN/spool/n1" "$RUN/spool/n2"
  SPOOL=$RUN/spool/%n; SLURMD_PIDF=$DIR/pids/slurmd-%n.pid; SLURMD_LOGF=$DIR/log/slurmd-%n.log
  NODE_LINES="NodeName=n1 NodeAddr=127.0.0.1 NodeHostname=$NODE Port=$SLURMD_PORT CPUs=$NCPU Sockets=1 CoresPerSocket=$NCPU ThreadsPerCore=1 RealMemory=$MEM State=UNKNOWN
NodeName=n2 NodeAddr=127.0.0.1 NodeHostname=$NODE Port=$((SLURMD_PORT + 1)) CPUs=$NCPU Sockets=1 CoresPerSocket=$NCPU ThreadsPerCore=1 RealMemory=$MEM State=UNKNOWN"
  PART_NODES="n[1-2]"
else
  NODENAMES="$NODE"
  SPOOL=$RUN/spool; SLURMD_PIDF=$DIR/pids/slurmd.pid; SLURMD_LOGF=$DIR/log/slurmd.log
  NODE_LINES="NodeName=$NODE NodeAddr=127.0.0.1 NodeHostname=$NODE CPUs=$NCPU Sockets=1 CoresPerSocket=$NCPU ThreadsPerCore=1 RealMemory=$MEM State=UNKNOWN"
  PART_NODES="$NODE"
fi
chmod 755 "$DIR" "$RUN" "$RUN/munge"  # munged: socket dir must be a+x, not group/other-writable

# ---------------------------------------------------------------- munge ----
KEY=$DIR/etc/munge.key
if [ ! -s "$KEY" ]; then
  if command -v mungekey >/dev/null; then mungekey --create --keyfile="$KEY" --force >/dev/null
  else dd if=/dev/urandom of="$KEY" bs=1 count=1024 status=none; fi
fi
chmod 600 "$KEY"
SOCK=$RUN/munge/munge.socket.2
rm -f "$SOCK" "$SOCK.lock"
# munged daemonizes itself and writes --pid-file; it runs fine as root here.
munged --key-file="$KEY" --socket="$SOCK" --pid-file="$DIR/pids/munged.pid" \
       --log-file="$DIR/log/munged.log" --seed-file="$DIR/etc/munged.seed" \
       --num-threads=2 || die "munged failed to start"
MUNGED_PID=$(cat "$DIR/pids/munged.pid"); STARTED+=("$MUNGED_PID")
for _ in $(seq 50); do [ -S "$SOCK" ] && break; sleep 0.1; done
munge -S "$SOCK" -n </dev/null | unmunge -S "$SOCK" >/dev/null || die "munge round trip failed"

# ----------------------------------------------------------- slurm.conf ----
if [ "${SLURM_LOCAL_CGROUP:-0}" = 1 ]; then
  [ -d /sys/fs/cgroup/memory ] && [ -d /sys/fs/cgroup/freezer ] \
    || die "SLURM_LOCAL_CGROUP=1 needs cgroup v1 memory and freezer hierarchies under /sys/fs/cgroup"
  TRACK_LINES="ProctrackType=proctrack/cgroup
TaskPlugin=task/cgroup"
  cat > "$DIR/etc/cgroup.conf" <<EOC
CgroupPlugin=cgroup/v1
CgroupMountpoint=/sys/fs/cgroup
ConstrainRAMSpace=yes
ConstrainSwapSpace=yes
AllowedSwapSpace=0
EOC
  chmod 644 "$DIR/etc/cgroup.conf"
else
  TRACK_LINES="# no cgroups, no systemd
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none"
fi
if [ "${SLURM_LOCAL_CGROUP:-0}" = 1 ]; then
  # memory is a consumable and the kernel enforces --mem in the job's memory cgroup
  SELECT_PARAMS="CR_Core_Memory
DefMemPerCPU=100"
  ACCT_LINES="JobAcctGatherFrequency=30"
elif [ "${SLURM_LOCAL_MEMORY:-0}" = 1 ]; then
  # memory becomes a consumable (jobs without --mem get 100 MB per CPU) and jobacct_gather
  # kills a step whose sampled RSS exceeds its allocation (no cgroups needed)
  SELECT_PARAMS="CR_Core_Memory
DefMemPerCPU=100"
  ACCT_LINES="JobAcctGatherFrequency=task=1
JobAcctGatherParams=OverMemoryKill"
else
  SELECT_PARAMS=CR_Core
  ACCT_LINES="JobAcctGatherFrequency=30"
fi
JWT_LINES=""
if [ "$REST" = jwt ]; then
  need slurmrestd slurmrestd; need curl curl
  [ -f /usr/lib/x86_64-linux-gnu/slurm-wlm/auth_jwt.so ] || [ -n "$(find /usr/lib -name auth_jwt.so 2>/dev/null | head -1)" ] \
    || die "auth_jwt.so missing: apt-get install -y slurm-wlm-jwt-plugin"
  [ -s "$DIR/etc/jwt_hs256.key" ] || dd if=/dev/urandom of="$DIR/etc/jwt_hs256.key" bs=32 count=1 status=none
  chmod 600 "$DIR/etc/jwt_hs256.key"
  JWT_LINES="AuthAltTypes=auth/jwt
AuthAltParameters=jwt_key=$DIR/etc/jwt_hs256.key"
fi

cat > "$DIR/etc/slurm.conf" <<EOF
# generated by slurm-local-up.sh (trainyard copy of shared/design/slurm): one node, loopback, no systemd, no cgroups
ClusterName=local
SlurmctldHost=$NODE(127.0.0.1)
SlurmctldPort=$CTLD_PORT
SlurmdPort=$SLURMD_PORT
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$SOCK
$JWT_LINES
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$SPOOL
SlurmctldPidFile=$DIR/pids/slurmctld.pid
SlurmdPidFile=$SLURMD_PIDF
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$SLURMD_LOGF
SlurmctldDebug=info
SlurmdDebug=info
MailProg=/bin/true
$TRACK_LINES
JobAcctGatherType=jobacct_gather/linux
$ACCT_LINES
MpiDefault=none
SwitchType=switch/none
# bind slurmctld/slurmd/srun/slurmstepd to the configured/resolved address
# (127.0.0.1 here) instead of 0.0.0.0
CommunicationParameters=NoCtldInAddrAny,NoInAddrAny
# no slurmdbd: plain sacct fails ("Slurm accounting storage is disabled").
# Finished jobs stay in slurmctld memory MinJobAge seconds (squeue -t all,
# scontrol show job) and are appended to the job-completion text log, which
# 'sacct -c' reads (state + ExitCode, no steps).
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc=$DIR/log/jobcomp.txt
MinJobAge=$MINJOBAGE
# scheduling: Slurm's default batch_sched_delay=3 leaves ~3 s between one job
# ending and the next pending one starting; 0 makes it ~1 s.
SchedulerType=sched/backfill
SchedulerParameters=batch_sched_delay=$SCHED_DELAY
SelectType=select/cons_tres
SelectTypeParameters=$SELECT_PARAMS
ReturnToService=2
SlurmdParameters=config_overrides
KillWait=5
InactiveLimit=0
Waittime=0
SlurmctldTimeout=30
SlurmdTimeout=60
$NODE_LINES
PartitionName=debug Nodes=$PART_NODES Default=YES MaxTime=INFINITE State=UP OverSubscribe=NO
EOF
chmod 644 "$DIR/etc/slurm.conf"; chmod 755 "$DIR/etc"
export SLURM_CONF=$DIR/etc/slurm.conf

# ------------------------------------------------------------ slurmctld ----
# Without -D it daemonizes and writes SlurmctldPidFile. -i: ignore state it
# cannot recover. (Restarting on an existing DIR recovers the queue.)
rm -f "$DIR/pids/slurmctld.pid" "$DIR"/pids/slurmd*.pid
slurmctld -f "$SLURM_CONF" -i || die "slurmctld failed to start"
for _ in $(seq 50); do [ -s "$DIR/pids/slurmctld.pid" ] && break; sleep 0.1; done
SLURMCTLD_PID=$(cat "$DIR/pids/slurmctld.pid" 2>/dev/null) || die "slurmctld wrote no pid file"
STARTED+=("$SLURMCTLD_PID")
for _ in $(seq 100); do
  kill -0 "$SLURMCTLD_PID" 2>/dev/null || die "slurmctld exited"
  scontrol ping 2>/dev/null | grep -q 'is UP' && break; sleep 0.1
done
scontrol ping 2>/dev/null | grep -q 'is UP' || die "slurmctld did not answer"

# --------------------------------------------------------------- slurmd ----
SLURMD_PIDS=()
for n in $NODENAMES; do
  pf=$DIR/pids/slurmd.pid; [ "$NODES" = 2 ] && pf=$DIR/pids/slurmd-$n.pid
  slurmd -f "$SLURM_CONF" -N "$n" || die "slurmd $n failed to start"
  for _ in $(seq 50); do [ -s "$pf" ] && break; sleep 0.1; done
  p=$(cat "$pf" 2>/dev/null) || die "slurmd $n wrote no pid file"
  STARTED+=("$p"); SLURMD_PIDS+=("$p")
done
SLURMD_PID=${SLURMD_PIDS[0]}
deadline=$(( $(date +%s) + TIMEOUT )); state=""
while [ "$(date +%s)" -lt "$deadline" ]; do
  for p in "${SLURMD_PIDS[@]}"; do kill -0 "$p" 2>/dev/null || die "slurmd ($p) exited"; done
  state=$(sinfo -h -N -o '%T' 2>/dev/null | sort -u | tr '\n' ' ' | sed 's/ $//' || true)
  case "$state" in idle|mixed|allocated) break ;; esac
  sleep 0.1
done
case "$state" in idle|mixed|allocated) ;; *) die "nodes $NODENAMES not idle (states '$state')" ;; esac
if [ "${SLURM_LOCAL_WARMUP:-0}" = 1 ]; then
  # (not sbatch --wait: it polls with growing sleeps and returns seconds late)
  WJ=$(sbatch --parsable -J warmup -o /dev/null -D "$DIR" --wrap true) || die "warm-up sbatch failed"
  for _ in $(seq 300); do
    ws=$(squeue -h -t all -j "$WJ" -o %T 2>/dev/null || true)
    case "$ws" in COMPLETED) break ;; FAILED|CANCELLED|TIMEOUT|NODE_FAIL) die "warm-up job $ws" ;; esac
    sleep 0.1
  done
  [ "$ws" = COMPLETED ] || die "warm-up job did not complete in 30 s (state '$ws')"
fi

# ----------------------------------------------------------- slurmrestd ----
# slurmrestd refuses root ("should not be run as the root user") and, without
# slurmdbd, dies on its default plugin set ("slurm not configured with
# slurmdbd"): run it as REST_USER via setpriv (an exec, so $! is its own PID)
# and load only the non-db openapi plugins with -s.
REST_LINES=""
REST_PLUGINS=openapi/v0.0.38,openapi/v0.0.37,openapi/v0.0.36
REST_UID=$(id -u "$REST_USER" 2>/dev/null || echo 65534); REST_GID=$(id -g "$REST_USER" 2>/dev/null || echo 65534)
if [ "$REST" = jwt ]; then
  # SLURM_JWT=daemon: slurmrestd authenticates to slurmctld with the token each
  # request carries (X-SLURM-USER-NAME / X-SLURM-USER-TOKEN); no munge needed.
  SLURM_JWT=daemon nohup setsid setpriv --reuid="$REST_UID" --regid="$REST_GID" --clear-groups \
      slurmrestd -f "$SLURM_CONF" -s "$REST_PLUGINS" -a rest_auth/jwt "127.0.0.1:$REST_PORT" \
      >"$DIR/log/slurmrestd.log" 2>&1 </dev/null &
  SLURMRESTD_PID=$!; STARTED+=("$SLURMRESTD_PID"); echo "$SLURMRESTD_PID" > "$DIR/pids/slurmrestd.pid"
  TOKEN=$(scontrol token username=root lifespan=86400 | sed -n 's/^SLURM_JWT=//p')
  [ -n "$TOKEN" ] || die "scontrol token failed"
  ok=""
  for _ in $(seq 100); do
    kill -0 "$SLURMRESTD_PID" 2>/dev/null || break
    code=$(curl -s -o /dev/null -w '%{http_code}' -H "X-SLURM-USER-NAME: root" -H "X-SLURM-USER-TOKEN: $TOKEN" \
           "http://127.0.0.1:$REST_PORT/slurm/v0.0.38/ping" 2>/dev/null || true)
    [ "$code" = 200 ] && { ok=1; break; }
    sleep 0.1
  done
  [ -n "$ok" ] || die "slurmrestd did not answer on 127.0.0.1:$REST_PORT"
  REST_LINES="SLURMRESTD_PID=$SLURMRESTD_PID
SLURMRESTD_URL=http://127.0.0.1:$REST_PORT
SLURMRESTD_TOKEN=$TOKEN"
elif [ "$REST" = local ]; then
  need slurmrestd slurmrestd; need curl curl
  # rest_auth/local only accepts unix-socket clients (TCP gets 401) and acts
  # as slurmrestd's own user (munge) whoever connects.
  mkdir -p "$RUN/rest"; chown "$REST_UID:$REST_GID" "$RUN/rest"; chmod 755 "$RUN/rest"
  RSOCK=$RUN/rest/slurmrestd.socket; rm -f "$RSOCK"
  nohup setsid setpriv --reuid="$REST_UID" --regid="$REST_GID" --clear-groups \
      slurmrestd -f "$SLURM_CONF" -s "$REST_PLUGINS" -a rest_auth/local "unix:$RSOCK" \
      >"$DIR/log/slurmrestd.log" 2>&1 </dev/null &
  SLURMRESTD_PID=$!; STARTED+=("$SLURMRESTD_PID"); echo "$SLURMRESTD_PID" > "$DIR/pids/slurmrestd.pid"
  ok=""
  for _ in $(seq 100); do
    kill -0 "$SLURMRESTD_PID" 2>/dev/null || break
    code=$(curl -s -o /dev/null -w '%{http_code}' --unix-socket "$RSOCK" http://localhost/slurm/v0.0.38/ping 2>/dev/null || true)
    [ "$code" = 200 ] && { ok=1; break; }
    sleep 0.1
  done
  [ -n "$ok" ] || die "slurmrestd did not answer on $RSOCK"
  REST_LINES="SLURMRESTD_PID=$SLURMRESTD_PID
SLURMRESTD_SOCKET=$RSOCK"
fi

t1=$(date +%s.%N)
{
  echo "export SLURM_CONF=$SLURM_CONF"
  echo "SLURM_LOCAL_DIR=$DIR"
  echo "SLURM_LOCAL_RUN=$RUN"
  echo "SLURM_LOCAL_NODE=$NODE"
  echo "MUNGED_PID=$MUNGED_PID"
  echo "SLURMCTLD_PID=$SLURMCTLD_PID"
  echo "SLURM_LOCAL_NODES=$NODES"
  echo "SLURMD_PID=$SLURMD_PID"
  if [ "$NODES" = 2 ]; then echo "SLURMD2_PID=${SLURMD_PIDS[1]}"; fi
  if [ -n "$REST_LINES" ]; then echo "$REST_LINES"; fi
  echo "STARTUP_SECONDS=$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.2f", b-a}')"
} | tee "$DIR/env.sh"
