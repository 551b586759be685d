#!/usr/bin/env bash
# Start PostgreSQL, MariaDB and Redis on this machine if they are not already listening.
# Prints what it did; exits non-zero if a server is still unreachable afterwards.
set -uo pipefail

listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

start() {
  local name=$1 port=$2; shift 2
  listening "$port" && return 0
  echo "services: $name is down on port $port; starting it" >&2
  "$@" >/dev/null 2>&1 || true
  for _ in $(seq 1 60); do listening "$port" && return 0; sleep 0.5; done
  echo "services: $name did not come up on port $port" >&2
  return 1
}

status=0
if command -v pg_ctlcluster >/dev/null 2>&1; then
  start postgres 5432 pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start || status=1
else
  listening 5432 || { echo "services: postgres is down and pg_ctlcluster is missing" >&2; status=1; }
fi
if command -v mariadbd >/dev/null 2>&1 || [ -x /usr/sbin/mariadbd ]; then
  start mariadb 3306 start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd || status=1
else
  listening 3306 || { echo "services: mariadb is down and mariadbd is missing" >&2; status=1; }
fi
if command -v redis-server >/dev/null 2>&1; then
  start redis 6379 redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" \
    --appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log || status=1
else
  listening 6379 || { echo "services: redis is down and redis-server is missing" >&2; status=1; }
fi
exit $status
