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
# Partner agencies' adapters reach the broker over TLS: amqps://127.0.0.1:5671, with the broker's
# CA given in the URL (`?cacertfile=/etc/rabbitmq/hub-tls/ca.pem`). The CA and the broker's
# certificate are made once; the listener is added to the broker's configuration, which it reads
# when it starts.
TLS_DIR=/etc/rabbitmq/hub-tls
RABBIT_CONF=/etc/rabbitmq/rabbitmq.conf
restart_rabbit=0
if [ ! -s "$TLS_DIR/server.pem" ]; then
  log "making the broker's TLS certificate in $TLS_DIR"
  as_root mkdir -p "$TLS_DIR"
  as_root openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 3650 \
    -subj "/CN=Enforcement hub broker CA" -keyout "$TLS_DIR/ca.key" -out "$TLS_DIR/ca.pem" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
    2>/dev/null
  as_root openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=localhost" \
    -keyout "$TLS_DIR/server.key" -out "$TLS_DIR/server.csr" 2>/dev/null
  printf '%s\n' "subjectAltName=DNS:localhost,IP:127.0.0.1" "basicConstraints=CA:FALSE" \
    "keyUsage=critical,digitalSignature" "extendedKeyUsage=serverAuth" \
    | as_root tee "$TLS_DIR/server.ext" >/dev/null
  as_root openssl x509 -req -in "$TLS_DIR/server.csr" -CA "$TLS_DIR/ca.pem" -CAkey "$TLS_DIR/ca.key" \
    -CAcreateserial -days 3650 -extfile "$TLS_DIR/server.ext" -out "$TLS_DIR/server.pem" 2>/dev/null
  as_root chown -R rabbitmq:rabbitmq "$TLS_DIR"
  as_root chmod 600 "$TLS_DIR/ca.key" "$TLS_DIR/server.key"
  as_root chmod 644 "$TLS_DIR/ca.pem" "$TLS_DIR/server.pem"
fi
if ! grep -q '^listeners.ssl' "$RABBIT_CONF" 2>/dev/null; then
  log "adding the TLS listener 127.0.0.1:5671 to $RABBIT_CONF"
  printf '%s\n' "listeners.ssl.local = 127.0.0.1:5671" \
    "ssl_options.cacertfile = $TLS_DIR/ca.pem" "ssl_options.certfile = $TLS_DIR/server.pem" \
    "ssl_options.keyfile = $TLS_DIR/server.key" "ssl_options.verify = verify_none" \
    "ssl_options.fail_if_no_peer_cert = false" | as_root tee -a "$RABBIT_CONF" >/dev/null
  restart_rabbit=1
fi
if [ "$restart_rabbit" = 1 ] && rabbitmq-diagnostics -q ping >/dev/null 2>&1; then
  log "restarting RabbitMQ for its TLS listener"
  as_root rabbitmqctl -q stop >/dev/null 2>&1 || true
  for _ in $(seq 60); do rabbitmq-diagnostics -q ping >/dev/null 2>&1 || break; sleep 1; done
fi
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
