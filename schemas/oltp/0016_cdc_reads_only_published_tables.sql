-- The CDC role reads the captured tables only: not the migration history.
REVOKE ALL ON stir_schema_history FROM stir_cdc;
