#!/usr/bin/env bash
# moto's server, the stand-in for Amazon SNS and SQS in the aws scheme's tests: installed once
# into the project's own virtual environment, one private server per suite or test file on
# 127.0.0.1, in its own process group, its log under a temp dir.
#
#   scripts/moto.sh install         installs moto[server] (MOTO_VERSION, default 5.2.6) into
#                                   ~/.cache/pubsub-gateway/moto-venv when it is not there yet;
#                                   prints the moto_server path; fails loudly without PyPI
#   scripts/moto.sh start [PORT]    starts one (on a free port when none is given), waits until it
#                                   answers, prints "PORT PGID" on stdout
#   scripts/moto.sh stop PGID       stops the whole process group, removes its temp dir
#
# Environment: MOTO_VERSION, MOTO_START_SECS (how long to wait for it to answer; default 60),
# MOTO_OWNER (a pid, checked every 0.5 s: the server is stopped once that process is gone, so a
# test binary that dies leaves no server behind; pass the test process's own pid), and whatever
# moto itself reads (e.g. INITIAL_NO_AUTH_ACTION_COUNT, which turns its SigV4 checks on after that
# many calls), passed through to the server.
set -euo pipefail

die() {
  echo "moto: $*" >&2
  exit 1
}

version=${MOTO_VERSION:-5.2.6}
venv=${PUBSUB_GATEWAY_CACHE:-$HOME/.cache/pubsub-gateway}/moto-venv
bin=$venv/bin/moto_server

# Installs into the virtualenv unless that exact version is there already (a stamp file written
# after pip succeeded, so a half-done install is redone).
install() {
  local stamp=$venv/.moto-$version
  if [ -x "$bin" ] && [ -f "$stamp" ]; then
    echo "$bin"
    return 0
  fi
  command -v python3 >/dev/null 2>&1 || die "python3 is missing (moto needs Python 3.9 or newer)"
  mkdir -p "$(dirname "$venv")"
  if [ ! -x "$venv/bin/pip" ]; then
    python3 -m venv "$venv" >&2 || die "python3 -m venv $venv failed (Debian: apt-get install python3-venv)"
  fi
  echo "moto: installing moto[server]==$version into $venv" >&2
  "$venv/bin/pip" install --disable-pip-version-check -q "moto[server]==$version" >&2 ||
    die "pip could not install moto[server]==$version from PyPI (is https://pypi.org reachable?)"
  [ -x "$bin" ] || die "pip installed moto but $bin is missing"
  rm -f "$venv"/.moto-*
  touch "$stamp"
  echo "$bin"
}

# Whether something answers TCP on 127.0.0.1:$1.
listening() { (exec 2>/dev/null; exec 3<>"/dev/tcp/127.0.0.1/$1"); }

# moto answers HTTP once it serves. The probe is a GET of its own API's reset-auth, which changes
# nothing (only a POST resets) and, unlike a request to a service (even GET /), does not count
# towards INITIAL_NO_AUTH_ACTION_COUNT.
answers() {
  (
    exec 2>/dev/null
    exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
    printf 'GET /moto-api/reset-auth HTTP/1.1\r\nHost: 127.0.0.1:%s\r\nConnection: close\r\n\r\n' "$1" >&3
    IFS= read -r -t 2 line <&3 || exit 1
    case $line in HTTP/1.?\ *) exit 0 ;; esac
    exit 1
  )
}

free_port() {
  local p
  for _ in $(seq 50); do
    p=$((20000 + RANDOM % 40000))
    listening "$p" || { echo "$p"; return 0; }
  done
  die "found no free port"
}

# Stops process group $1 (SIGTERM, then SIGKILL after 10 s) and removes its temp dir.
stop_group() {
  local pgid=$1 dir
  dir=$(readlink "/proc/$pgid/cwd" 2>/dev/null || true)
  kill -TERM -- "-$pgid" 2>/dev/null || true
  for _ in $(seq 100); do
    kill -0 -- "-$pgid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 -- "-$pgid" 2>/dev/null; then
    echo "moto: group $pgid ignored SIGTERM for 10 s; killing it" >&2
    kill -KILL -- "-$pgid" 2>/dev/null || true
    for _ in $(seq 50); do
      kill -0 -- "-$pgid" 2>/dev/null || break
      sleep 0.1
    done
  fi
  case $dir in
    */moto.*) rm -rf -- "$dir" ;;
  esac
}

# Stops group $2 once process $1 is gone; ends by itself when the group is stopped first.
watch_owner() {
  local owner=$1 pgid=$2
  [[ $owner =~ ^[0-9]+$ ]] || die "MOTO_OWNER=$owner is not a pid"
  (
    trap '' HUP
    while kill -0 "$owner" 2>/dev/null && kill -0 -- "-$pgid" 2>/dev/null; do
      sleep 0.5
    done
    kill -0 -- "-$pgid" 2>/dev/null && stop_group "$pgid"
  ) >/dev/null 2>&1 </dev/null &
  disown 2>/dev/null || true
}

# One try on port $1; prints "PORT PGID" when it answers. Returns 2 when the port was taken.
start_on() {
  local port=$1 dir pid pgid deadline
  dir=$(mktemp -d "${TMPDIR:-/tmp}/moto.XXXXXX")
  # setsid makes the child lead a new group without forking (a script is no group leader), so
  # $! is the group's id; moto_server's console script runs in that process itself.
  pid=$(
    cd "$dir"
    setsid "$bin" -H 127.0.0.1 -p "$port" >"$dir/moto.log" 2>&1 </dev/null &
    echo $!
  )
  pgid=$(ps -o pgid= -p "$pid" 2>/dev/null | tr -d ' ' || true)
  [ "$pgid" = "$pid" ] || {
    kill -TERM "$pid" 2>/dev/null || true
    rm -rf -- "$dir"
    die "moto (pid $pid) did not get its own process group (pgid ${pgid:-none})"
  }
  deadline=$((SECONDS + ${MOTO_START_SECS:-60}))
  while ((SECONDS < deadline)); do
    if ! kill -0 "$pid" 2>/dev/null; then
      if grep -qi 'address already in use' "$dir/moto.log"; then
        rm -rf -- "$dir"
        return 2
      fi
      echo "moto: the server exited before answering; its log:" >&2
      sed 's/^/  /' "$dir/moto.log" >&2
      rm -rf -- "$dir"
      exit 1
    fi
    if answers "$port"; then
      if [ -n "${MOTO_OWNER:-}" ]; then
        watch_owner "$MOTO_OWNER" "$pgid"
      fi
      echo "$port $pgid"
      return 0
    fi
    sleep 0.1
  done
  echo "moto: no answer on 127.0.0.1:$port within ${MOTO_START_SECS:-60} s; its log:" >&2
  sed 's/^/  /' "$dir/moto.log" >&2
  stop_group "$pgid"
  exit 1
}

cmd=${1:-}
case $cmd in
  install)
    install
    ;;
  start)
    install >/dev/null
    if [ -n "${2:-}" ]; then
      [[ $2 =~ ^[0-9]+$ ]] && ((10#$2 > 0 && 10#$2 < 65536)) || die "bad port: $2"
      port=$((10#$2))
      listening "$port" && die "127.0.0.1:$port is in use already"
      start_on "$port" || die "127.0.0.1:$port is in use already"
    else
      for _ in 1 2 3 4 5; do
        rc=0
        start_on "$(free_port)" || rc=$?
        [ "$rc" -eq 2 ] || exit "$rc"
      done
      die "every port tried was taken"
    fi
    ;;
  stop)
    pgid=${2:-}
    [[ $pgid =~ ^[0-9]+$ ]] && ((pgid > 1)) || die "usage: $0 stop PGID"
    # Only a moto server's group: never another process group by mistake.
    if ! kill -0 -- "-$pgid" 2>/dev/null; then
      exit 0
    fi
    grep -q 'moto_server' "/proc/$pgid/cmdline" 2>/dev/null ||
      die "process group $pgid is not a moto server started by this script"
    stop_group "$pgid"
    ;;
  *)
    echo "usage: $0 install | start [PORT] | stop PGID" >&2
    exit 2
    ;;
esac
