#!/usr/bin/env bash
# Rehearse docs/deploy.md on one machine without systemd as PID 1: the units' commands run
# as background processes, nginx as the reverse proxy (HTTP on PROXY_PORT), PostgreSQL as the
# database. Every step prints what it checked; everything it started is stopped at the end.
#   deploy/rehearse.sh [NAME_PREFIX] [PORT_BASE]     (defaults: rk_rehearsal 11900)
set -euo pipefail
cd "$(dirname "$0")/.."
PREFIX=${1:-rk_rehearsal}
BASE=${2:-11900}
API1=$((BASE + 1)); API2=$((BASE + 2)); PROXY_PORT=$((BASE + 80))
PG=postgresql://postgres@127.0.0.1:5432
DB="${PREFIX}_db"; RESTORED="${PREFIX}_restored"
WORK=$(mktemp -d)
REPO=$PWD
BIN=$REPO/.venv/bin
PIDS=()

cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  [ -f "$WORK/nginx.pid" ] && kill "$(cat "$WORK/nginx.pid")" 2>/dev/null || true
  dropdb -h 127.0.0.1 -U postgres --if-exists "$DB" || true
  dropdb -h 127.0.0.1 -U postgres --if-exists "$RESTORED" || true
  rm -rf "$WORK"
}
trap cleanup EXIT
step() { printf '\n== %s\n' "$*"; }
wait_http() { for _ in $(seq 1 100); do curl -fs -o /dev/null "$1" && return 0; sleep 0.2; done; echo "no answer from $1" >&2; return 1; }

step "database and environment file (deploy/routekeeper.env.example)"
createdb -h 127.0.0.1 -U postgres "$DB"
mkdir -p "$WORK/metrics" "$WORK/data"
cat > "$WORK/routekeeper.env" <<ENV
ROUTEKEEPER_ENVIRONMENT=production
ROUTEKEEPER_SECRET_KEY=$(python3 -c 'import secrets; print(secrets.token_urlsafe(48))')
ROUTEKEEPER_DATABASE__URL=$PG/$DB
ROUTEKEEPER_DATABASE__POOL_SIZE=5
ROUTEKEEPER_PUBLIC_URL=http://127.0.0.1:$PROXY_PORT
ROUTEKEEPER_API__TRUSTED_PROXIES=127.0.0.1
FORWARDED_ALLOW_IPS=127.0.0.1
ROUTEKEEPER_LOG__FORMAT=json
ROUTEKEEPER_METRICS__TOKEN=rehearsal-metrics-token
PROMETHEUS_MULTIPROC_DIR=$WORK/metrics
ENV
set -a; . "$WORK/routekeeper.env"; set +a
cd "$WORK/data"

step "routekeeper-migrate.service: routekeeper db upgrade"
"$BIN/routekeeper" db upgrade
"$BIN/routekeeper" db check

step "routekeeper-api@$API1, routekeeper-api@$API2, routekeeper-worker@1"
"$BIN/routekeeper" serve --no-worker --host 127.0.0.1 --port "$API1" > "$WORK/api1.log" 2>&1 & PIDS+=($!)
"$BIN/routekeeper" serve --no-worker --host 127.0.0.1 --port "$API2" > "$WORK/api2.log" 2>&1 & PIDS+=($!)
"$BIN/routekeeper" worker > "$WORK/worker.log" 2>&1 & PIDS+=($!)
wait_http "http://127.0.0.1:$API1/health/live"; wait_http "http://127.0.0.1:$API2/health/live"

step "reverse proxy (deploy/nginx-routekeeper.conf, without TLS)"
sed -e "s/server 127.0.0.1:8001;/server 127.0.0.1:$API1;/" -e "s/server 127.0.0.1:8002;/server 127.0.0.1:$API2;/" \
    -e "s/listen 443 ssl;/listen 127.0.0.1:$PROXY_PORT;/" -e '/ssl_certificate/d' \
    "$REPO/deploy/nginx-routekeeper.conf" > "$WORK/site.conf"
cat > "$WORK/nginx.conf" <<NGINX
pid $WORK/nginx.pid;
error_log $WORK/nginx-error.log;
events {}
http {
  access_log off;
  client_body_temp_path $WORK/nginx-body; proxy_temp_path $WORK/nginx-proxy;
  fastcgi_temp_path $WORK/nginx-fcgi; uwsgi_temp_path $WORK/nginx-uwsgi; scgi_temp_path $WORK/nginx-scgi;
  include $WORK/site.conf;
}
NGINX
nginx -t -c "$WORK/nginx.conf"
nginx -c "$WORK/nginx.conf"
wait_http "http://127.0.0.1:$PROXY_PORT/health/live"
curl -fsS "http://127.0.0.1:$PROXY_PORT/health/ready"; echo

step "an account, requests through the proxy to both processes"
CREDS=$("$BIN/routekeeper" accounts create --name Rehearsal --json)
ACCOUNT=$(echo "$CREDS" | python3 -c 'import json,sys; print(json.load(sys.stdin)["account_id"])')
SECRET=$(echo "$CREDS" | python3 -c 'import json,sys; print(json.load(sys.stdin)["secret_key"])')
for i in $(seq 1 6); do
  curl -fsS -o /dev/null -u "$ACCOUNT:$SECRET" -H "X-Request-ID: rehearsal-$i" "http://127.0.0.1:$PROXY_PORT/orders/"
done
curl -fsS -u "$ACCOUNT:$SECRET" -X POST "http://127.0.0.1:$PROXY_PORT/orders/export" -H 'content-type: application/json' -d '{}' > "$WORK/export.json"
cat "$WORK/export.json"; echo
JOB=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["job_id"])' "$WORK/export.json")
for _ in $(seq 1 50); do
  STATUS=$(curl -fsS -u "$ACCOUNT:$SECRET" "http://127.0.0.1:$PROXY_PORT/orders/export/$JOB")
  echo "$STATUS" | grep -q '"completed"' && break; sleep 0.2
done
echo "$STATUS"; echo "$STATUS" | grep -q "\"presigned_url\":\"http://127.0.0.1:$PROXY_PORT/exports/download/"
echo "the worker ran the export; its link names the public URL"
grep -c '"event": *"request"' "$WORK/api1.log" "$WORK/api2.log"
cat "$WORK/api1.log" "$WORK/api2.log" | grep -q '"request_id": "rehearsal-3"'
echo "the client's request ids reach the JSON logs through the proxy"

step "metrics of all three processes from one scrape"
curl -fsS -H "Authorization: Bearer rehearsal-metrics-token" "http://127.0.0.1:$API1/metrics" > "$WORK/metrics.txt"
grep -E '^routekeeper_http_requests_total\{method="GET",route="/orders/",status="200"\}' "$WORK/metrics.txt"
grep -E '^routekeeper_job_duration_seconds_count\{outcome="succeeded",task="exports.generate"\}' "$WORK/metrics.txt"
ls "$WORK/metrics" | sed 's/^/  metrics file: /'

step "backup (pg_dump) and restore into a second database"
pg_dump -h 127.0.0.1 -U postgres -Fc -f "$WORK/backup.dump" "$DB"
createdb -h 127.0.0.1 -U postgres "$RESTORED"
pg_restore -h 127.0.0.1 -U postgres -d "$RESTORED" --no-owner "$WORK/backup.dump"
psql -h 127.0.0.1 -U postgres -d "$RESTORED" -Atc "select count(*) from account; select version_num from alembic_version; select status from order_export"
ROUTEKEEPER_DATABASE__URL=$PG/$RESTORED "$BIN/routekeeper" db check

step "upgrade: stop, migrate, start (a rolling restart of the API processes)"
kill "${PIDS[0]}"; wait "${PIDS[0]}" || true
"$BIN/routekeeper" db upgrade
"$BIN/routekeeper" serve --no-worker --host 127.0.0.1 --port "$API1" >> "$WORK/api1.log" 2>&1 & PIDS[0]=$!
wait_http "http://127.0.0.1:$API1/health/ready"
curl -fsS -o /dev/null -w "after the restart: HTTP %{http_code} through the proxy\n" -u "$ACCOUNT:$SECRET" "http://127.0.0.1:$PROXY_PORT/orders/"

step "connections in use (pg_stat_activity) with 2 API processes and 1 worker"
psql -h 127.0.0.1 -U postgres -Atc "select count(*) from pg_stat_activity where datname = '$DB'"

echo; echo "rehearsal passed"
