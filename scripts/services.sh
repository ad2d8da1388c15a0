#!/usr/bin/env bash
# Makes sure PostgreSQL and RabbitMQ run on this machine, as the hub and its tests need them:
# installs them from the system's packages when missing, starts them when stopped, enables the
# RabbitMQ plugins the hub uses, and creates the hub's database. Safe to run again and again.
set -euo pipefail

log() { printf 'services: %s\n' "$*" >&2; }
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
as_postgres() { if [ "$(id -u)" -eq 0 ]; then su postgres -s /bin/sh -c "$*"; else sudo -u postgres sh -c "$*"; fi; }

PGHOST=127.0.0.1
PGPORT=5432
DATABASE=${HUB_DATABASE:-enforcement}

missing=()
command -v pg_ctlcluster >/dev/null 2>&1 || missing+=(postgresql postgresql-client)
command -v rabbitmq-server >/dev/null 2>&1 || missing+=(rabbitmq-server)
command -v curl >/dev/null 2>&1 || missing+=(curl)
# Prometheus and promtool: the alert rules are checked with promtool, and a test runs a real
# Prometheus against a test hub. Only the binaries are used; nothing is started as a service.
command -v promtool >/dev/null 2>&1 || missing+=(prometheus)
# Headless Chromium and its WebDriver: the dashboard is tested in a real browser; with a font for
# Chinese, so its screenshots show the court codes and headings.
command -v chromedriver >/dev/null 2>&1 || missing+=(chromium chromium-driver)
[ -e /usr/share/fonts/truetype/wqy/wqy-microhei.ttc ] || missing+=(fonts-wqy-microhei)
if [ ${#missing[@]} -gt 0 ]; then
  log "installing ${missing[*]}"
  as_root apt-get update -q
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# PostgreSQL --------------------------------------------------------------------------------
if ! pg_isready -h "$PGHOST" -p "$PGPORT" -q; then
  version=$(ls /etc/postgresql | sort -V | tail -n 1)
  log "starting PostgreSQL $version"
  as_root pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
fi
for _ in $(seq 60); do pg_isready -h "$PGHOST" -p "$PGPORT" -q && break; sleep 1; done
pg_isready -h "$PGHOST" -p "$PGPORT" -q || { log "PostgreSQL did not start"; exit 1; }
# The hub connects as postgres/postgres over TCP; a trust-auth server ignores the password, a
# fresh Debian install needs it set.
if ! PGPASSWORD=postgres psql -h "$PGHOST" -p "$PGPORT" -U postgres -d postgres -Atqc 'SELECT 1' >/dev/null 2>&1; then
  log "setting the postgres user's password for TCP connections"
  as_postgres "psql -q -c \"ALTER USER postgres PASSWORD 'postgres'\""
fi
export PGPASSWORD=postgres
if [ "$(psql -h "$PGHOST" -p "$PGPORT" -U postgres -d postgres -Atqc "SELECT 1 FROM pg_database WHERE datname = '$DATABASE'")" != 1 ]; then
  log "creating database $DATABASE"
  createdb -h "$PGHOST" -p "$PGPORT" -U postgres "$DATABASE"
fi

# RabbitMQ ----------------------------------------------------------------------------------
if ! rabbitmq-diagnostics -q ping >/dev/null 2>&1; then
  log "starting RabbitMQ"
  as_root rabbitmq-server -detached || true
  for _ in $(seq 120); do rabbitmq-diagnostics -q ping >/dev/null 2>&1 && break; sleep 1; done
fi
rabbitmq-diagnostics -q ping >/dev/null 2>&1 || { log "RabbitMQ did not start"; exit 1; }
# rabbitmq_prometheus exports per-queue depth and consumers on :15692 (alerts and dashboard);
# enabling a plugin takes effect at once, without a restart.
as_root rabbitmq-plugins enable -q rabbitmq_management rabbitmq_consistent_hash_exchange rabbitmq_prometheus >/dev/null
for _ in $(seq 60); do
  curl -sf -u guest:guest http://127.0.0.1:15672/api/overview >/dev/null && break
  sleep 1
done
curl -sf -u guest:guest http://127.0.0.1:15672/api/overview >/dev/null \
  || { log "the RabbitMQ management API is not answering"; exit 1; }
for _ in $(seq 30); do
  curl -sf -o /dev/null http://127.0.0.1:15692/metrics && break
  sleep 1
done
curl -sf -o /dev/null http://127.0.0.1:15692/metrics \
  || { log "RabbitMQ's Prometheus endpoint (:15692) is not answering"; exit 1; }
log "PostgreSQL and RabbitMQ are ready"
