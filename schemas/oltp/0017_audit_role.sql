-- The reconciliation's role (stir_audit): the key columns of the entities the serving tables hold, nothing more
-- (column privileges), to compare entity counts and keys with the serving tables (serving_loader/reconcile.py).
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'stir_audit') THEN
        RAISE EXCEPTION 'role stir_audit does not exist: run `stir db bootstrap` with the superuser first';
    END IF;
    EXECUTE format('GRANT CONNECT ON DATABASE %I TO stir_audit', current_database());
END
$$;

GRANT USAGE ON SCHEMA public TO stir_audit;
GRANT SELECT (id) ON profiles, posts, processes TO stir_audit;
