#!/usr/bin/env bash
# Makes sure the brokers the test suite talks to run on their standard loopback ports, starting
# any that is not with the machine's documented command: NATS with JetStream (4222), RabbitMQ
# (5672), Redis (6379), Mosquitto (1883). Tests fail loudly when a broker is missing; this script
# is what keeps a fresh machine from getting there. Waits until each port answers.
set -euo pipefail

up() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

start() {
  local name=$1 port=$2; shift 2
  if up "$port"; then
    return 0
  fi
  if ! command -v "$1" >/dev/null 2>&1; then
    echo "services: $name is not running on 127.0.0.1:$port and $1 is not installed" >&2
    return 1
  fi
  echo "services: starting $name on 127.0.0.1:$port" >&2
  "$@" >&2 || { echo "services: starting $name failed" >&2; return 1; }
  for _ in $(seq 150); do
    up "$port" && return 0
    sleep 0.2
  done
  echo "services: $name did not start listening on 127.0.0.1:$port within 30 s" >&2
  return 1
}

start NATS 4222 start-stop-daemon --start --oknodo --background --exec /usr/sbin/nats-server -- \
  -a 127.0.0.1 -p 4222 -js -sd /var/lib/nats-server -l /var/log/nats-server.log
start Redis 6379 redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" \
  --appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log
start Mosquitto 1883 mosquitto -d -c /etc/mosquitto/mosquitto.conf
start RabbitMQ 5672 rabbitmq-server -detached
