#!/usr/bin/env bash
# A one-node SLURM cluster on 127.0.0.1, its whole state in one folder: for trying cluster runs
# (and for tests/test_slurm*.py) without a cluster. Needs Debian's slurm-wlm and munge:
#   apt-get install -y slurm-wlm munge
#   scripts/slurm_cluster.sh start /tmp/slurm     # prints the line to export, SLURM_CONF=...
#   export SLURM_CONF=/tmp/slurm/slurm.conf
#   python train.py -m hydra/launcher=slurm trainer=cpu hydra.launcher.cpus_per_task=1 hydra.launcher.mem_gb=1 ...
#   scripts/slurm_cluster.sh stop /tmp/slurm
set -euo pipefail

usage() { echo "usage: $0 start|stop <state folder>" >&2; exit 2; }
[[ $# -eq 2 ]] || usage
action=$1
state=$(realpath -m "$2")

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

stop() {
    # Jobs first: a job still ending (its step reporting back) when slurmctld and slurmd go would
    # leave its slurmstepd and srun waiting for them for good.
    if [[ -f $state/slurmctld.pid ]] && kill -0 "$(cat "$state/slurmctld.pid")" 2>/dev/null; then
        SLURM_CONF=$state/slurm.conf scancel --user="$(id -un)" 2>/dev/null || true
        for _ in $(seq 150); do
            [[ -z $(SLURM_CONF=$state/slurm.conf squeue -h 2>/dev/null) ]] && break
            sleep 0.2
        done
    fi
    # Only the daemons this folder started, by the pids they recorded.
    for name in slurmd slurmctld munged; do
        if [[ -f $state/$name.pid ]]; then
            kill "$(cat "$state/$name.pid")" 2>/dev/null || true
        fi
    done
    for name in slurmd slurmctld munged; do
        for _ in $(seq 50); do
            [[ -f $state/$name.pid ]] && kill -0 "$(cat "$state/$name.pid")" 2>/dev/null || break
            sleep 0.1
        done
        rm -f "$state/$name.pid"
    done
}

start() {
    for program in munged mungekey slurmctld slurmd sinfo; do
        command -v "$program" >/dev/null || { echo "$program not found: apt-get install -y slurm-wlm munge" >&2; exit 1; }
    done
    mkdir -p "$state"/{munge,ctld,spool}
    chmod 700 "$state" "$state/munge"
    [[ -f $state/munge/munge.key ]] || mungekey --create --keyfile="$state/munge/munge.key"
    munged --key-file="$state/munge/munge.key" --socket="$state/munge/munge.socket" \
        --pid-file="$state/munged.pid" --log-file="$state/munge/munged.log" \
        --seed-file="$state/munge/munged.seed" --force

    local cpus memory_mb user node
    cpus=$(nproc)
    # The node is named as this machine: DDP ranks find their main process by the node's name
    # (SLURM_NODELIST, Lightning's SLURMEnvironment), so it must resolve.
    node=$(hostname -s)
    memory_mb=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 * 3 / 4 ))
    user=$(id -un)
    # cred_expire: a requeued job waits this long before it starts again (SLURM's default: 120 s).
    cat > "$state/slurm.conf" <<CONF
ClusterName=local
SlurmctldHost=localhost(127.0.0.1)
SlurmctldPort=$(free_port)
SlurmdPort=$(free_port)
SlurmUser=$user
SlurmdUser=$user
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$state/munge/munge.socket,cred_expire=5
StateSaveLocation=$state/ctld
SlurmdSpoolDir=$state/spool
SlurmctldPidFile=$state/slurmctld.pid
SlurmdPidFile=$state/slurmd.pid
SlurmctldLogFile=$state/slurmctld.log
SlurmdLogFile=$state/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
JobRequeue=1
SchedulerParameters=bf_interval=1,sched_interval=1
KillWait=30
MinJobAge=600
NodeName=$node NodeAddr=127.0.0.1 NodeHostname=$node CPUs=$cpus RealMemory=$memory_mb State=UNKNOWN
PartitionName=local Nodes=ALL Default=YES MaxTime=INFINITE State=UP
CONF
    export SLURM_CONF=$state/slurm.conf
    slurmctld -i
    slurmd -N "$node"
    for _ in $(seq 100); do
        if sinfo -h -o %t 2>/dev/null | grep -qx idle; then
            echo "SLURM_CONF=$SLURM_CONF"
            return 0
        fi
        sleep 0.2
    done
    echo "the local SLURM cluster did not come up; see $state/slurmctld.log and $state/slurmd.log" >&2
    stop
    exit 1
}

case $action in
    start) start ;;
    stop) stop ;;
    *) usage ;;
esac
