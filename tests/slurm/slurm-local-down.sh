#!/usr/bin/env bash
# (trainyard copy of shared/design/slurm/slurm-local-down.sh; removes SLURM_LOCAL_CGROUP cgroups)
# slurm-local-down.sh DIR [--purge] — stop the cluster slurm-local-up.sh started
# in DIR, by the PIDs it recorded (never by process name). Pending/running jobs
# are cancelled first (up to 3 s wait); any slurmstepd of this cluster still
# alive then, and its job processes, get SIGKILL; then slurmrestd + slurmd get
# SIGTERM, then slurmctld + munged (SIGKILL after 10 s). Takes ~2-5 s.
# Removes the short /tmp run dir if up.sh had to make one; --purge also
# removes DIR.
set -uo pipefail
DIR=${1:?usage: slurm-local-down.sh DIR [--purge]}
[ -d "$DIR" ] || { echo "no such dir: $DIR"; exit 0; }
DIR=$(cd "$DIR" && pwd -P)
RUN=""; [ -f "$DIR/env.sh" ] && RUN=$(sed -n 's/^SLURM_LOCAL_RUN=//p' "$DIR/env.sh")
export SLURM_CONF=$DIR/etc/slurm.conf

pid_of() {  # $1 daemon name, $2 env.sh variable
  local p=""
  [ -s "$DIR/pids/$1.pid" ] && p=$(cat "$DIR/pids/$1.pid")
  [ -z "$p" ] && [ -f "$DIR/env.sh" ] && p=$(sed -n "s/^$2=//p" "$DIR/env.sh")
  echo "$p"
}
is_ours() {  # pid alive and still daemon $1 started on this DIR (guards against pid reuse)
  local c
  kill -0 "$2" 2>/dev/null || return 1
  c=$({ tr '\0' ' ' < "/proc/$2/cmdline"; } 2>/dev/null) || return 1
  [[ "$c" == *"${1%%-*}"* && "$c" == *"$DIR/"* ]]   # slurmd-n1 -> slurmd
}

descendants() {  # pids of the whole process tree under $1 (via /proc/*/stat ppid)
  local kids k
  kids=$(awk '{print $1, $4}' /proc/[0-9]*/stat 2>/dev/null | awk -v p="$1" '$2==p {print $1}')
  for k in $kids; do echo "$k"; descendants "$k"; done
}

NODES=1; [ -f "$DIR/env.sh" ] && NODES=$(sed -n 's/^SLURM_LOCAL_NODES=//p' "$DIR/env.sh"); NODES=${NODES:-1}
SLURMD_NAME=slurmd; [ "$NODES" = 2 ] && SLURMD_NAME=slurmd-n1
CTLD=$(pid_of slurmctld SLURMCTLD_PID); SLURMD=$(pid_of "$SLURMD_NAME" SLURMD_PID)
if [ -n "$CTLD" ] && is_ours slurmctld "$CTLD"; then
  scancel --quiet --state=PENDING 2>/dev/null || true
  scancel --quiet --state=RUNNING 2>/dev/null || true
  scancel --quiet --state=SUSPENDED 2>/dev/null || true
  if [ -n "$SLURMD" ] && is_ours slurmd "$SLURMD"; then
    # up to 3 s for jobs to end (a job that ignores SIGTERM stays COMPLETING
    # for KillWait=5 s; its processes are SIGKILLed below instead of waited for)
    for _ in $(seq 30); do
      [ -z "$(squeue -h -t R,CG,S 2>/dev/null)" ] && break
      sleep 0.1
    done
  fi
fi

# slurmstepds of this cluster (they inherit SLURM_CONF from slurmd's env) and
# the job processes under them that are still alive (slurmd died, or a job
# ignored SIGTERM): SIGKILL them now — slurmd will not exit on SIGTERM while
# a step is still running.
LEFT=""
for p in $(pgrep -x slurmstepd 2>/dev/null); do
  if { tr '\0' '\n' < "/proc/$p/environ"; } 2>/dev/null | grep -qx "SLURM_CONF=$SLURM_CONF"; then
    LEFT="$LEFT $p $(descendants "$p" | tr '\n' ' ')"
  fi
done
for p in $LEFT; do kill -KILL "$p" 2>/dev/null && echo "leftover job process ($p) killed"; done

# two phases: slurmrestd + slurmd first (slurmd may still need slurmctld and
# munge to report job ends, and waits ~10 s if they are gone), then slurmctld +
# munged. SIGTERM, SIGKILL after 10 s. Each daemon takes ~1 s.
t0=$(date +%s.%N)
stop_group() {
  local -A pids=(); local d name p alive
  for d in "$@"; do
    name=${d%%:*}; p=$(pid_of "$name" "${d#*:}")
    [ -n "$p" ] || continue
    if is_ours "$name" "$p"; then pids[$name]=$p; kill -TERM "$p"
    else echo "$name ($p) not running"; fi
  done
  for _ in $(seq 100); do
    alive=0
    for name in "${!pids[@]}"; do kill -0 "${pids[$name]}" 2>/dev/null && alive=1; done
    [ $alive = 0 ] && break
    sleep 0.1
  done
  for name in "${!pids[@]}"; do
    p=${pids[$name]}
    if kill -0 "$p" 2>/dev/null; then kill -KILL "$p" 2>/dev/null; echo "$name ($p) killed after 10 s"
    else echo "$name ($p) stopped"; fi
  done
}
if [ "$NODES" = 2 ]; then stop_group slurmrestd:SLURMRESTD_PID slurmd-n1:SLURMD_PID slurmd-n2:SLURMD2_PID
else stop_group slurmrestd:SLURMRESTD_PID slurmd:SLURMD_PID; fi
stop_group slurmctld:SLURMCTLD_PID munged:MUNGED_PID
echo "daemons down in $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b-a}') s"

# SLURM_LOCAL_CGROUP=1 leaves empty slurm_<node> cgroups behind: remove this cluster's
if [ -f "$DIR/etc/cgroup.conf" ]; then
  NODENAMES=$( [ "$NODES" = 2 ] && echo "n1 n2" || sed -n 's/^SLURM_LOCAL_NODE=//p' "$DIR/env.sh" 2>/dev/null)
  for n in $NODENAMES; do
    for d in $(find /sys/fs/cgroup/*/"slurm_$n" -depth -type d 2>/dev/null); do rmdir "$d" 2>/dev/null || true; done
  done
fi
rm -f "$DIR"/pids/*.pid
if [ -n "$RUN" ] && [ "$RUN" != "$DIR/run" ] && [ -d "$RUN" ] && [[ "$RUN" == /tmp/slurm-local.* ]]; then
  rm -rf "$RUN"; rm -f "$DIR/run"
fi
if [ "${2:-}" = "--purge" ]; then rm -rf "$DIR"; echo "removed $DIR"; fi
exit 0
