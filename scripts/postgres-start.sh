#!/bin/sh
# Starts the local PostgreSQL (Debian's cluster) that the results database's storage tests
# use beside SQLite, and makes their role and databases: chiprig / chiprig, chiprig_test (the
# storage tests) and chiprig_test_e2e (the command-line tests, which may run beside them), on
# loopback only. Idempotent. Prints the URL the tests read from CHIPRIG_TEST_POSTGRES.
# A lab's own server is named in its station file (results.database) instead.
set -eu
command -v pg_lsclusters >/dev/null 2>&1 || { echo "PostgreSQL not found: apt-get install postgresql" >&2; exit 1; }
cluster=$(pg_lsclusters -h | awk 'NR==1 { print $1 " " $2 " " $3 }')
[ -n "$cluster" ] || { echo "no PostgreSQL cluster (pg_createcluster 15 main)" >&2; exit 1; }
# shellcheck disable=SC2086
set -- $cluster
pg_ctlcluster "$1" "$2" start 2>/dev/null || true
for _ in $(seq 1 30); do
  su postgres -c "psql -tAc 'select 1'" >/dev/null 2>&1 && break
  sleep 0.5
done
psql_do() { su postgres -c "psql -v ON_ERROR_STOP=1 -tAc \"$1\""; }
[ "$(psql_do "select 1 from pg_roles where rolname = 'chiprig'")" = 1 ] ||
  psql_do "create role chiprig login password 'chiprig'" >/dev/null
for db in chiprig_test chiprig_test_e2e; do
  [ "$(psql_do "select 1 from pg_database where datname = '$db'")" = 1 ] ||
    psql_do "create database $db owner chiprig" >/dev/null
done
echo "postgres://chiprig:chiprig@127.0.0.1:$3/chiprig_test"
