#!/usr/bin/env bash
# Makes sure the machine's PostgreSQL answers on 127.0.0.1:5432, starting its cluster if it is
# down. Prints the URL to test against, or nothing when this machine has no PostgreSQL.
set -euo pipefail
ready() { pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; }
if ! command -v pg_isready >/dev/null 2>&1 || [ ! -d /etc/postgresql ]; then
  echo "PostgreSQL is not installed on this machine; its test run is skipped." >&2
  exit 0
fi
if ! ready; then
  echo "==> starting PostgreSQL" >&2
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start >&2 || true
  for _ in $(seq 1 30); do ready && break; sleep 1; done
fi
ready || { echo "PostgreSQL did not start on 127.0.0.1:5432" >&2; exit 1; }
url=postgres://postgres@127.0.0.1:5432/postgres
# Databases left behind by earlier test runs.
psql "$url" -Atc "select datname from pg_database where datname like 'portal_t_%'" | while read -r name; do
  psql "$url" -qc "drop database if exists \"$name\"" >/dev/null
done
echo "$url"
