-- Latest login-security status per account (status.account.security); the row with the highest version wins, read with FINAL.
{{source account_security_queue status.account.security}};

CREATE TABLE IF NOT EXISTS account_security
(
    {{columns status.account.security}},
    inserted_at DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree(version)
ORDER BY user_id;

CREATE MATERIALIZED VIEW IF NOT EXISTS account_security_mv TO account_security AS
SELECT
    {{select status.account.security}}
FROM account_security_queue
WHERE length(_error) = 0;
