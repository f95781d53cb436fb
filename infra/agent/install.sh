#!/usr/bin/env bash
# Installs the Ferry agent from its release directory (the unpacked ferry-agent-linux-x64.tar.gz, as
# the control plane serves it at /downloads) and enrolls it with the control plane, as the install line
# an enrollment token comes with does:
#
#   printf %s 'fet_…' | sudo ./install.sh --server https://cp.example --token-file - \
#                     --key-thumbprint <RFC 7638 thumbprint> [--data-dir DIR]
#                     [--privileged-port] [--ca-file CA.pem] [--dry-run]
#
# --token-file FILE  read the one-time enrollment token from FILE, or from standard input with `-`; it
#                    is never an argument of any process (other local users could read it with ps)
# --key-thumbprint T the control plane's recipient key, as the token's install line gives it: the
#                    enrollment is refused if the control plane answers with another key
#
# It creates the system user `ferry`, copies node + the bundle into /opt/ferry-agent (the command is
# /opt/ferry-agent/bin/ferry-agent), creates the data directory (0700, owned by ferry), runs
# `ferry-agent enroll` as ferry, then installs, enables and starts the systemd unit. Run again with a new release to upgrade: the data directory (spool, key,
# agent.json) is kept and enrollment is skipped when the gateway already has an identity.
#
# --privileged-port  also install port-104.conf: the agent may bind ports below 1024 (DICOM's 104);
#                    --no-privileged-port removes it; with neither, an upgrade keeps what is there
# --ca-file FILE     trust this CA for the control plane and S3 (a private CA, a TLS-inspecting proxy)
# --dry-run          print what would be done, change nothing
#
# Paths can be moved, for packaging and for tests: FERRY_PREFIX (/opt/ferry-agent), FERRY_SYSTEMD_DIR
# (/etc/systemd/system), FERRY_USER (ferry); FERRY_SKIP_USER=1 runs everything as the calling user,
# FERRY_SKIP_SYSTEMCTL=1 installs the unit without calling systemctl.
set -euo pipefail

usage() {
  sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2
  exit 2
}

die() {
  echo "install.sh: $*" >&2
  exit 1
}

server=''
token_file=''
key_thumbprint=''
data_dir='/var/lib/ferry-agent'
privileged_port=keep
ca_file=''
dry_run=false
while [ $# -gt 0 ]; do
  case "$1" in
    --server) server="${2:-}"; shift 2 ;;
    --token-file) token_file="${2:-}"; shift 2 ;;
    --key-thumbprint) key_thumbprint="${2:-}"; shift 2 ;;
    --token | --token=*) die "--token is not accepted: a token on the command line is visible to every local user; pass it on standard input (--token-file -) or in a file (--token-file FILE)" ;;
    --data-dir) data_dir="${2:-}"; shift 2 ;;
    --privileged-port) privileged_port=true; shift ;;
    --no-privileged-port) privileged_port=false; shift ;;
    --ca-file) ca_file="${2:-}"; shift 2 ;;
    --dry-run) dry_run=true; shift ;;
    -h | --help) usage ;;
    *) echo "install.sh: unknown option $1" >&2; usage ;;
  esac
done

src="$(cd "$(dirname "$0")" && pwd)"
prefix="${FERRY_PREFIX:-/opt/ferry-agent}"
systemd_dir="${FERRY_SYSTEMD_DIR:-/etc/systemd/system}"
user="${FERRY_USER:-ferry}"
skip_user="${FERRY_SKIP_USER:-0}"
skip_systemctl="${FERRY_SKIP_SYSTEMCTL:-0}"
unit=ferry-agent.service

case "$data_dir" in /*) ;; *) die "--data-dir must be an absolute path, got $data_dir" ;; esac
case "$prefix" in /*) ;; *) die "FERRY_PREFIX must be an absolute path, got $prefix" ;; esac
for f in node ferry-agent.mjs image-codec-worker.mjs charlswasm.wasm node-zstd.linux-x64-gnu.node VERSION "$unit" "$unit.d/port-104.conf"; do
  [ -e "$src/$f" ] || die "$src/$f is missing: run install.sh from the unpacked release directory"
done
[ -z "$ca_file" ] || [ -r "$ca_file" ] || die "cannot read --ca-file $ca_file"
if [ "$skip_user" != 1 ] && [ "$(id -u)" -ne 0 ]; then
  die "run as root (sudo ./install.sh ...), or set FERRY_SKIP_USER=1 to install for the calling user"
fi

# The token, read here once (as root, who may read a file the service user cannot), and handed to
# `ferry-agent enroll` on its standard input by printf, a shell builtin: never on any argv.
token=''
if [ -n "$token_file" ]; then
  if [ "$token_file" = - ]; then
    IFS= read -r token || true
  else
    [ -r "$token_file" ] || die "cannot read --token-file $token_file"
    IFS= read -r token <"$token_file" || true
  fi
  case "$token" in
    '' | *[!A-Za-z0-9_-]*) die "--token-file must hold the one enrollment token (fet_...) and nothing else" ;;
  esac
fi

run() {
  if [ "$dry_run" = true ]; then
    printf 'would run:'
    printf ' %q' "$@"
    printf '\n'
  else
    "$@"
  fi
}

# As the service user (who owns the data dir), so the key and agent.json get the right owner.
as_user() {
  if [ "$skip_user" = 1 ]; then
    run "$@"
  else
    run runuser -u "$user" -- "$@"
  fi
}

echo "installing $(tr '\n' ' ' <"$src/VERSION")"

# 1. The service user: a system account with no shell and no home of its own.
if [ "$skip_user" != 1 ] && ! id -u "$user" >/dev/null 2>&1; then
  run useradd --system --user-group --home-dir "$data_dir" --no-create-home --shell /usr/sbin/nologin \
    --comment 'Ferry DICOM gateway' "$user"
fi

# 2. The program: node + the bundle, its image codec worker and .wasm, and its native addon,
# root-owned and read-only to the service.
# Each file is replaced by rename, so a running agent keeps its open copy until it restarts.
run install -d -m 0755 "$prefix"
for f in node ferry-agent.mjs image-codec-worker.mjs charlswasm.wasm node-zstd.linux-x64-gnu.node VERSION; do
  mode=0644
  [ "$f" = node ] && mode=0755
  run install -m "$mode" "$src/$f" "$prefix/.$f.new"
  run mv -f "$prefix/.$f.new" "$prefix/$f"
done
# The command an admin types: /opt/ferry-agent/bin/ferry-agent, the bundle on its own Node.
run install -d -m 0755 "$prefix/bin"
if [ "$dry_run" = true ]; then
  echo "would write $prefix/bin/ferry-agent"
else
  printf '#!/bin/sh\nexec "%s/node" "%s/ferry-agent.mjs" "$@"\n' "$prefix" "$prefix" >"$prefix/bin/.ferry-agent.new"
  chmod 0755 "$prefix/bin/.ferry-agent.new"
  mv -f "$prefix/bin/.ferry-agent.new" "$prefix/bin/ferry-agent"
fi
node_env=()
if [ -n "$ca_file" ]; then
  run install -m 0644 "$ca_file" "$prefix/ca.pem"
  node_env=(env "NODE_EXTRA_CA_CERTS=$prefix/ca.pem")
fi

# 3. The data directory: the spool, the gateway's private key and agent.json. Only the agent reads it.
run install -d -m 0700 "$data_dir"
if [ "$skip_user" != 1 ]; then
  run chown "$user:$user" "$data_dir"
fi

# A release installed here by hand supersedes one a remote upgrade put in the data directory: the
# supervisor (`ferry-agent run`) runs what DATA/releases/state.json names, so forget it.
if [ -f "$data_dir/releases/state.json" ]; then
  run rm -f "$data_dir/releases/state.json"
fi

# 4. Enrollment, unless this data directory already belongs to an enrolled gateway (an upgrade).
if [ -f "$data_dir/agent.json" ] && [ -d "$data_dir/identity" ] && [ -z "$token" ]; then
  echo "keeping the enrolled gateway in $data_dir (upgrade)"
else
  [ -n "$server" ] || die "--server is required to enroll"
  [ -n "$token" ] || die "--token-file is required to enroll (the token on standard input: --token-file -)"
  [ -n "$key_thumbprint" ] || die "--key-thumbprint is required to enroll (the install line gives it)"
  enroll=("${node_env[@]}" "$prefix/node" "$prefix/ferry-agent.mjs" enroll \
    --server "$server" --token-file - --key-thumbprint "$key_thumbprint" --data-dir "$data_dir")
  if [ "$dry_run" = true ]; then
    # Not piped: a dry run reads no token from the pipe, so printf could die of SIGPIPE (pipefail: 141).
    as_user "${enroll[@]}"
  else
    printf '%s' "$token" | as_user "${enroll[@]}"
  fi
fi

# 5. The unit, with this install's paths, and its drop-ins.
render() {
  sed -e "s#/opt/ferry-agent#$prefix#g" -e "s#/var/lib/ferry-agent#$data_dir#g" \
    -e "s#^User=ferry\$#User=$user#" -e "s#^Group=ferry\$#Group=$user#" "$1"
}
run install -d -m 0755 "$systemd_dir" "$systemd_dir/$unit.d"
if [ "$dry_run" = true ]; then
  echo "would write $systemd_dir/$unit"
else
  render "$src/$unit" >"$systemd_dir/.$unit.new"
  chmod 0644 "$systemd_dir/.$unit.new"
  mv -f "$systemd_dir/.$unit.new" "$systemd_dir/$unit"
fi
if [ "$privileged_port" = keep ] && [ -f "$systemd_dir/$unit.d/port-104.conf" ]; then
  privileged_port=true
fi
if [ "$privileged_port" = true ]; then
  run install -m 0644 "$src/$unit.d/port-104.conf" "$systemd_dir/$unit.d/port-104.conf"
else
  run rm -f "$systemd_dir/$unit.d/port-104.conf"
  port="$(sed -n 's/^ *"port": *\([0-9]*\).*/\1/p' "$data_dir/agent.json" 2>/dev/null | head -n 1 || true)"
  if [ -n "$port" ] && [ "$port" -lt 1024 ]; then
    echo "install.sh: warning: the facility's DICOM port is $port; the agent cannot bind it without --privileged-port" >&2
  fi
fi
if [ -n "$ca_file" ]; then
  if [ "$dry_run" = true ]; then
    echo "would write $systemd_dir/$unit.d/ca.conf"
  else
    printf '[Service]\nEnvironment=NODE_EXTRA_CA_CERTS=%s/ca.pem\n' "$prefix" >"$systemd_dir/$unit.d/ca.conf"
    chmod 0644 "$systemd_dir/$unit.d/ca.conf"
  fi
fi

# 6. Start it (restart on upgrade, so the new bundle runs).
if [ "$skip_systemctl" = 1 ]; then
  echo "installed $systemd_dir/$unit (systemctl skipped)"
else
  run systemctl daemon-reload
  run systemctl enable "$unit"
  run systemctl restart "$unit"
  echo "started $unit; follow it with: journalctl -u $unit -f"
fi
