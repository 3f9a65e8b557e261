#!/bin/bash
# Run once by the ClickHouse image's entrypoint on an empty data volume: the read-only user Grafana and readers
# use, with the password of its secret file. The statement goes on stdin and the admin password through the
# environment (clickhouse client reads CLICKHOUSE_PASSWORD), never on a command line.
set -euo pipefail
reader="${STIR_CH_READER_USER:-reader}"
password="$(cat /run/secrets/ch_reader_password)"
case "$password" in
  *"'"* | *"\\"*) echo "ch-reader.password: use letters, digits and -_ only" >&2; exit 1 ;;
esac
# readonly = 1, but Grafana's ClickHouse plugin sets max_execution_time on its queries
printf "CREATE USER IF NOT EXISTS %s IDENTIFIED WITH sha256_password BY '%s' SETTINGS readonly = 1, max_execution_time CHANGEABLE_IN_READONLY;\nGRANT SELECT ON %s.* TO %s;\n" \
  "$reader" "$password" "${CLICKHOUSE_DB:-stir}" "$reader" \
  | CLICKHOUSE_PASSWORD="$CLICKHOUSE_PASSWORD" clickhouse client --host 127.0.0.1 --user "$CLICKHOUSE_USER" --multiquery
