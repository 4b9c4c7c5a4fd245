#!/usr/bin/env bash
# A single-node SLURM cluster on this machine, for the SLURM launcher's tests:
#
#   sudo scripts/slurm_cluster.sh start    # install slurm-wlm and munge if missing, configure, start
#   scripts/slurm_cluster.sh status        # exit 0 when the node is idle or busy
#   sudo scripts/slurm_cluster.sh stop     # shut the daemons down
#
# Debian/Ubuntu only (apt-get); needs root. One node (this host, with the CPUs and memory that
# `slurmd -C` reads from the machine) in one partition `local`; munge for authentication; no
# accounting database, no cgroups (works inside a container). SLURM_START_TIMEOUT (seconds, default
# 90) bounds the wait for the node to come up.
set -euo pipefail

CONF_DIR=/etc/slurm
CONF=$CONF_DIR/slurm.conf
STATE=/var/spool/slurmctld
SPOOL=/var/spool/slurmd
LOGS=/var/log/slurm
TIMEOUT=${SLURM_START_TIMEOUT:-90}

die() { echo "slurm_cluster: $*" >&2; exit 1; }

need_root() { [ "$(id -u)" -eq 0 ] || die "'$1' needs root (run it with sudo)"; }

install_packages() {
    if command -v slurmctld >/dev/null && command -v slurmd >/dev/null && command -v sbatch >/dev/null \
        && command -v munged >/dev/null; then
        return
    fi
    command -v apt-get >/dev/null || die "slurm-wlm and munge are not installed and apt-get is absent; install SLURM and munge with this system's package manager"
    echo "slurm_cluster: installing slurm-wlm and munge with apt-get"
    apt-get update -qq || die "apt-get update failed"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends slurm-wlm munge >/dev/null \
        || die "apt-get install slurm-wlm munge failed"
}

write_conf() {
    local host node_line cpus mem
    host=$(hostname -s)
    # slurmd -C prints this machine's node line (CPUs, sockets, cores, threads, RealMemory)
    node_line=$(slurmd -C 2>/dev/null | grep '^NodeName=' || true)
    if [ -z "$node_line" ]; then
        cpus=$(nproc)
        mem=$(awk '/MemTotal/ {print int($2 / 1024)}' /proc/meminfo)
        node_line="NodeName=$host CPUs=$cpus RealMemory=$mem"
    fi
    node_line=$(echo "$node_line" | sed -E "s/^NodeName=[^ ]+/NodeName=$host/; s/ UpTime=.*//")
    mkdir -p "$CONF_DIR" "$STATE" "$SPOOL" "$LOGS"
    cat > "$CONF" <<CONF
# written by scripts/slurm_cluster.sh: one node, one partition, for testing
ClusterName=rnnntk
SlurmctldHost=$host
AuthType=auth/munge
SlurmUser=root
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmctldLogFile=$LOGS/slurmctld.log
SlurmdLogFile=$LOGS/slurmd.log
StateSaveLocation=$STATE
SlurmdSpoolDir=$SPOOL
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
ReturnToService=2
MpiDefault=none
$node_line State=UNKNOWN
PartitionName=local Nodes=$host Default=YES MaxTime=INFINITE State=UP
CONF
}

start_munge() {
    if pgrep -x munged >/dev/null; then return; fi
    mkdir -p /run/munge /var/log/munge /var/lib/munge /etc/munge
    if [ ! -s /etc/munge/munge.key ]; then
        if command -v mungekey >/dev/null; then mungekey --create --keyfile=/etc/munge/munge.key
        else dd if=/dev/urandom bs=1 count=1024 of=/etc/munge/munge.key 2>/dev/null; fi
    fi
    if id munge >/dev/null 2>&1; then
        chown -R munge:munge /run/munge /var/log/munge /var/lib/munge /etc/munge
        chmod 0700 /etc/munge; chmod 0400 /etc/munge/munge.key
        runuser -u munge -- munged || die "munged did not start (see /var/log/munge/munged.log)"
    else
        munged --force || die "munged did not start (see /var/log/munge/munged.log)"
    fi
}

node_state() { { sinfo -h -N -o '%T' 2>/dev/null || true; } | head -1; }

start() {
    need_root start
    local t0=$SECONDS state=""
    install_packages
    write_conf
    start_munge
    pgrep -x slurmctld >/dev/null || slurmctld || die "slurmctld did not start (see $LOGS/slurmctld.log)"
    pgrep -x slurmd >/dev/null || slurmd || die "slurmd did not start (see $LOGS/slurmd.log)"
    while [ $((SECONDS - t0)) -lt "$TIMEOUT" ]; do
        state=$(node_state)
        case "$state" in
            idle*|mixed*|allocated*) echo "slurm_cluster: node $(hostname -s) is $state (up in $((SECONDS - t0)) s)"; return 0 ;;
            drain*|down*|inval*)
                # a node left down by an earlier run: return it to service once
                scontrol update nodename="$(hostname -s)" state=resume 2>/dev/null || true ;;
        esac
        sleep 2
    done
    tail -n 5 "$LOGS/slurmctld.log" "$LOGS/slurmd.log" >&2 2>/dev/null || true
    die "the node did not become idle within $TIMEOUT s (sinfo state: '${state:-no answer}'); raise SLURM_START_TIMEOUT or read $LOGS"
}

stop() {
    need_root stop
    scontrol shutdown 2>/dev/null || true
    local pid
    for f in /run/slurmd.pid /run/slurmctld.pid /run/munge/munged.pid; do
        [ -s "$f" ] || continue
        pid=$(cat "$f")
        kill "$pid" 2>/dev/null || true
    done
    # wait (at most 30 s) until the daemons have exited: a start right after a stop must not find
    # a slurmctld that is still saving its state and take it for a running one
    local i
    for i in $(seq 30); do
        pgrep -x slurmctld >/dev/null || pgrep -x slurmd >/dev/null || pgrep -x munged >/dev/null || break
        sleep 1
    done
    echo "slurm_cluster: stopped"
}

status() {
    command -v sinfo >/dev/null || die "SLURM is not installed (run: sudo $0 start)"
    local state
    state=$(node_state)
    case "$state" in
        idle*|mixed*|allocated*) sinfo; return 0 ;;
        *) die "no idle node (sinfo state: '${state:-no answer}'; run: sudo $0 start)" ;;
    esac
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    status) status ;;
    *) echo "usage: $0 start | stop | status" >&2; exit 2 ;;
esac
