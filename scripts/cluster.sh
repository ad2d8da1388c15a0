#!/usr/bin/env bash
# A three-node RabbitMQ cluster on this machine, for the cluster fault suite and
# `scripts/run --cluster`: three nodes of the system's rabbitmq-server beside the system's own
# node on 5672, each with its own node name, configuration, ports, data and log directories,
# joined into one cluster, every agency and outcome queue placed on all three.
#
#   scripts/cluster.sh start     start (or finish starting) the three nodes and join them
#   scripts/cluster.sh stop      stop them (their data is kept)
#   scripts/cluster.sh status    one line per node: running or not, cluster members
#   scripts/cluster.sh reset     stop and remove their data
#   scripts/cluster.sh urls      the AMQP URLs, comma-separated (for GATEWAY_AMQP_URL and the rest)
#   scripts/cluster.sh ctl N ... rabbitmqctl against node N (1, 2 or 3)
#   scripts/cluster.sh partition N
#                                cut node N off from the other two (its clients keep reaching it)
#   scripts/cluster.sh heal      undo every partition
#
# Safe to run again and again: a running node is left alone, a node already in the cluster is
# not joined again. Ports (outside the ephemeral range 32768–60999): node N listens for AMQP on
# 2300N, for the management API on 2301N and for Erlang distribution on 2302N.
set -euo pipefail

BASE=${HUB_CLUSTER_DIR:-/var/tmp/hub-cluster}
NODES=(1 2 3)
HOST=localhost
RMQ_BIN=/usr/lib/rabbitmq/bin

log() { printf 'cluster: %s\n' "$*" >&2; }

amqp_port() { echo $((23000 + $1)); }
http_port() { echo $((23010 + $1)); }
dist_port() { echo $((23020 + $1)); }
node_name() { echo "hub$1@$HOST"; }

# The environment a node and the command-line tools need to find it: its own files, the
# cluster's Erlang cookie (in $BASE, not the system node's), the interface and ports.
node_env() {
  local n=$1 dir="$BASE/node$1"
  export HOME="$BASE"
  export RABBITMQ_NODENAME
  RABBITMQ_NODENAME=$(node_name "$n")
  export RABBITMQ_CONF_ENV_FILE="$BASE/rabbitmq-env.conf"
  export RABBITMQ_CONFIG_FILE="$dir/rabbitmq.conf"
  export RABBITMQ_ADVANCED_CONFIG_FILE="$BASE/advanced.config"
  export RABBITMQ_ENABLED_PLUGINS_FILE="$BASE/enabled_plugins"
  export RABBITMQ_MNESIA_BASE="$dir/mnesia"
  export RABBITMQ_LOG_BASE="$dir/log"
  export RABBITMQ_PID_FILE="$dir/pid"
  export RABBITMQ_DIST_PORT
  RABBITMQ_DIST_PORT=$(dist_port "$n")
  # Node N opens its connections to the other nodes from 127.0.0.N, so that a partition can
  # single out its traffic: what it sends from there and what reaches its distribution port.
  export RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_connect_options [{ip,{127,0,0,$n}}]"
  # The command-line tools are Erlang nodes too; keep their ports in the cluster's range.
  export RABBITMQ_CTL_DIST_PORT_MIN=$((23030 + 10 * (n - 1)))
  export RABBITMQ_CTL_DIST_PORT_MAX=$((RABBITMQ_CTL_DIST_PORT_MIN + 9))
  export ERL_EPMD_ADDRESS=127.0.0.1
}

ctl() {
  local n=$1
  shift
  (node_env "$n" && "$RMQ_BIN/rabbitmqctl" -n "$(node_name "$n")" "$@")
}

# Whether node $1's Erlang VM is alive (running, starting, or paused in a minority).
running() {
  local pid
  pid=$(cat "$BASE/node$1/pid" 2>/dev/null || true)
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null
}

write_files() {
  mkdir -p "$BASE"
  if [ ! -f "$BASE/.erlang.cookie" ]; then
    # Shared by the three nodes and the tools; the compose file's cluster profile does the same.
    head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' | tr a-f A-F >"$BASE/.erlang.cookie"
    chmod 400 "$BASE/.erlang.cookie"
  fi
  echo '[rabbitmq_management,rabbitmq_consistent_hash_exchange].' >"$BASE/enabled_plugins"
  cat >"$BASE/rabbitmq-env.conf" <<'EOF'
# Written by scripts/cluster.sh: nothing from the system node's /etc/rabbitmq/rabbitmq-env.conf.
ERL_FLAGS="-kernel inet_dist_use_interface {127,0,0,1}"
EOF
  # Every quorum queue (agency queues, gateway.outcomes, the dead letters) is declared with all
  # three nodes as members. RabbitMQ 3.10 takes a quorum queue's initial group size from the
  # queue's x-quorum-initial-group-size or this setting; no policy key sets it (the
  # initial-cluster-size policy is for streams), and the services' declarations stay as they
  # are so that queues declared before the cluster keep matching.
  echo '[{rabbit, [{quorum_cluster_size, 3}]}].' >"$BASE/advanced.config"
  for n in "${NODES[@]}"; do
    mkdir -p "$BASE/node$n/mnesia" "$BASE/node$n/log"
    cat >"$BASE/node$n/rabbitmq.conf" <<EOF
# Written by scripts/cluster.sh: node $n of the hub's test cluster.
listeners.tcp.local = 127.0.0.1:$(amqp_port "$n")
management.tcp.ip = 127.0.0.1
management.tcp.port = $(http_port "$n")
# The test user may connect from loopback only, as on the system node.
loopback_users.guest = true
# A node cut off from the majority stops serving rather than diverging (it rejoins when healed).
cluster_partition_handling = pause_minority
# Every queue may be declared on any node; quorum queues spread their leaders.
queue_leader_locator = balanced
# Notice a dead peer within seconds, not the default minute.
net_ticktime = 10
EOF
  done
}

start_node() {
  local n=$1
  if running "$n"; then
    return
  fi
  log "starting node $n ($(node_name "$n"), AMQP $(amqp_port "$n"), management $(http_port "$n"))"
  (node_env "$n" && cd "$BASE/node$n" && exec setsid "$RMQ_BIN/rabbitmq-server") >"$BASE/node$n/log/startup.log" 2>&1 </dev/null &
}

wait_node() {
  local n=$1
  for _ in $(seq 120); do
    if ctl "$n" -q await_startup >/dev/null 2>&1; then
      return
    fi
    sleep 1
  done
  log "node $n did not start; see $BASE/node$n/log/"
  exit 1
}

members() { ctl "$1" -q eval 'rabbit_nodes:all().' 2>/dev/null || true; }

join() {
  local n=$1 first
  first=$(node_name 1)
  if members "$n" | grep -q "$first"; then
    return
  fi
  log "joining node $n to $first"
  ctl "$n" -q stop_app
  ctl "$n" -q join_cluster "$first"
  ctl "$n" -q start_app
  ctl "$n" -q await_startup
}

# Whether the management API of some node reports all three nodes running in one cluster.
healthy() {
  local n body
  for n in "${NODES[@]}"; do
    body=$(curl -sf -m 5 -u guest:guest "http://127.0.0.1:$(http_port "$n")/api/nodes" 2>/dev/null) || continue
    [ "$(grep -o '"running":true' <<<"$body" | wc -l)" -eq "${#NODES[@]}" ] && return 0
  done
  return 1
}

start() {
  heal
  if healthy; then
    log "three nodes running: $(urls)"
    return
  fi
  write_files
  for n in "${NODES[@]}"; do start_node "$n"; done
  for n in "${NODES[@]}"; do wait_node "$n"; done
  for n in 2 3; do join "$n"; done
  log "three nodes running: $(urls)"
}

stop() {
  for n in "${NODES[@]}"; do
    if running "$n"; then
      log "stopping node $n"
      ctl "$n" -q stop "$BASE/node$n/pid" >/dev/null 2>&1 || true
    fi
  done
}

status() {
  for n in "${NODES[@]}"; do
    if running "$n"; then
      printf 'node %s %s running, AMQP %s, management %s, cluster %s\n' "$n" "$(node_name "$n")" \
        "$(amqp_port "$n")" "$(http_port "$n")" "$(members "$n" | tr -d '\n ')"
    else
      printf 'node %s %s not running\n' "$n" "$(node_name "$n")"
    fi
  done
}

# A partition of node N: every packet between it and the other nodes dropped, as a cut cable
# would, in a chain of its own so that `heal` removes exactly what `partition` added. Its AMQP
# and management listeners stay reachable, so its clients see what a node in the minority does
# (pause_minority: it stops serving until it sees the majority again).
CHAIN=HUB-CLUSTER-PARTITION

iptables_ready() {
  if ! command -v iptables >/dev/null 2>&1; then
    log "installing iptables"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq iptables >/dev/null
  fi
}

partition() {
  local n=$1
  iptables_ready
  heal
  log "partitioning node $n off (distribution port $(dist_port "$n"), source 127.0.0.$n)"
  iptables -N "$CHAIN"
  iptables -A "$CHAIN" -p tcp --dport "$(dist_port "$n")" -j DROP
  iptables -A "$CHAIN" -p tcp --sport "$(dist_port "$n")" -j DROP
  iptables -A "$CHAIN" -p tcp -s "127.0.0.$n" -j DROP
  iptables -A "$CHAIN" -p tcp -d "127.0.0.$n" -j DROP
  iptables -I OUTPUT -j "$CHAIN"
}

heal() {
  command -v iptables >/dev/null 2>&1 || return 0
  if iptables -L "$CHAIN" -n >/dev/null 2>&1; then
    log "healing the partition"
    while iptables -D OUTPUT -j "$CHAIN" 2>/dev/null; do :; done
    iptables -F "$CHAIN"
    iptables -X "$CHAIN"
  fi
}

urls() {
  local out=()
  for n in "${NODES[@]}"; do out+=("amqp://guest:guest@127.0.0.1:$(amqp_port "$n")"); done
  (IFS=,; echo "${out[*]}")
}

case "${1:-status}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  reset) heal; stop; rm -rf "$BASE" ;;
  urls) urls ;;
  ctl) shift; n=$1; shift; ctl "$n" "$@" ;;
  partition) partition "${2:?usage: $0 partition N}" ;;
  heal) heal ;;
  *) echo "usage: $0 start|stop|status|reset|urls|ctl N ...|partition N|heal" >&2; exit 2 ;;
esac
