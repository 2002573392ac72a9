#!/usr/bin/env bash
# A throwaway PostgreSQL for the tests (issue 12): installs Debian's `postgresql` if needed,
# creates a cluster in a temporary directory owned by the unprivileged `postgres` user, starts
# it on a free loopback port, and prints the shell lines that export TRAINYARD_TEST_PG_URL and
# TRAINYARD_REQUIRE_PG=1 (so the store conformance suite runs on PostgreSQL and fails, never
# skips, when it is missing). Stop it with `.ci/postgres.sh stop DIR` (by the postmaster's PID;
# the directory is removed).
#
#   eval "$(bash .ci/postgres.sh start)"     # sets TRAINYARD_TEST_PG_URL, TRAINYARD_PG_DIR
#   URL=$(bash .ci/postgres.sh createdb NAME)  # a fresh database of that cluster, its URL
#   ...
#   bash .ci/postgres.sh stop "$TRAINYARD_PG_DIR"
set -euo pipefail
cmd=${1:-start}
bin() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1; }
case "$cmd" in
start)
  if [ -z "$(bin)" ]; then
    # no service is started: policy-rc.d refuses it, so only our own cluster runs
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d.trainyard
    chmod +x /usr/sbin/policy-rc.d.trainyard
    [ -e /usr/sbin/policy-rc.d ] || cp /usr/sbin/policy-rc.d.trainyard /usr/sbin/policy-rc.d
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >&2
    rm -f /usr/sbin/policy-rc.d.trainyard
  fi
  PGBIN=$(bin)
  DIR=$(mktemp -d /tmp/trainyard-pg.XXXXXX)
  chown postgres "$DIR"
  chmod 700 "$DIR"
  PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  runuser -u postgres -- "$PGBIN/initdb" -D "$DIR/data" -U trainyard --auth=trust -E UTF8 --locale=C.UTF-8 >&2
  # fsync stays on: the durability of acknowledged writes is under test
  runuser -u postgres -- "$PGBIN/pg_ctl" -D "$DIR/data" -l "$DIR/log" -w -t 60 \
    -o "-p $PORT -k $DIR -c listen_addresses=127.0.0.1 -c max_connections=300" start >&2
  runuser -u postgres -- "$PGBIN/createdb" -h 127.0.0.1 -p "$PORT" -U trainyard trainyard >&2
  echo "export TRAINYARD_PG_DIR=$DIR"
  echo "export TRAINYARD_PG_BIN=$PGBIN"
  echo "export TRAINYARD_TEST_PG_URL=postgres://trainyard@127.0.0.1:$PORT/trainyard"
  echo "export TRAINYARD_REQUIRE_PG=1"
  ;;
createdb)
  NAME=${2:?a database name}
  : "${TRAINYARD_TEST_PG_URL:?start the cluster first}"
  HOSTPORT=${TRAINYARD_TEST_PG_URL#*@}; HOSTPORT=${HOSTPORT%%/*}
  runuser -u postgres -- "$(bin)/createdb" -h "${HOSTPORT%:*}" -p "${HOSTPORT#*:}" -U trainyard "$NAME" >&2
  echo "postgres://trainyard@$HOSTPORT/$NAME"
  ;;
stop)
  DIR=${2:?the cluster directory (TRAINYARD_PG_DIR)}
  if [ -f "$DIR/data/postmaster.pid" ]; then
    PID=$(head -n 1 "$DIR/data/postmaster.pid")
    kill -INT "$PID" 2>/dev/null || true   # fast shutdown
    for _ in $(seq 1 100); do kill -0 "$PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$PID" 2>/dev/null || true
  fi
  rm -rf "$DIR"
  ;;
*)
  echo "usage: $0 start | createdb NAME | stop DIR" >&2
  exit 2
  ;;
esac
