#!/usr/bin/env bash
# A one-node SLURM on this machine (127.0.0.1 only, no GPUs) for tests/test_slurm*.py, which check
# hydra/launcher=slurm against a real controller rather than a mock. Idempotent: with the daemons already up
# and this config in place it returns in well under a second.
# It never fails CI for want of SLURM: without root or without a reachable package registry it says why and
# exits 0, and the SLURM tests skip (they need `sinfo`). It does fail when SLURM is installed but will not
# come up, since then the tests would skip for a reason that is a bug.
set -uo pipefail

say() { echo "slurm_up: $*"; }
CONF=/etc/slurm/slurm.conf
MARK="# written by overfit's .ci/slurm_up.sh"  # only a config carrying this line is ours to rewrite

if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null || ! command -v sinfo >/dev/null \
  || ! command -v munged >/dev/null; then
  if [ "$(id -u)" != 0 ]; then say "not root and SLURM is not installed: the SLURM tests will skip"; exit 0; fi
  say "installing slurmctld slurmd slurm-client munge (apt)"
  export DEBIAN_FRONTEND=noninteractive
  pkgs=(slurmctld slurmd slurm-client munge)
  # Fail fast on an unreachable mirror (apt would retry for minutes), wait a little for a held dpkg lock.
  apt=(apt-get -q -o Acquire::Retries=0 -o Acquire::http::Timeout=20 -o DPkg::Lock::Timeout=60)
  # The package lists may be there already (then no network round trip for them); else fetch them.
  if ! timeout 300 "${apt[@]}" install -y --no-install-recommends "${pkgs[@]}" >/tmp/slurm_up_apt.log 2>&1; then
    if ! { timeout 120 "${apt[@]}" update && timeout 300 "${apt[@]}" install -y --no-install-recommends "${pkgs[@]}"; } \
      >/tmp/slurm_up_apt.log 2>&1; then
      say "could not install SLURM (apt: $(grep -E '^(E|W):' /tmp/slurm_up_apt.log | head -1)): the SLURM tests will skip"
      exit 0
    fi
  fi
fi
if [ "$(id -u)" != 0 ]; then say "not root: cannot start SLURM's daemons here; the SLURM tests use whatever sinfo reaches"; exit 0; fi

host=$(hostname -s)
# The node as slurmd sees it (CPUs, sockets, RealMemory): a node configured with more than it has is drained.
node=$(slurmd -C | head -1 | sed "s/^NodeName=[^ ]*/NodeName=$host NodeAddr=127.0.0.1/")
want="$MARK
ClusterName=overfit-ci
SlurmctldHost=$host(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=/var/lib/slurm/slurmctld
SlurmdSpoolDir=/var/lib/slurm/slurmd
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
# No cgroups in a container: track processes by their parent pid.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
# Cores and memory are what a job consumes, so a request above the node's RealMemory is never runnable.
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
# A job that names no memory gets 1 GB a CPU, not the whole node (which would run such jobs one at a time).
DefMemPerCPU=1024
# A node that went down (a restart of slurmd) comes back by itself.
ReturnToService=2
# No slurmdbd: sacct answers nothing, submitit then reads a job's end from its result file.
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
$node State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP"

changed=0
if [ -e "$CONF" ] && ! grep -qxF "$MARK" "$CONF"; then
  say "$CONF is not ours: using it as it is"
elif [ "$(cat "$CONF" 2>/dev/null)" != "$want" ]; then
  mkdir -p /etc/slurm && printf '%s\n' "$want" >"$CONF" && changed=1
fi
mkdir -p /var/lib/slurm/slurmctld /var/lib/slurm/slurmd /var/log/slurm

alive() { [ -s "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

# munge: SLURM's daemons and clients authenticate through it.
if ! munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
  mkdir -p /run/munge && chown munge:munge /run/munge && chmod 755 /run/munge
  [ -s /etc/munge/munge.key ] || { mungekey --create >/dev/null && chown munge:munge /etc/munge/munge.key; }
  runuser -u munge -- /usr/sbin/munged || { say "munged did not start"; exit 1; }
fi

# A changed config needs the daemons restarted (only the ones whose pid files this script's config names).
if [ "$changed" = 1 ]; then
  for pidfile in /run/slurmd.pid /run/slurmctld.pid; do
    if alive "$pidfile"; then kill "$(cat "$pidfile")"; fi
  done
  sleep 1
fi
alive /run/slurmctld.pid || slurmctld || { say "slurmctld did not start: see /var/log/slurm/slurmctld.log"; exit 1; }
alive /run/slurmd.pid || slurmd || { say "slurmd did not start: see /var/log/slurm/slurmd.log"; exit 1; }

# Wait for the node to be schedulable (a few seconds after a cold start).
for _ in $(seq 60); do
  state=$(sinfo -h -n "$host" -o %t 2>/dev/null | head -1)
  case "$state" in
    idle* | mix* | alloc*) say "up: $(sinfo -h -o '%P %D node(s) %c CPUs %m MB gres=%G' | head -1)"; exit 0 ;;
    drain* | down* | drng*) scontrol update NodeName="$host" State=RESUME >/dev/null 2>&1 ;;
  esac
  sleep 0.5
done
say "the node did not become idle (state: ${state:-none}); see /var/log/slurm/"
exit 1
