#!/bin/sh
# The platform's part of a hosted project, done once at image build as the cluster's superuser
# `supabase_admin`: the cluster, then worker/imagen/db/bootstrap.sql (roles, auth, storage) in the
# `postgres` database. Everything after it (the CLI's migrations, pgTAP, the tests) logs in as
# `postgres`. Throwaway test data: no fsync; synchronous_commit stays on so logical decoding (the
# Realtime stand-in's wal2json slot) sees a commit at once.
set -eu
bin=/usr/lib/postgresql/15/bin
data=/var/lib/postgresql/data

"$bin/initdb" -D "$data" -U supabase_admin --auth=trust --encoding=UTF8 --locale=C.UTF-8 --no-sync >/dev/null
cat >> "$data/postgresql.auto.conf" <<CONF
listen_addresses = '*'
max_connections = '200'
wal_level = 'logical'
max_replication_slots = '10'
max_wal_senders = '10'
shared_buffers = '128MB'
fsync = 'off'
full_page_writes = 'off'
CONF
# A container reached only through a port published on the host's loopback.
echo "host all all all trust" >> "$data/pg_hba.conf"

"$bin/pg_ctl" -D "$data" -w -s start -o "-c listen_addresses='' -c unix_socket_directories=/tmp"
psql -h /tmp -U supabase_admin -d postgres -v ON_ERROR_STOP=1 -q -f /imagen/bootstrap.sql
"$bin/pg_ctl" -D "$data" -w -s stop -m fast
