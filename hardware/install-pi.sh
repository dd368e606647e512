#!/usr/bin/env bash
# Install (or upgrade) the Voyant room agent on Raspberry Pi OS (Bookworm).
#
#   sudo hardware/install-pi.sh                  # from a checkout of the repository
#   sudo hardware/install-pi.sh --source voyant-0.1.0-py3-none-any.whl
#
# What it does, each step idempotent (a second run changes nothing it need not):
#   1. apt: python3-venv, python3-dev, swig, liblgpio-dev (to build lgpio if no wheel fits)
#   2. the system user `voyant` (no login, no home) in the groups gpio and dialout
#   3. /opt/voyant/venv with `pip install '<source>[pi]'`: the agent's dependencies
#      (gpiozero, pyserial, pydantic, paho-mqtt...) and lgpio; none of the hub's
#      (its `hub` extra: FastAPI, WeasyPrint, the broker) nor the simulator's
#   4. /etc/voyant (root:voyant 0750); /etc/voyant/agent.toml from hardware/default-agent.toml
#      ONLY if it is missing (root:voyant 0640; an existing configuration is never
#      touched); agent.toml.example is always refreshed beside it for comparison
#   5. /var/lib/voyant (voyant:voyant 0750): the journal
#   6. /etc/systemd/system/voyant-edge.service (0644), then `systemctl enable --now`.
#      An agent that is already running is NOT restarted: with the interlock relay
#      enabled a restart stops X-rays (hardware/safety.md). Restart it yourself.
#
# Options:
#   --root DIR        install into DIR instead of / (a staging or throwaway root, as the
#                     tests do). Every path is prefixed with DIR; nothing outside DIR is
#                     changed: apt is skipped, the user and groups are written into
#                     DIR/etc/passwd and DIR/etc/group, files are chowned to those ids
#                     only when running as root, and systemctl only runs as
#                     `systemctl --root=DIR enable` (no start). The venv's scripts point
#                     into DIR: such a venv is for tests, not to be copied to a Pi.
#   --source PATH     the checkout (a folder with pyproject.toml) or a wheel to install
#                     (default: the checkout this script is in)
#   --python PY       the interpreter for the venv (default: python3)
#   --pip-args ARGS   extra arguments for pip install, split on spaces (the tests give
#                     "--no-deps")
#   --no-apt          do not install Debian packages
#   --no-pip          do not create the venv nor run pip
#   --no-systemctl    do not run systemctl (the unit file is still installed)
#   -h, --help        this text
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=""
SOURCE=$(dirname "$SCRIPT_DIR")
PYTHON=python3
PIP_ARGS=""
DO_APT=1
DO_PIP=1
DO_SYSTEMCTL=1

APT_PACKAGES="python3-venv python3-dev swig liblgpio-dev"
USER_NAME=voyant
GROUPS_WANTED="gpio dialout"
UNIT=voyant-edge.service

say() { printf 'install-pi: %s\n' "$*"; }
die() { printf 'install-pi: error: %s\n' "$*" >&2; exit 1; }
usage() { sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'; }

while [ $# -gt 0 ]; do
  case "$1" in
    --root) [ $# -ge 2 ] || die "--root needs a folder"; ROOT=$2; shift 2 ;;
    --root=*) ROOT=${1#*=}; shift ;;
    --source) [ $# -ge 2 ] || die "--source needs a path"; SOURCE=$2; shift 2 ;;
    --source=*) SOURCE=${1#*=}; shift ;;
    --python) [ $# -ge 2 ] || die "--python needs an interpreter"; PYTHON=$2; shift 2 ;;
    --python=*) PYTHON=${1#*=}; shift ;;
    --pip-args) [ $# -ge 2 ] || die "--pip-args needs a value"; PIP_ARGS=$2; shift 2 ;;
    --pip-args=*) PIP_ARGS=${1#*=}; shift ;;
    --no-apt) DO_APT=0; shift ;;
    --no-pip) DO_PIP=0; shift ;;
    --no-systemctl) DO_SYSTEMCTL=0; shift ;;
    -h|--help) usage; exit 0 ;;
    *) die "unknown option: $1 (see --help)" ;;
  esac
done

# A throwaway root: an absolute path other than /. Empty ROOT means the real system.
if [ -n "$ROOT" ]; then
  mkdir -p "$ROOT"
  ROOT=$(cd "$ROOT" && pwd)
  if [ "$ROOT" = / ]; then ROOT=""; fi
fi
STAGED=0
if [ -n "$ROOT" ]; then STAGED=1; fi
IS_ROOT=0
if [ "$(id -u)" -eq 0 ]; then IS_ROOT=1; fi
if [ "$STAGED" -eq 0 ] && [ "$IS_ROOT" -eq 0 ]; then
  die "run as root (sudo), or give --root DIR for a staged install"
fi

TEMPLATE="$SCRIPT_DIR/default-agent.toml"
UNIT_SOURCE="$SCRIPT_DIR/systemd/$UNIT"
[ -f "$TEMPLATE" ] || die "missing $TEMPLATE"
[ -f "$UNIT_SOURCE" ] || die "missing $UNIT_SOURCE"

VENV="$ROOT/opt/voyant/venv"
ETC="$ROOT/etc/voyant"
CONFIG="$ETC/agent.toml"
STATE="$ROOT/var/lib/voyant"
UNIT_DIR="$ROOT/etc/systemd/system"

# ---------------------------------------------------------------- 1. Debian packages
if [ "$DO_APT" -eq 1 ] && [ "$STAGED" -eq 1 ]; then
  say "apt: skipped (--root: the host's packages are not changed)"
elif [ "$DO_APT" -eq 1 ]; then
  missing=""
  for pkg in $APT_PACKAGES; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" \
      || missing="$missing $pkg"
  done
  if [ -n "$missing" ]; then
    say "apt: installing$missing"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    # shellcheck disable=SC2086  # the list is meant to split
    apt-get install -y -qq --no-install-recommends $missing
  else
    say "apt: $APT_PACKAGES already installed"
  fi
else
  say "apt: skipped (--no-apt)"
fi

# ---------------------------------------------------------------- 2. user and groups
# In a staged root: plain passwd/group files, the first free system id from 999 down.
free_id() {  # free_id FILE: a free id in 100..999 in field 3 of FILE
  local id=999
  while cut -d: -f3 "$1" | grep -qx "$id"; do id=$((id - 1)); done
  [ "$id" -ge 100 ] || die "no free system id in $1"
  echo "$id"
}
staged_group() {  # staged_group NAME [GID]: make sure the group exists in $ROOT/etc/group
  local file="$ROOT/etc/group"
  grep -q "^$1:" "$file" && return 0
  local gid=${2:-$(free_id "$file")}
  echo "$1:x:$gid:" >>"$file"
  say "user: group $1 ($gid) written to $file"
}
staged_member() {  # staged_member GROUP USER: add USER to GROUP's member list
  local file="$ROOT/etc/group" line
  line=$(grep "^$1:" "$file")
  case ",${line##*:}," in *",$2,"*) return 0 ;; esac
  if [ -z "${line##*:}" ]; then line="$line$2"; else line="$line,$2"; fi
  awk -v g="$1" -v l="$line" -F: '$1 == g { print l; next } { print }' "$file" >"$file.new"
  mv "$file.new" "$file"
}

if [ "$STAGED" -eq 1 ]; then
  mkdir -p "$ROOT/etc"
  touch "$ROOT/etc/passwd" "$ROOT/etc/group"
  staged_group dialout 20
  staged_group gpio
  staged_group "$USER_NAME"
  if ! grep -q "^$USER_NAME:" "$ROOT/etc/passwd"; then
    gid=$(grep "^$USER_NAME:" "$ROOT/etc/group" | cut -d: -f3)
    uid=$gid  # the same number as the group when it is free
    if cut -d: -f3 "$ROOT/etc/passwd" | grep -qx "$uid"; then uid=$(free_id "$ROOT/etc/passwd"); fi
    echo "$USER_NAME:x:$uid:$gid:Voyant room agent:/var/lib/voyant:/usr/sbin/nologin" \
      >>"$ROOT/etc/passwd"
    say "user: $USER_NAME ($uid) written to $ROOT/etc/passwd"
  else
    say "user: $USER_NAME already in $ROOT/etc/passwd"
  fi
  for g in $GROUPS_WANTED; do staged_member "$g" "$USER_NAME"; done
  USER_ID=$(grep "^$USER_NAME:" "$ROOT/etc/passwd" | cut -d: -f3)
  GROUP_ID=$(grep "^$USER_NAME:" "$ROOT/etc/group" | cut -d: -f3)
else
  for g in $GROUPS_WANTED; do
    getent group "$g" >/dev/null || { groupadd --system "$g"; say "user: group $g created"; }
  done
  if ! getent passwd "$USER_NAME" >/dev/null; then
    useradd --system --user-group --home-dir /var/lib/voyant --no-create-home \
      --shell /usr/sbin/nologin --comment "Voyant room agent" "$USER_NAME"
    say "user: $USER_NAME created"
  else
    say "user: $USER_NAME exists"
  fi
  usermod -a -G "$(echo "$GROUPS_WANTED" | tr ' ' ,)" "$USER_NAME"
  USER_ID=$(id -u "$USER_NAME")
  GROUP_ID=$(id -g "$USER_NAME")
fi

# own OWNER:GROUP PATH (numeric ids): skipped when a staged install runs unprivileged.
own() {
  if [ "$IS_ROOT" -eq 1 ]; then chown "$1" "$2"; fi
}

# ---------------------------------------------------------------- 3. venv and package
if [ "$DO_PIP" -eq 1 ]; then
  if [ -f "$SOURCE" ]; then
    case "$SOURCE" in *.whl) ;; *) die "--source: $SOURCE is not a wheel" ;; esac
  elif [ ! -f "$SOURCE/pyproject.toml" ]; then
    die "--source: $SOURCE has no pyproject.toml"
  fi
  SOURCE=$(cd "$(dirname "$SOURCE")" && pwd)/$(basename "$SOURCE")
  if [ ! -x "$VENV/bin/python" ]; then
    mkdir -p "$(dirname "$VENV")"
    "$PYTHON" -m venv "$VENV"
    say "venv: created $VENV"
  else
    say "venv: $VENV exists"
  fi
  # shellcheck disable=SC2086  # PIP_ARGS is a list of options
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check $PIP_ARGS \
    "${SOURCE}[pi]"
  say "venv: installed $(basename "$SOURCE") with the pi extra"
else
  say "venv: skipped (--no-pip)"
fi

# ---------------------------------------------------------------- 4. configuration
install -d -m 0750 "$ETC"
own "0:$GROUP_ID" "$ETC"
install -m 0640 "$TEMPLATE" "$ETC/agent.toml.example"
own "0:$GROUP_ID" "$ETC/agent.toml.example"
NEW_CONFIG=0
if [ -e "$CONFIG" ]; then
  say "config: $CONFIG exists, left as it is (compare with agent.toml.example)"
else
  install -m 0640 "$TEMPLATE" "$CONFIG"
  own "0:$GROUP_ID" "$CONFIG"
  NEW_CONFIG=1
  say "config: $CONFIG written from hardware/default-agent.toml: EDIT [device], [probe], [mqtt]"
fi

# ---------------------------------------------------------------- 5. state folder
install -d -m 0750 "$STATE"
own "$USER_ID:$GROUP_ID" "$STATE"

# ---------------------------------------------------------------- 6. systemd
install -d -m 0755 "$UNIT_DIR"
UNIT_CHANGED=1
if [ -f "$UNIT_DIR/$UNIT" ] && cmp -s "$UNIT_SOURCE" "$UNIT_DIR/$UNIT"; then UNIT_CHANGED=0; fi
install -m 0644 "$UNIT_SOURCE" "$UNIT_DIR/$UNIT"
own "0:0" "$UNIT_DIR/$UNIT"

if [ "$DO_SYSTEMCTL" -eq 0 ]; then
  say "systemd: $UNIT_DIR/$UNIT installed; systemctl skipped (--no-systemctl)"
elif [ "$STAGED" -eq 1 ]; then
  if command -v systemctl >/dev/null 2>&1; then
    systemctl --root="$ROOT" enable "$UNIT"
    say "systemd: enabled in $ROOT (not started: staged install)"
  else
    say "systemd: no systemctl here; $UNIT installed, not enabled"
  fi
else
  if [ -x "$VENV/bin/voyant-edge" ]; then
    "$VENV/bin/voyant-edge" check-config "$CONFIG" \
      || die "$CONFIG does not validate: fix it, then run this script again"
  fi
  if [ "$UNIT_CHANGED" -eq 1 ]; then systemctl daemon-reload; fi
  if systemctl is-active --quiet "$UNIT"; then
    systemctl enable "$UNIT"
    say "systemd: $UNIT is running and was NOT restarted; when the room is idle:"
    say "  systemctl restart $UNIT   (with the interlock relay enabled this stops X-rays for the restart)"
  else
    systemctl enable --now "$UNIT"
    say "systemd: $UNIT enabled and started; logs: journalctl -u $UNIT -f"
  fi
fi

if [ "$NEW_CONFIG" -eq 1 ]; then
  say "next: edit $CONFIG (site, room, doors, probe port, [mqtt]), put the MQTT password in"
  say "      /etc/voyant/mqtt.password (root:voyant 0640), then: systemctl restart $UNIT"
fi
say "done"
