#!/usr/bin/env bash
# Make sure PostgreSQL and RabbitMQ are up: start them when installed but down, install them
# (Debian packages) when missing. Used by `make run`, `make test` and CI.
set -euo pipefail

say() { printf '==> %s\n' "$*"; }

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
    echo "need root for: $*" >&2; return 1; fi
}

apt_updated=""
apt_install() {
  if [ -z "$apt_updated" ]; then as_root apt-get update -qq; apt_updated=1; fi
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "$@" >/dev/null
}

pg_up() { pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; }
rabbit_up() { (exec 3<>/dev/tcp/127.0.0.1/5672) 2>/dev/null; }

ensure_postgres() {
  if pg_up; then return; fi
  if ! command -v pg_ctlcluster >/dev/null; then
    say "installing PostgreSQL"; apt_install postgresql
  fi
  say "starting PostgreSQL"
  as_root pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | sort -V | tail -1)" main start || true
  for _ in $(seq 1 60); do pg_up && return; sleep 1; done
  echo "PostgreSQL did not start on 127.0.0.1:5432" >&2; exit 1
}

ensure_rabbitmq() {
  if rabbit_up; then return; fi
  if ! command -v rabbitmq-server >/dev/null; then
    say "installing RabbitMQ"; apt_install rabbitmq-server
  fi
  say "starting RabbitMQ"
  as_root rabbitmq-server -detached || true
  for _ in $(seq 1 90); do
    if as_root rabbitmqctl -q await_startup >/dev/null 2>&1 && rabbit_up; then return; fi
    sleep 1
  done
  echo "RabbitMQ did not start on 127.0.0.1:5672" >&2; exit 1
}

ensure_postgres
ensure_rabbitmq
say "PostgreSQL and RabbitMQ are up"
