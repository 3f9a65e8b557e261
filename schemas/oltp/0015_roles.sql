-- Privileges of the component roles (created with their passwords by `stir db bootstrap` / `stir up`, as the
-- superuser; see schemas/roles.py). Debezium reads every published table and writes its heartbeat row; the
-- serving loader may create its schema in this database and reads no table here.
DO $$
DECLARE
    missing text;
BEGIN
    SELECT string_agg(r, ', ') INTO missing
    FROM unnest(ARRAY['stir_cdc', 'stir_loader', 'stir_app']) AS r
    WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r);
    IF missing IS NOT NULL THEN
        RAISE EXCEPTION 'roles % do not exist: run `stir db bootstrap` with the superuser first', missing;
    END IF;
    EXECUTE format('GRANT CONNECT, CREATE ON DATABASE %I TO stir_loader', current_database());
    EXECUTE format('GRANT CONNECT ON DATABASE %I TO stir_cdc, stir_app', current_database());
END
$$;

GRANT SELECT ON ALL TABLES IN SCHEMA public TO stir_cdc;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT ON TABLES TO stir_cdc;
GRANT INSERT, UPDATE ON debezium_heartbeat TO stir_cdc;
REVOKE ALL ON ALL TABLES IN SCHEMA public FROM PUBLIC;
