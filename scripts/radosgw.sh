#!/usr/bin/env bash
# A real S3-compatible server for tests: a single-node Ceph (one mon, one memstore OSD, no mgr) with
# radosgw on 127.0.0.1:7480 and fixed test credentials. Runs as root, without systemd.
#
#   scripts/radosgw.sh [start]   install Debian's packages if missing, start (or restart) the daemons,
#                                then print `export FERRY_TEST_S3_...=...` lines on stdout
#                                (so `eval "$(scripts/radosgw.sh)"` works; progress goes to stderr)
#   scripts/radosgw.sh env       print those lines only
#   scripts/radosgw.sh status    exit 0 if radosgw answers, 1 if not
#   scripts/radosgw.sh stop      stop the daemons (state is kept; memstore saves itself on a clean stop)
#   scripts/radosgw.sh reset     stop the daemons and wipe the state dir
#
# Everything lives under $FERRY_RADOSGW_DIR (default /var/tmp/ferry-radosgw). Notes: scripts/radosgw.md.
set -euo pipefail

DIR=${FERRY_RADOSGW_DIR:-/var/tmp/ferry-radosgw}
CONF=$DIR/ceph.conf
RGW_ADDR=127.0.0.1:7480
MON_ADDR=127.0.0.1:3300
ENDPOINT=http://$RGW_ADDR
S3_UID=ferry-test
ACCESS_KEY=FERRYTESTACCESSKEY
SECRET_KEY=ferry-test-secret-key-0123456789
PACKAGES=(ceph-mon ceph-osd radosgw)

log() { echo "radosgw.sh: $*" >&2; }
die() {
  log "$*"
  exit 1
}

print_env() {
  cat <<EOF
export FERRY_TEST_S3_ENDPOINT=$ENDPOINT
export FERRY_TEST_S3_REGION=us-east-1
export FERRY_TEST_S3_ACCESS_KEY_ID=$ACCESS_KEY
export FERRY_TEST_S3_SECRET_ACCESS_KEY=$SECRET_KEY
EOF
}

# radosgw answers an anonymous GET / with an (empty) ListAllMyBucketsResult.
answers() { curl -s -m 3 "$ENDPOINT/" 2>/dev/null | grep -q ListAllMyBucketsResult; }

ceph_cli() { timeout 30 ceph -c "$CONF" --connect-timeout 20 "$@"; }

install_packages() {
  local missing=false bin
  for bin in ceph-mon ceph-osd radosgw radosgw-admin ceph ceph-authtool monmaptool curl; do
    command -v "$bin" >/dev/null 2>&1 || missing=true
  done
  [ "$missing" = true ] || return 0
  [ "$(id -u)" = 0 ] || die "Ceph is not installed and this is not root: apt-get install ${PACKAGES[*]} curl"
  log "installing ${PACKAGES[*]} (Debian packages)"
  export DEBIAN_FRONTEND=noninteractive
  # Stale package lists 404 on download: refresh them and try once more.
  apt-get install -y -qq --no-install-recommends "${PACKAGES[@]}" curl >&2 ||
    { apt-get update -qq >&2 && apt-get install -y -qq --no-install-recommends "${PACKAGES[@]}" curl >&2; }
}

# pid of a daemon of ours that is alive, from its pid file; empty when none.
daemon_pid() {
  local name=$1 bin=$2 pid
  pid=$(cat "$DIR/run/$name.pid" 2>/dev/null || true)
  if [ -n "$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$bin" ] &&
    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$CONF"; then
    echo "$pid"
  fi
}

# TERMs the given daemons ("name binary" each) and waits for them, KILLing any still there after 30 s.
stop_group() {
  local entry name bin pid names=() pids=() i waited
  for entry in "$@"; do
    name=${entry% *}
    bin=${entry#* }
    pid=$(daemon_pid "$name" "$bin")
    [ -n "$pid" ] || continue
    log "stopping $name (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    names+=("$name")
    pids+=("$pid")
  done
  for i in "${!pids[@]}"; do
    waited=0
    while kill -0 "${pids[$i]}" 2>/dev/null; do
      if [ "$waited" -ge 300 ]; then
        log "${names[$i]} did not stop in 30 s: killing it"
        kill -KILL "${pids[$i]}" 2>/dev/null || true
        break
      fi
      sleep 0.1
      waited=$((waited + 1))
    done
    log "${names[$i]} gone after $((waited / 10)).$((waited % 10)) s"
    rm -f "$DIR/run/${names[$i]}.pid"
    # memstore has written its objects to disk only if the OSD exited on TERM.
    if [ "${names[$i]}" = osd.0 ] && [ "$waited" -lt 300 ] && [ -f "$DIR/ready" ]; then touch "$DIR/osd-saved"; fi
  done
}

# One after the other, ~2-3 s each: radosgw hangs on TERM if the OSD is already going, and the OSD tells the
# mon that it goes.
stop_daemons() {
  stop_group "client.rgw.x radosgw"
  stop_group "osd.0 ceph-osd"
  stop_group "mon.a ceph-mon"
}

write_conf() {
  local fsid=$1
  cat >"$CONF" <<EOF
# Written by scripts/radosgw.sh: a throwaway single-node test cluster.
[global]
fsid = $fsid
mon host = [v2:$MON_ADDR]
mon initial members = a
public addr = 127.0.0.1
cluster addr = 127.0.0.1
ms bind msgr1 = false
ms bind msgr2 = true
auth cluster required = cephx
auth service required = cephx
auth client required = cephx
keyring = $DIR/keyring
run dir = $DIR/run
admin socket = $DIR/run/\$name.asok
pid file = $DIR/run/\$name.pid
log file = $DIR/log/\$name.log
crash dir = $DIR/crash
mon data = $DIR/mon.\$id
osd data = $DIR/osd.\$id
rgw data = $DIR/rgw.\$id
osd objectstore = memstore
# memstore keeps objects in memory and writes them to osd data only when unmounted: the OSD must unmount
# on SIGTERM (Pacific's fast shutdown skips that).
osd fast shutdown = false
memstore device bytes = 4294967296
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
osd crush chooseleaf type = 0
mon allow pool size one = true
mon allow pool delete = true
mon warn on pool no redundancy = false
mon data avail warn = 1
mon data avail crit = 0
mon warn on insecure global id reclaim allowed = false
# Each mon command (rgw creates its pools one by one) otherwise waits for the 1 s proposal interval.
paxos propose interval = 0.05

[client.rgw.x]
# tcp_nodelay: without it small responses wait ~40 ms for the client's delayed ACK.
rgw frontends = beast endpoint=$RGW_ADDR tcp_nodelay=1
# Lifecycle workers retry their shard locks every 5 s and hold up a stop; tests do not wait a day for them.
rgw enable lc threads = false
# A deleted object's data stays in the memstore until garbage collection, two hours after the delete by
# default: a long session of tests, benches and a soak filled the 4 GiB store (the OSD's full failsafe
# then drops every write and S3 tests hang). Collect within a minute instead.
rgw gc obj min wait = 30
rgw gc processor period = 30
EOF
}

wait_for() {
  local what=$1 seconds=$2
  shift 2
  local deadline=$((SECONDS + seconds))
  until "$@" >/dev/null 2>&1; do
    [ "$SECONDS" -lt "$deadline" ] || return 1
    sleep 0.2
  done
  log "$what (+${SECONDS}s)"
}

osd_up() { ceph_cli osd stat -f json | grep -q '"num_up_osds":1'; }

# Starts whichever daemon is not running. The daemons fork themselves; their stdio goes to files so
# that a caller reading this script's output through a pipe is not held open by them.
start_daemons() {
  mkdir -p "$DIR/log" "$DIR/run" "$DIR/crash"
  if [ -z "$(daemon_pid mon.a ceph-mon)" ]; then
    log "starting ceph-mon"
    ceph-mon -c "$CONF" -i a </dev/null >>"$DIR/log/mon.a.out" 2>&1 9>&- || return 1
  fi
  if [ -z "$(daemon_pid osd.0 ceph-osd)" ]; then
    log "starting ceph-osd"
    rm -f "$DIR/osd-saved"
    ceph-osd -c "$CONF" -i 0 </dev/null >>"$DIR/log/osd.0.out" 2>&1 9>&- || return 1
  fi
  wait_for "osd.0 up" 60 osd_up || return 1
  if [ -z "$(daemon_pid client.rgw.x radosgw)" ]; then
    log "starting radosgw"
    radosgw -c "$CONF" -n client.rgw.x </dev/null >>"$DIR/log/rgw.x.out" 2>&1 9>&- || return 1
  fi
  wait_for "radosgw answering on $RGW_ADDR" 30 answers || return 1
}

create_cluster() {
  log "creating a new cluster in $DIR"
  rm -rf "$DIR.prev"
  if [ -d "$DIR" ]; then mv "$DIR" "$DIR.prev"; fi # its logs, for a look at why it was replaced
  mkdir -p "$DIR/mon.a" "$DIR/osd.0" "$DIR/rgw.x" "$DIR/log" "$DIR/run" "$DIR/crash"
  write_conf "$(uuidgen)"
  local k=$DIR/keyring
  {
    ceph-authtool --create-keyring "$k" --gen-key -n mon. --cap mon 'allow *'
    ceph-authtool "$k" --gen-key -n client.admin --cap mon 'allow *' --cap osd 'allow *' --cap mgr 'allow *' --cap mds 'allow *'
    ceph-authtool "$k" --gen-key -n osd.0 --cap mon 'allow profile osd' --cap osd 'allow *' --cap mgr 'allow profile osd'
    ceph-authtool "$k" --gen-key -n client.rgw.x --cap mon 'allow rw' --cap osd 'allow rwx' --cap mgr 'allow rw'
    # The mon imports every key of this keyring into its auth database at mkfs.
    monmaptool --create --fsid "$(sed -n 's/^fsid = //p' "$CONF")" --addv a "[v2:$MON_ADDR]" "$DIR/monmap"
    ceph-mon -c "$CONF" --mkfs -i a --monmap "$DIR/monmap" --keyring "$k"
  } >>"$DIR/log/setup.out" 2>&1 || return 1
  log "starting ceph-mon"
  ceph-mon -c "$CONF" -i a </dev/null >>"$DIR/log/mon.a.out" 2>&1 9>&- || return 1
  local osd_uuid
  osd_uuid=$(uuidgen)
  [ "$(ceph_cli osd create "$osd_uuid" 2>>"$DIR/log/setup.out")" = 0 ] || return 1
  ceph-osd -c "$CONF" -i 0 --mkfs --osd-uuid "$osd_uuid" </dev/null >>"$DIR/log/setup.out" 2>&1 || return 1
  start_daemons || return 1
  radosgw-admin -c "$CONF" -n client.admin user create --uid="$S3_UID" --display-name="Ferry tests" \
    --access-key="$ACCESS_KEY" --secret="$SECRET_KEY" >>"$DIR/log/setup.out" 2>&1 || return 1
  touch "$DIR/ready"
}

start() {
  if answers; then
    log "radosgw already answers on $RGW_ADDR"
    return 0
  fi
  install_packages
  if [ -f "$DIR/ready" ]; then
    if [ -z "$(daemon_pid osd.0 ceph-osd)" ] && [ ! -f "$DIR/osd-saved" ]; then
      # Killed rather than stopped (e.g. with the session): the in-memory objects are gone.
      log "osd.0 was not stopped cleanly, so its memstore lost its objects"
    else
      log "restarting the cluster in $DIR"
      write_conf "$(sed -n 's/^fsid = //p' "$CONF")" # this script's current settings
      if start_daemons; then return 0; fi
      log "restart failed (logs in $DIR.prev/log)"
    fi
  fi
  stop_daemons
  if ! create_cluster; then
    stop_daemons
    die "could not start radosgw; logs in $DIR/log"
  fi
}

# One at a time (parallel test workers may all call start); fd 9 is closed for the daemons.
lock() {
  mkdir -p "$(dirname "$DIR")"
  exec 9>"$DIR.lock"
  flock -w 300 9 || die "another radosgw.sh holds $DIR.lock"
}

case "${1:-start}" in
start)
  lock
  start
  print_env
  ;;
env) print_env ;;
status) answers ;;
stop)
  lock
  stop_daemons
  ;;
reset)
  lock
  stop_daemons
  rm -rf "$DIR" "$DIR.prev"
  log "removed $DIR"
  ;;
*) die "usage: $0 [start|env|status|stop|reset]" ;;
esac
