#!/usr/bin/env bash
# Google's Pub/Sub emulator for the gcp-pubsub scheme's tests: a private emulator per suite or
# per test file, on 127.0.0.1, in its own process group, its state (in memory) and log under a
# temp dir.
#
#   scripts/gcp-emulator.sh check          prints the emulator's start script, or fails naming
#                                          the path it looked at and the package to install
#   scripts/gcp-emulator.sh start [PORT]   starts one (on a free port when none is given), waits
#                                          until it answers, prints "PORT PGID" on stdout
#   scripts/gcp-emulator.sh stop PGID      stops the whole process group, removes its temp dir
#
# The emulator comes from the machine image (Debian package google-cloud-cli-pubsub-emulator,
# under the SDK root that `gcloud info` prints); it cannot be installed by a script here, so a
# missing one fails loudly. The emulator's own script is run directly, not `gcloud beta emulators
# pubsub start`: the gcloud wrapper does not pass a kill on to its Java child, which then keeps
# its port. The script execs java, which stops on SIGTERM.
#
# Environment: GCP_PUBSUB_EMULATOR (the start script, instead of looking it up),
# GCP_EMULATOR_START_SECS (how long to wait for it to answer; default 60), GCP_EMULATOR_OWNER (a
# pid, checked every 0.5 s: the emulator is stopped once that process is gone, so a test binary
# that dies or forgets to stop it leaves no JVM behind; pass the test process's own pid).
set -euo pipefail

die() {
  echo "gcp-emulator: $*" >&2
  exit 1
}

# The emulator's start script, or a loud failure naming where it looked. The SDK root is the
# one `gcloud info --format='value(installation.sdk_root)'` prints; that takes ~2 s (Python), so
# the root beside the gcloud binary itself (/usr/lib/google-cloud-sdk/bin/gcloud) is tried first.
find_emulator() {
  local bin root tried=() rel=platform/pubsub-emulator/bin/cloud-pubsub-emulator
  if [ -n "${GCP_PUBSUB_EMULATOR:-}" ]; then
    bin=$GCP_PUBSUB_EMULATOR
    [ -x "$bin" ] || die "GCP_PUBSUB_EMULATOR=$bin is not an executable file"
  else
    bin=
    if command -v gcloud >/dev/null 2>&1; then
      root=$(dirname "$(dirname "$(readlink -f "$(command -v gcloud)")")")
      tried+=("$root/$rel")
      [ -x "$root/$rel" ] && bin=$root/$rel
      if [ -z "$bin" ]; then
        root=$(gcloud info --format='value(installation.sdk_root)' 2>/dev/null || true)
        if [ -n "$root" ]; then
          tried+=("$root/$rel")
          [ -x "$root/$rel" ] && bin=$root/$rel
        fi
      fi
    else
      tried+=("/usr/lib/google-cloud-sdk/$rel")
      [ -x "/usr/lib/google-cloud-sdk/$rel" ] && bin=/usr/lib/google-cloud-sdk/$rel
    fi
    if [ -z "$bin" ]; then
      die "Google's Pub/Sub emulator is missing: no executable ${tried[*]} (the SDK root beside gcloud, then \`gcloud info --format='value(installation.sdk_root)'\`$(command -v gcloud >/dev/null 2>&1 || echo '; gcloud is not installed either')). It comes with the machine image's Debian package google-cloud-cli-pubsub-emulator, from a repository these machines do not reach: it cannot be installed by a script here."
    fi
  fi
  if [ -z "${JAVA_HOME:-}" ] && ! command -v java >/dev/null 2>&1; then
    die "the Pub/Sub emulator ($bin) needs Java (11 or newer): no java on PATH and no JAVA_HOME; install openjdk-17-jre-headless"
  fi
  echo "$bin"
}

# Whether something answers TCP on 127.0.0.1:$1.
listening() { (exec 2>/dev/null; exec 3<>"/dev/tcp/127.0.0.1/$1"); }

# The emulator answers "Ok" to GET / once it serves (plain HTTP/1.1 on its gRPC port; it keeps
# the connection open, so the reply is read line by line).
answers_ok() {
  (
    exec 2>/dev/null
    exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
    printf 'GET / HTTP/1.1\r\nHost: 127.0.0.1:%s\r\nConnection: close\r\n\r\n' "$1" >&3
    while IFS= read -r -t 2 line <&3; do
      [ "${line%$'\r'}" = Ok ] && exit 0
    done
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
    echo "gcp-emulator: group $pgid ignored SIGTERM for 10 s; killing it" >&2
    kill -KILL -- "-$pgid" 2>/dev/null || true
    for _ in $(seq 50); do
      kill -0 -- "-$pgid" 2>/dev/null || break
      sleep 0.1
    done
  fi
  case $dir in
    */gcp-emulator.*) rm -rf -- "$dir" ;;
  esac
}

# Stops group $2 once process $1 is gone; ends by itself when the group is stopped first.
watch_owner() {
  local owner=$1 pgid=$2
  [[ $owner =~ ^[0-9]+$ ]] || die "GCP_EMULATOR_OWNER=$owner is not a pid"
  (
    trap '' HUP
    while kill -0 "$owner" 2>/dev/null && kill -0 -- "-$pgid" 2>/dev/null; do
      sleep 0.5
    done
    kill -0 -- "-$pgid" 2>/dev/null && stop_group "$pgid"
  ) >/dev/null 2>&1 </dev/null &
  disown 2>/dev/null || true
}

# One try on port $2; prints "PORT PGID" when it answers. Returns 2 when the port was taken.
start_on() {
  local bin=$1 port=$2 dir pid pgid deadline
  dir=$(mktemp -d "${TMPDIR:-/tmp}/gcp-emulator.XXXXXX")
  # Not a group leader (no job control in a script), so setsid makes the child lead a new group
  # without forking: $! is the group's id. java is exec'd by the emulator's script, so the
  # group's leader is the JVM itself.
  pid=$(
    cd "$dir"
    JAVA_OPTS="${JAVA_OPTS:-} -Djava.io.tmpdir=$dir" setsid "$bin" --host=127.0.0.1 --port="$port" \
      >"$dir/emulator.log" 2>&1 </dev/null &
    echo $!
  )
  pgid=$(ps -o pgid= -p "$pid" 2>/dev/null | tr -d ' ' || true)
  [ "$pgid" = "$pid" ] || {
    kill -TERM "$pid" 2>/dev/null || true
    rm -rf -- "$dir"
    die "the emulator (pid $pid) did not get its own process group (pgid ${pgid:-none})"
  }
  deadline=$((SECONDS + ${GCP_EMULATOR_START_SECS:-60}))
  while ((SECONDS < deadline)); do
    if ! kill -0 "$pid" 2>/dev/null; then
      if grep -qi 'address already in use\|BindException' "$dir/emulator.log"; then
        rm -rf -- "$dir"
        return 2
      fi
      echo "gcp-emulator: the emulator exited before answering; its log:" >&2
      sed 's/^/  /' "$dir/emulator.log" >&2
      rm -rf -- "$dir"
      exit 1
    fi
    if answers_ok "$port"; then
      if [ -n "${GCP_EMULATOR_OWNER:-}" ]; then
        watch_owner "$GCP_EMULATOR_OWNER" "$pgid"
      fi
      echo "$port $pgid"
      return 0
    fi
    sleep 0.1
  done
  echo "gcp-emulator: no answer on 127.0.0.1:$port within ${GCP_EMULATOR_START_SECS:-60} s; its log:" >&2
  sed 's/^/  /' "$dir/emulator.log" >&2
  stop_group "$pgid"
  exit 1
}

cmd=${1:-}
case $cmd in
  check)
    find_emulator
    ;;
  start)
    bin=$(find_emulator)
    if [ -n "${2:-}" ]; then
      [[ $2 =~ ^[0-9]+$ ]] && ((10#$2 > 0 && 10#$2 < 65536)) || die "bad port: $2"
      port=$((10#$2))
      listening "$port" && die "127.0.0.1:$port is in use already"
      start_on "$bin" "$port" || die "127.0.0.1:$port is in use already"
    else
      for _ in 1 2 3 4 5; do
        rc=0
        start_on "$bin" "$(free_port)" || rc=$?
        [ "$rc" -eq 2 ] || exit "$rc"
      done
      die "every port tried was taken"
    fi
    ;;
  stop)
    pgid=${2:-}
    [[ $pgid =~ ^[0-9]+$ ]] && ((pgid > 1)) || die "usage: $0 stop PGID"
    # Only an emulator's group: never another process group by mistake.
    if ! kill -0 -- "-$pgid" 2>/dev/null; then
      exit 0
    fi
    grep -q 'cloud-pubsub-emulator' "/proc/$pgid/cmdline" 2>/dev/null ||
      die "process group $pgid is not a Pub/Sub emulator started by this script"
    stop_group "$pgid"
    ;;
  *)
    echo "usage: $0 check | start [PORT] | stop PGID" >&2
    exit 2
    ;;
esac
