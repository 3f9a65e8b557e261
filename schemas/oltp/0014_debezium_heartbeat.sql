-- Written by the connector's heartbeat action query so the replication slot advances on a quiet database.
CREATE TABLE debezium_heartbeat (
    id integer PRIMARY KEY,
    ts timestamptz NOT NULL
);
