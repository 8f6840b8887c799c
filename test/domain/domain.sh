#!/usr/bin/env bash
# An Active Directory domain for tests, from Debian 12's Samba packages, in network namespaces
# (root only). Nothing outside DIR and the namespaces changes: not /etc/samba, /etc/krb5.conf,
# /etc/krb5.keytab, /etc/hosts nor /etc/resolv.conf.
#
#   domain.sh up DIR               provision and start the domain (idempotent: a healthy one is kept)
#   domain.sh down DIR             stop every process of the domain, remove its namespaces and DIR
#   domain.sh status DIR           exit 0 and print "up" when the DC, the member and its winbindd answer
#   domain.sh exec-dc DIR CMD…     run CMD inside the DC (its network, mount and UTS namespaces)
#   domain.sh exec-member DIR CMD… run CMD inside the member (KRB5_CONFIG and KRB5CCNAME set)
#   domain.sh env DIR              shell assignments for tools in the root namespace (see below)
#   domain.sh logs DIR             the tail of every log
#
# Topology: three namespaces, $PREFIX-hub (a bridge, no address), $PREFIX-dc (eth0 198.18.10.1/24)
# and $PREFIX-member (eth0 198.18.10.2/24); no default route anywhere, nothing in the root
# namespace, so the DC is reachable from the member (and the DC) only. Each host also has a mount
# and UTS namespace held by an "anchor" process (as in test/cluster/harness.sh, whose namespaces
# are pwci-* on 198.18.0.0/24): its hostname, DIR's hosts and resolv.conf over /etc/hosts and
# /etc/resolv.conf, DIR/HOST/log over /var/log/samba (samba-dcerpcd's rpcd_* workers log there
# whatever smb.conf says), and a private /run/samba with DIR/HOST/winbindd on /run/samba/winbindd.
# That last one because Samba 4.17's libwbclient (wbinfo, ntlm_auth, smbd) only ever looks in
# /run/samba/winbindd, whatever smb.conf's `winbindd socket directory` says (it honours
# SELFTEST_WINBINDD_SOCKET_DIR only when libnss_wrapper is preloaded). From the root namespace:
# `nsenter -t $(cat DIR/member.anchor) -m -n -- ntlm_auth --configfile=DIR/member/smb.conf …`, or
# LD_PRELOAD=libnss_wrapper.so NSS_WRAPPER_PASSWD=/etc/passwd NSS_WRAPPER_GROUP=/etc/group
# SELFTEST_WINBINDD_SOCKET_DIR=DIR/member/winbindd (what `env` prints).
#
# DC: `samba-tool domain provision` into DIR/dc (realm WITNESS.TEST, domain WITNESS, internal DNS,
# no forwarder), then `samba` in the foreground inside the DC namespace, a test user
# (witnessuser / Witness-User-1; Administrator / Witness-Admin-1). Member: WMEMBER, own
# directories under DIR/member, `kerberos method = dedicated keytab` (DIR/member/krb5.keytab),
# joined with `net ads join`, winbindd inside the member namespace. SPNs cifs/FILESRV and
# cifs/filesrv.witness.test are on the member's account and their keys in DIR/cifs.keytab (see
# add_spns, cifs_keytab). KRB5_CONFIG=DIR/krb5.conf for every Kerberos client (MIT's kinit, klist,
# kvno and Samba's Heimdal alike). DIR/domain.json describes it all.
#
# Environment: PWAD_PREFIX (namespace prefix, default pwad); PWAD_MEMBER_NAME (the member's
# netbios name, default WMEMBER: an NTLM server verifying through its winbindd must name it as
# MsvAvNbComputerName in its CHALLENGE, or the DC refuses the NTLMv2 response).
set -uo pipefail

PREFIX=${PWAD_PREFIX:-pwad}
NET=198.18.10
DC_IP=$NET.1
MEMBER_IP=$NET.2
HUB=$PREFIX-hub
NS_DC=$PREFIX-dc
NS_MEMBER=$PREFIX-member
REALM=WITNESS.TEST
REALM_LC=witness.test
DOMAIN=WITNESS
DC_NAME=dc1
MEMBER_NAME=${PWAD_MEMBER_NAME:-wmember}
MEMBER_NAME=${MEMBER_NAME,,}
NETNAME=FILESRV
SPNS=("cifs/$NETNAME" "cifs/${NETNAME,,}.$REALM_LC")
ADMIN_PASS='Witness-Admin-1'
TEST_USER=witnessuser
TEST_PASS='Witness-User-1'
MARKER=.pacemaker-witness-domain
SYSPATH=/usr/sbin:/usr/bin:/sbin:/bin
SELF=$(readlink -f "$0")

fail() { echo "domain: $*" >&2; exit 1; }
secs() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(secs)" 'BEGIN { printf "%.1f", b - a }'; }
# Alive and not a zombie (PID 1 here reaps late).
alive() { [ -n "${1:-}" ] && [ -r "/proc/$1/stat" ] && [ "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" != Z ]; }
ns_exists() { ip netns list 2>/dev/null | grep -q "^$1\b"; }

set_dir() {
  [ -n "${1:-}" ] || fail "DIR missing"
  case "$1" in /*) DIR=$1 ;; *) DIR=$(pwd)/$1 ;; esac
  DIR=${DIR%/}
  [ -n "$DIR" ] && [ "$DIR" != / ] || fail "refusing DIR=/"
  D=$DIR/dc
  M=$DIR/member
  KRB5=$DIR/krb5.conf
}

anchor_pid() { cat "$DIR/$1.anchor" 2>/dev/null; }
# Runs a command inside host $1 (dc or member), with a clean environment plus the domain's.
in_host() {
  local h=$1 a; shift
  a=$(anchor_pid "$h")
  alive "$a" || fail "$h is not running"
  nsenter -t "$a" -m -u -n -- env -i PATH=$SYSPATH LANG=C.UTF-8 HOME=/root \
    KRB5_CONFIG="$KRB5" KRB5CCNAME="FILE:$DIR/ccache/$h" "$@"
}

write_files() {
  mkdir -p "$DIR/ccache" "$D/log" "$D/lock" "$D/run" "$D/ncalrpc" "$D/winbindd" "$D/ntp_signd"
  for d in private lock state cache run ncalrpc winbindd log; do mkdir -p "$M/$d"; done
  chmod 700 "$M/private" "$DIR/ccache"
  touch "$DIR/$MARKER"
  # Kerberos for every client here: MIT (kinit, klist) and Samba's Heimdal (net, winbindd) alike.
  # No DNS lookups, and the credential caches and default keytab are DIR's, not the host's.
  cat > "$KRB5" <<EOF
[libdefaults]
	default_realm = $REALM
	dns_lookup_realm = false
	dns_lookup_kdc = false
	rdns = false
	dns_canonicalize_hostname = false
	default_ccache_name = FILE:$DIR/ccache/krb5cc_%{uid}
	default_cc_name = FILE:$DIR/ccache/krb5cc_%{uid}
	default_keytab_name = FILE:$M/krb5.keytab

[realms]
	$REALM = {
		kdc = $DC_IP
		admin_server = $DC_IP
		kpasswd_server = $DC_IP
	}

[domain_realm]
	.$REALM_LC = $REALM
	$REALM_LC = $REALM
EOF
  cat > "$DIR/hosts" <<EOF
127.0.0.1 localhost
$DC_IP $DC_NAME.$REALM_LC $DC_NAME
$MEMBER_IP $MEMBER_NAME.$REALM_LC $MEMBER_NAME
EOF
  # The NetName whose cifs/ SPNs the member holds resolves to the member too.
  [ "$MEMBER_NAME" = "${NETNAME,,}" ] || echo "$MEMBER_IP ${NETNAME,,}.$REALM_LC ${NETNAME,,}" >> "$DIR/hosts"
  printf 'search %s\nnameserver %s\n' "$REALM_LC" "$DC_IP" > "$DIR/resolv.conf"
  # No smb.conf of Debian's is read: every daemon and tool here gets -s with one of these.
  cat > "$M/smb.conf" <<EOF
[global]
	netbios name = ${MEMBER_NAME^^}
	workgroup = $DOMAIN
	realm = $REALM
	security = ads
	kerberos method = dedicated keytab
	dedicated keytab file = $M/krb5.keytab
	password server = $DC_IP
	machine password timeout = 0
	interfaces = $MEMBER_IP
	bind interfaces only = yes
	disable netbios = yes
	private dir = $M/private
	lock directory = $M/lock
	state directory = $M/state
	cache directory = $M/cache
	pid directory = $M/run
	ncalrpc dir = $M/ncalrpc
	winbindd socket directory = $M/winbindd
	log file = $M/log/log.%m
	logging = file
	max log size = 0
	idmap config * : backend = tdb
	idmap config * : range = 3000-7999
	idmap config $DOMAIN : backend = rid
	idmap config $DOMAIN : range = 10000-999999
	winbind use default domain = no
	winbind enum users = no
	winbind enum groups = no
	load printers = no
	printing = bsd
	printcap name = /dev/null
	disable spoolss = yes
EOF
}

# The DC's smb.conf, written over the one provision leaves (which points its log at /var/log,
# forwards DNS to the host's resolver and defines printer shares).
write_dc_conf() {
  cat > "$D/etc/smb.conf" <<EOF
[global]
	netbios name = ${DC_NAME^^}
	workgroup = $DOMAIN
	realm = $REALM
	server role = active directory domain controller
	server services = -nbt -wrepl -ntp_signd -kcc -drepl -dnsupdate
	interfaces = $DC_IP
	bind interfaces only = yes
	disable netbios = yes
	private dir = $D/private
	binddns dir = $D/bind-dns
	lock directory = $D/lock
	state directory = $D/state
	cache directory = $D/cache
	pid directory = $D/run
	ncalrpc dir = $D/ncalrpc
	winbindd socket directory = $D/winbindd
	ntp signd socket directory = $D/ntp_signd
	log file = $D/log/log.%m
	logging = file
	max log size = 0
	load printers = no
	printing = bsd
	printcap name = /dev/null
	disable spoolss = yes
	tls enabled = no

[sysvol]
	path = $D/state/sysvol
	read only = No

[netlogon]
	path = $D/state/sysvol/$REALM_LC/scripts
	read only = No
EOF
}

# $1 host (dc, member), $2 address, $3 hostname.
start_anchor() {
  local h=$1 addr=$2 name=$3 ns=$PREFIX-$1 a i
  ip netns add "$ns" || fail "ip netns add $ns failed"
  ip -n "$HUB" link add "$h" type veth peer name eth0 netns "$ns" || fail "veth for $h failed"
  ip -n "$HUB" link set "$h" master br0 up
  ip -n "$ns" link set lo up
  ip -n "$ns" addr add "$addr/24" dev eth0
  ip -n "$ns" link set eth0 up
  rm -f "$DIR/$h.ready"
  setsid ip netns exec "$ns" unshare --mount --uts --propagation private -- /bin/sh -ec "
    mount --bind $DIR/hosts /etc/hosts
    mount --bind $DIR/resolv.conf /etc/resolv.conf
    mount -t tmpfs -o mode=0755 tmpfs /run/samba
    mkdir -m 0755 /run/samba/winbindd
    mount --bind $DIR/$h/winbindd /run/samba/winbindd
    if [ -d /var/log/samba ]; then mount --bind $DIR/$h/log /var/log/samba; fi
    hostname $name
    touch $DIR/$h.ready
    exec sleep infinity" > "$DIR/$h.anchor.log" 2>&1 < /dev/null &
  a=$!; echo "$a" > "$DIR/$h.anchor"
  for i in $(seq 1 200); do [ -e "$DIR/$h.ready" ] && break; alive "$a" || break; sleep 0.02; done
  [ -e "$DIR/$h.ready" ] || { cat "$DIR/$h.anchor.log" >&2; fail "$h: namespace setup failed"; }
}

# $1 host, $2 name (for DIR/NAME.pid and .out), then the daemon's command line.
start_daemon() {
  local h=$1 name=$2 a; shift 2
  a=$(anchor_pid "$h")
  setsid nsenter -t "$a" -m -u -n -- env -i PATH=$SYSPATH LANG=C.UTF-8 HOME=/root \
    KRB5_CONFIG="$KRB5" KRB5CCNAME="FILE:$DIR/ccache/$name" "$@" > "$DIR/$name.out" 2>&1 < /dev/null &
  echo $! > "$DIR/$name.pid"
}

# $1 host, $2 seconds, then a command that succeeds when ready.
wait_for() {
  local h=$1 limit=$2 t0; shift 2
  t0=$(secs)
  until in_host "$h" "$@" > /dev/null 2>&1; do
    awk -v a="$t0" -v b="$(secs)" -v t="$limit" 'BEGIN { exit !(b - a > t) }' && return 1
    sleep 0.1
  done
}

dc_listening() {
  local out p
  out=$(ss -Hltn 2>/dev/null) || return 1
  for p in 53 88 135 389 445 464; do printf '%s\n' "$out" | grep -q "$DC_IP:$p " || return 1; done
}

# Steps run side by side: `job NAME CMD…` starts CMD (a function, or in_host …) with its output in
# DIR/NAME.out; `await NAME…` waits for them and fails with the output of the first that failed.
declare -A JOBS=()
job() {
  local name=$1; shift
  ( "$@" ) > "$DIR/$name.out" 2>&1 &
  JOBS[$name]=$!
}
await() {
  local name rc=0 failed=""
  for name in "$@"; do
    wait "${JOBS[$name]}" || { rc=$?; failed=${failed:-$name}; }
    unset "JOBS[$name]"
  done
  [ -z "$failed" ] || { cat "$DIR/$failed.out" >&2; fail "$failed failed (exit $rc)"; }
}

# cifs/FILESRV and cifs/filesrv.witness.test: SPNs on the member's account (only an administrator
# may add names that are not the account's own host name: validated write), and their keys (the
# member's machine password, its salt) in a keytab of their own. `net ads keytab add` writes to the
# dedicated keytab file, pointed at DIR/cifs.keytab for that one call; it needs no SPN in AD.
add_spns() {
  local spn
  for spn in "${SPNS[@]}"; do
    in_host member net ads setspn add "$spn" -s "$M/smb.conf" -U "Administrator%$ADMIN_PASS" || return
  done
}
cifs_keytab() {
  rm -f "$DIR/cifs.keytab"
  in_host member net ads keytab add "${SPNS[@]}" -s "$M/smb.conf" -P \
    --option="dedicated keytab file=FILE:$DIR/cifs.keytab"
}

write_json() {
  local wbdir=$M/winbindd
  cat > "$DIR/domain.json" <<EOF
{
  "dir": "$DIR",
  "realm": "$REALM",
  "domain": "$DOMAIN",
  "dnsDomain": "$REALM_LC",
  "dcName": "$DC_NAME",
  "dcAddress": "$DC_IP",
  "memberName": "${MEMBER_NAME^^}",
  "memberAddress": "$MEMBER_IP",
  "netName": "$NETNAME",
  "namespaces": { "hub": "$HUB", "dc": "$NS_DC", "member": "$NS_MEMBER" },
  "adminUser": "Administrator",
  "adminPassword": "$ADMIN_PASS",
  "user": "$TEST_USER",
  "password": "$TEST_PASS",
  "dcSmbConf": "$D/etc/smb.conf",
  "smbConf": "$M/smb.conf",
  "krb5Conf": "$KRB5",
  "winbindSocketDir": "$wbdir",
  "memberKeytab": "$M/krb5.keytab",
  "keytab": "$DIR/cifs.keytab",
  "spns": ["${SPNS[0]}", "${SPNS[1]}"]
}
EOF
}

cmd_status() {
  local h
  [ -e "$DIR/$MARKER" ] || { echo "down"; return 1; }
  for h in dc member; do alive "$(anchor_pid "$h")" || { echo "down ($h namespace not running)"; return 1; }; done
  alive "$(cat "$DIR/samba.pid" 2>/dev/null)" || { echo "down (samba not running)"; return 1; }
  alive "$(cat "$DIR/winbindd.pid" 2>/dev/null)" || { echo "down (winbindd not running)"; return 1; }
  [ -e "$DIR/domain.json" ] || { echo "down (not fully up)"; return 1; }
  in_host member wbinfo --ping-dc > /dev/null 2>&1 || { echo "down (winbindd cannot reach the DC)"; return 1; }
  echo "up"
}

cmd_up() {
  local t0 t1 t
  t0=$(secs)
  if cmd_status > /dev/null 2>&1 && grep -q "\"memberName\": \"${MEMBER_NAME^^}\"" "$DIR/domain.json"; then
    echo "domain already up in $DIR"; return 0
  fi
  cmd_down > /dev/null
  for t in samba samba-tool net winbindd wbinfo; do command -v "$t" > /dev/null || fail "$t missing (Debian packages: see test/domain/README or domain.ts)"; done
  [ -d /usr/share/samba/setup ] || fail "samba-ad-provision missing"
  [ -e /usr/lib/x86_64-linux-gnu/samba/ldb/samba_dsdb.so ] || ls /usr/lib/*/samba/ldb/samba_dsdb.so > /dev/null 2>&1 || fail "samba-dsdb-modules missing"
  mkdir -p "$DIR"
  write_files
  ip netns add "$HUB" || fail "ip netns add $HUB failed"
  ip -n "$HUB" link set lo up
  ip -n "$HUB" link add br0 type bridge
  ip -n "$HUB" link set br0 up
  start_anchor dc "$DC_IP" "$DC_NAME"
  start_anchor member "$MEMBER_IP" "$MEMBER_NAME"
  echo "namespaces in $(since "$t0") s"

  t1=$(secs)
  in_host dc samba-tool domain provision --targetdir="$D" --realm="$REALM" --domain="$DOMAIN" \
    --server-role=dc --dns-backend=SAMBA_INTERNAL --host-name="$DC_NAME" --host-ip="$DC_IP" \
    --adminpass="$ADMIN_PASS" --option="interfaces=$DC_IP" --option="bind interfaces only=yes" \
    > "$DIR/provision.out" 2>&1 || { tail -20 "$DIR/provision.out" >&2; fail "provision failed"; }
  write_dc_conf
  echo "provisioned in $(since "$t1") s"

  t1=$(secs)
  start_daemon dc samba samba -s "$D/etc/smb.conf" --foreground --no-process-group
  # While samba starts, on its database directly: the DC's own SPNs (ldap/dc1.witness.test, …,
  # which the dnsupdate service would add at each start, but it is off: it also runs
  # samba_dnsupdate, needless after provision's records) and the test user.
  job spnupdate in_host dc samba_spnupdate -s "$D/etc/smb.conf"
  job user in_host dc samba-tool user create "$TEST_USER" "$TEST_PASS" -H "$D/private/sam.ldb" -s "$D/etc/smb.conf"
  await spnupdate user
  wait_for dc 60 bash "$SELF" dc-listening || { tail -30 "$D/log/log.samba" "$DIR/samba.out" >&2; fail "samba did not listen within 60 s"; }
  echo "DC answering in $(since "$t1") s"

  t1=$(secs)
  job join in_host member net ads join -U "Administrator%$ADMIN_PASS" -s "$M/smb.conf" --no-dns-updates
  await join
  echo "joined in $(since "$t1") s"
  start_daemon member winbindd winbindd -s "$M/smb.conf" --foreground --no-process-group
  # The member's own keys (host/, cifs/ and restrictedkrbhost/ for its name, and NAME$) in its
  # dedicated keytab: the join itself leaves that file absent.
  job keytab in_host member net ads keytab create -P -s "$M/smb.conf"
  job setspn add_spns
  job cifskeytab cifs_keytab
  await keytab setspn cifskeytab
  echo "SPNs and keytabs in $(since "$t1") s"
  wait_for member 30 wbinfo --ping-dc || { tail -30 "$M/log/log.winbindd" "$DIR/winbindd.out" >&2; fail "winbindd did not reach the DC within 30 s"; }
  write_json
  echo "member joined, keytabs written, winbindd ready in $(since "$t1") s"
  echo "domain up in $(since "$t0") s: $DIR/domain.json"
}

cmd_down() {
  local ns h p i pids
  # Gracefully first (samba and winbindd tell their children), then SIGKILL whatever is left in
  # the namespaces: that includes every child, the anchors and any command run there.
  for p in winbindd samba; do
    p=$(cat "$DIR/$p.pid" 2>/dev/null)
    alive "$p" && kill -TERM "$p" 2>/dev/null
  done
  for i in $(seq 1 30); do
    alive "$(cat "$DIR/samba.pid" 2>/dev/null)" || alive "$(cat "$DIR/winbindd.pid" 2>/dev/null)" || break
    sleep 0.1
  done
  for ns in "$NS_MEMBER" "$NS_DC" "$HUB"; do
    ns_exists "$ns" || continue
    for i in $(seq 1 100); do
      pids=$(ip netns pids "$ns" 2>/dev/null)
      [ -z "$pids" ] && break
      kill -KILL $pids 2>/dev/null
      sleep 0.05
    done
    [ -z "$(ip netns pids "$ns" 2>/dev/null)" ] || echo "domain: processes left in $ns: $(ip netns pids "$ns" | tr '\n' ' ')" >&2
    ip netns del "$ns" || echo "domain: ip netns del $ns failed" >&2
  done
  # Anything started with a pid file outside the namespaces (none should be) goes too.
  for h in samba winbindd dc.anchor member.anchor; do
    case $h in *.anchor) p=$(cat "$DIR/$h" 2>/dev/null) ;; *) p=$(cat "$DIR/$h.pid" 2>/dev/null) ;; esac
    alive "$p" && kill -KILL "$p" 2>/dev/null
  done
  if [ -e "$DIR/$MARKER" ]; then
    rm -rf "$DIR"
  elif [ -d "$DIR" ] && [ -n "$(ls -A "$DIR")" ]; then
    echo "domain: $DIR is not a domain directory: left as it is" >&2
  fi
  echo "domain down"
}

cmd_env() {
  local lib
  printf 'KRB5_CONFIG=%q\nKRB5CCNAME=%q\n' "$KRB5" "FILE:$DIR/ccache/root"
  lib=$(ls /usr/lib/*/libnss_wrapper.so 2>/dev/null | head -1)
  if [ -n "$lib" ]; then
    printf '# libwbclient users (wbinfo, ntlm_auth) in the root namespace, for this one command:\n'
    printf '# LD_PRELOAD=%q NSS_WRAPPER_PASSWD=/etc/passwd NSS_WRAPPER_GROUP=/etc/group SELFTEST_WINBINDD_SOCKET_DIR=%q\n' "$lib" "$M/winbindd"
  fi
}

cmd_logs() {
  local f
  for f in "$DIR"/*.out "$D"/log/log.* "$M"/log/log.*; do
    [ -s "$f" ] || continue
    echo "==> $f <=="; tail -n "${LINES_PER_LOG:-40}" "$f"
  done
}

[ "$(id -u)" = 0 ] || fail "must run as root (network and mount namespaces)"
cmd=${1:-}; shift || true
case "$cmd" in
  up) set_dir "${1:-}"; cmd_up ;;
  down) set_dir "${1:-}"; cmd_down ;;
  status) set_dir "${1:-}"; cmd_status ;;
  exec-dc) set_dir "${1:-}"; shift; in_host dc "$@" ;;
  exec-member) set_dir "${1:-}"; shift; in_host member "$@" ;;
  env) set_dir "${1:-}"; cmd_env ;;
  logs) set_dir "${1:-}"; cmd_logs ;;
  dc-listening) dc_listening ;;
  *) sed -n '2,/^set -uo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
esac
