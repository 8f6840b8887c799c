#!/usr/bin/env bash
# A real Pacemaker/Corosync cluster of N nodes on this one machine, for tests (root only).
#
# Each node is a network namespace (pwci-nK, eth0 = 198.18.0.K/24 on a bridge in pwci-hub)
# plus a mount and UTS namespace held open by an "anchor" process, with private /run, /dev/shm,
# Corosync and Pacemaker state and logs, /etc/hosts, and the witness store directory
# /var/lib/pacemaker-witness. Everything else (/usr, /tmp, the PID space) is shared. No systemd,
# no pcsd: corosync and pacemakerd are started by hand inside the namespaces.
#
#   harness.sh up N          set up and start N nodes, wait until all are online with a DC
#   harness.sh start K       start node K again (after kill or stop)
#   harness.sh stop K        graceful stop of node K
#   harness.sh kill K        power cut: SIGKILL everything in node K's network namespace
#   harness.sh exec K CMD…   run CMD inside node K
#   harness.sh wait [SECS]   wait until every running node is online and a DC exists
#   harness.sh anchor K      print the anchor PID of node K (its namespaces: /proc/PID/root, nsenter -t)
#   harness.sh install DEB   install the witness package (npm run package) for every node: they share
#                            /usr and dpkg's database, so one dpkg -i serves all; down removes it
#   harness.sh down          stop everything, remove namespaces, mounts, state and the package
#
# Environment: PWCI_BASE (state, default /tmp/pwci), PWCI_PREFIX (namespace prefix, default pwci).
set -uo pipefail

PREFIX=${PWCI_PREFIX:-pwci}
BASE=${PWCI_BASE:-/tmp/pwci}
NET=198.18.0
HUB=$PREFIX-hub
PRIVATE_DIRS=(/etc/corosync /var/lib/corosync /var/log/corosync /var/lib/pacemaker /var/log/pacemaker /var/lib/pacemaker-witness /var/log/pacemaker-witness)

fail() { echo "harness: $*" >&2; exit 1; }
nsname() { echo "$PREFIX-n$1"; }
nodedir() { echo "$BASE/n$1"; }
count() { cat "$BASE/count" 2>/dev/null || echo 0; }
anchor() { cat "$(nodedir "$1")/anchor.pid" 2>/dev/null; }
# Alive and not a zombie waiting for PID 1 to reap it.
alive() { [ -n "${1:-}" ] && [ -r "/proc/$1/stat" ] && [ "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" != Z ]; }
running() { alive "$(anchor "$1")"; }
in_node() {
  local k=$1; shift
  local a; a=$(anchor "$k")
  alive "$a" || fail "node $k is not running"
  nsenter -t "$a" -m -u -n -- "$@"
}
secs() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(secs)" 'BEGIN { printf "%.1f", b - a }'; }

corosync_conf() {
  local n=$1 k
  printf 'totem {\n  version: 2\n  cluster_name: pwci\n  transport: knet\n  crypto_cipher: none\n  crypto_hash: none\n  token: 1000\n}\n'
  printf 'nodelist {\n'
  for k in $(seq 1 "$n"); do printf '  node {\n    ring0_addr: %s.%s\n    name: n%s\n    nodeid: %s\n  }\n' "$NET" "$k" "$k" "$k"; done
  printf '}\nquorum {\n  provider: corosync_votequorum\n'
  [ "$n" -eq 2 ] && printf '  two_node: 1\n'
  printf '}\nlogging {\n  to_stderr: no\n  to_syslog: no\n  to_logfile: yes\n  logfile: /var/log/corosync/corosync.log\n  timestamp: on\n}\n'
}

# A seeded CIB: the DC is elected in seconds instead of after the 20 s default dc-deadtime.
seed_cib() {
  cibadmin --empty > "$1" || fail "cibadmin --empty failed"
  local kv
  for kv in stonith-enabled=false dc-deadtime=2s cluster-recheck-interval=1min no-quorum-policy=stop; do
    CIB_file=$1 crm_attribute -t crm_config -n "${kv%%=*}" -v "${kv#*=}" || fail "seeding $kv failed"
  done
}

cmd_setup() {
  local n=$1 k d p
  [ "$n" -ge 1 ] && [ "$n" -le 16 ] || fail "N must be 1..16"
  ip netns list | grep -q "^$HUB\b" && fail "$HUB exists: run 'harness.sh down' first"
  rm -rf "$BASE"; mkdir -p "$BASE"; echo "$n" > "$BASE/count"
  corosync_conf "$n" > "$BASE/corosync.conf"
  seed_cib "$BASE/seed.xml"
  { echo "127.0.0.1 localhost"; for k in $(seq 1 "$n"); do echo "$NET.$k n$k"; done; } > "$BASE/hosts"
  ip netns add "$HUB"
  ip -n "$HUB" link set lo up
  ip -n "$HUB" link add br0 type bridge
  ip -n "$HUB" addr add "$NET.254/24" dev br0
  ip -n "$HUB" link set br0 up
  for k in $(seq 1 "$n"); do
    d=$(nodedir "$k")
    for p in "${PRIVATE_DIRS[@]}"; do mkdir -p "$d/fs$p" "$p"; done
    mkdir -p "$d/fs/var/lib/pacemaker/"{cib,pengine,blackbox,cores} "$d/fs/var/log/pacemaker/bundles"
    cp "$BASE/corosync.conf" "$d/fs/etc/corosync/corosync.conf"
    chown -R hacluster:haclient "$d/fs/var/lib/pacemaker" "$d/fs/var/log/pacemaker"
    chmod 750 "$d/fs/var/lib/pacemaker/"*
    chmod 770 "$d/fs/var/log/pacemaker" "$d/fs/var/log/pacemaker/bundles"
    chmod 700 "$d/fs/var/lib/pacemaker-witness"
    install -o hacluster -g haclient -m 600 "$BASE/seed.xml" "$d/fs/var/lib/pacemaker/cib/cib.xml"
    ip netns add "$(nsname "$k")"
    ip -n "$HUB" link add "h$k" type veth peer name eth0 netns "$(nsname "$k")"
    ip -n "$HUB" link set "h$k" master br0 up
    ip -n "$(nsname "$k")" link set lo up
    ip -n "$(nsname "$k")" addr add "$NET.$k/24" dev eth0
    ip -n "$(nsname "$k")" link set eth0 up
  done
}

cmd_start() {
  local k=$1 d a c p i t0 mounts=""
  d=$(nodedir "$k"); [ -d "$d" ] || fail "node $k is not set up"
  running "$k" && fail "node $k is already running"
  t0=$(secs)
  for p in "${PRIVATE_DIRS[@]}"; do mounts+="mount --bind $d/fs$p $p; "; done
  rm -f "$d/ready"
  # The anchor holds the node's mount and UTS namespaces; daemons join them with nsenter.
  setsid ip netns exec "$(nsname "$k")" unshare --mount --uts --propagation private -- /bin/sh -ec "
    mount -t tmpfs -o mode=0755 tmpfs /run
    mkdir -p /run/lock /run/resource-agents /run/crm
    chmod 1777 /run/lock; chown hacluster:haclient /run/crm
    mount -t tmpfs -o mode=1777 tmpfs /dev/shm
    $mounts
    mount --bind $BASE/hosts /etc/hosts
    hostname n$k
    touch $d/ready
    exec sleep infinity" > "$d/anchor.log" 2>&1 < /dev/null &
  a=$!; echo "$a" > "$d/anchor.pid"
  for i in $(seq 1 200); do [ -e "$d/ready" ] && break; alive "$a" || break; sleep 0.05; done
  [ -e "$d/ready" ] || { cat "$d/anchor.log" >&2; fail "node $k: namespace setup failed"; }
  setsid nsenter -t "$a" -m -u -n -- env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 HOME=/root \
    corosync -f > "$d/corosync.out" 2>&1 < /dev/null &
  c=$!; echo "$c" > "$d/corosync.pid"
  for i in $(seq 1 100); do in_node "$k" corosync-cfgtool -s > /dev/null 2>&1 && break; alive "$c" || break; sleep 0.1; done
  alive "$c" || { tail "$d/corosync.out" >&2; fail "node $k: corosync died"; }
  setsid nsenter -t "$a" -m -u -n -- env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 HOME=/root \
    pacemakerd > "$d/pacemakerd.out" 2>&1 < /dev/null &
  p=$!; echo "$p" > "$d/pacemakerd.pid"
  echo "node $k started in $(since "$t0") s"
}

cmd_wait() {
  local limit=${1:-120} k first="" xml ok t0
  t0=$(secs)
  for k in $(seq 1 "$(count)"); do running "$k" && { first=${first:-$k}; }; done
  [ -n "$first" ] || fail "no node is running"
  while :; do
    xml=$(in_node "$first" crm_mon -1 --output-as=xml 2>/dev/null)
    ok=1
    printf '%s' "$xml" | grep -q '<current_dc present="true"' || ok=0
    for k in $(seq 1 "$(count)"); do
      running "$k" || continue
      printf '%s' "$xml" | grep -q "<node name=\"n$k\" [^>]*online=\"true\"" || ok=0
    done
    [ $ok -eq 1 ] && { echo "cluster ready after $(since "$t0") s"; return 0; }
    awk -v a="$t0" -v b="$(secs)" -v t="$limit" 'BEGIN { exit !(b - a > t) }' && fail "cluster not ready after ${limit} s"
    sleep 0.2
  done
}

cmd_kill() {
  local k=$1 pids i
  pids=$(ip netns pids "$(nsname "$k")" 2>/dev/null)
  [ -n "$pids" ] && kill -KILL $pids 2>/dev/null
  for i in $(seq 1 100); do [ -z "$(ip netns pids "$(nsname "$k")" 2>/dev/null)" ] && break; sleep 0.05; done
  rm -f "$(nodedir "$k")"/{anchor,corosync,pacemakerd}.pid "$(nodedir "$k")/ready"
}

cmd_stop() {
  local k=$1 p c i
  p=$(cat "$(nodedir "$k")/pacemakerd.pid" 2>/dev/null); c=$(cat "$(nodedir "$k")/corosync.pid" 2>/dev/null)
  if alive "$p"; then kill -TERM "$p"; for i in $(seq 1 600); do alive "$p" || break; sleep 0.1; done; fi
  if alive "$c"; then kill -TERM "$c"; for i in $(seq 1 300); do alive "$c" || break; sleep 0.1; done; fi
  cmd_kill "$k"
}

# dpkg, waiting for its lock (an apt run elsewhere on the machine may hold it).
dpkg_locked() {
  local i out
  for i in $(seq 1 120); do
    out=$(dpkg "$@" 2>&1) && { printf '%s\n' "$out"; return 0; }
    printf '%s' "$out" | grep -qi 'lock' || { printf '%s\n' "$out" >&2; return 1; }
    sleep 1
  done
  echo "harness: dpkg's lock stayed taken for 120 s" >&2; return 1
}

cmd_install() {
  local deb=$1
  [ -f "$deb" ] || fail "no such package: $deb"
  [ -d "$BASE" ] || fail "no cluster set up (harness.sh up N first)"
  dpkg_locked -i "$deb" > "$BASE/dpkg-install.out" || fail "dpkg -i $deb failed"
  touch "$BASE/package-installed"
  echo "installed $(dpkg-query -W -f='${Package} ${Version}' pacemaker-witness)"
}

cmd_down() {
  local k
  for k in $(seq 1 "$(count)"); do
    ip netns list | grep -q "^$(nsname "$k")\b" || continue
    cmd_kill "$k"
    ip netns del "$(nsname "$k")"
  done
  ip netns list | grep -q "^$HUB\b" && ip netns del "$HUB"
  # Remove, not purge: purge would delete the host's /var/lib/pacemaker-witness, which other
  # clusters' nodes may have their private store mounted on.
  if [ -e "$BASE/package-installed" ]; then dpkg_locked -r pacemaker-witness > /dev/null || echo "harness: dpkg -r pacemaker-witness failed" >&2; fi
  rm -rf "$BASE"
}

[ "$(id -u)" = 0 ] || fail "must run as root (network and mount namespaces)"
cmd=${1:-}; shift || true
case "$cmd" in
  up)
    n=${1:?usage: harness.sh up N}
    cmd_setup "$n"
    for k in $(seq 1 "$n"); do cmd_start "$k"; done
    cmd_wait 120 ;;
  start) cmd_start "${1:?K}" ;;
  stop) cmd_stop "${1:?K}" ;;
  kill) cmd_kill "${1:?K}" ;;
  exec) k=${1:?K}; shift; in_node "$k" "$@" ;;
  wait) cmd_wait "${1:-120}" ;;
  anchor) anchor "${1:?K}" ;;
  install) cmd_install "${1:?usage: harness.sh install DEB}" ;;
  down) cmd_down ;;
  *) fail "usage: harness.sh up N | start K | stop K | kill K | exec K CMD... | wait [SECS] | anchor K | install DEB | down" ;;
esac
