-- Audience readings (social.profile.audience) and daily insights (social.profile.insight), every reading kept
-- once (a redelivered one merges away); the views give the newest reading by (event_time, event_id): the event
-- id compared as text, so that ties go the same way everywhere (a UUID's sort order is not its text's).
{{source profile_audience_queue social.profile.audience}};

CREATE TABLE IF NOT EXISTS profile_audience
(
    {{columns social.profile.audience}},
    inserted_at DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree
ORDER BY (profile_id, event_id);

CREATE MATERIALIZED VIEW IF NOT EXISTS profile_audience_mv TO profile_audience AS
SELECT
    {{select social.profile.audience}}
FROM profile_audience_queue
WHERE length(_error) = 0;

-- the newest reading as one tuple: argMax skips the rows whose value is NULL, a tuple is never NULL
CREATE OR REPLACE VIEW profile_audience_latest AS
SELECT
    profile_id,
    r.1 AS platform, r.2 AS gender, r.3 AS age, r.4 AS countries, r.5 AS cities, r.6 AS languages,
    r.7 AS authenticity, r.8 AS reachability, r.9 AS event_time,
    if(empty(r.2), NULL, arraySort((k, v) -> (-v, k), mapKeys(r.2), mapValues(r.2))[1]) AS dominant_gender
FROM
(
    SELECT
        profile_id,
        argMax((platform, gender, age, countries, cities, languages, authenticity, reachability, event_time),
               (event_time, toString(event_id))) AS r
    FROM profile_audience
    GROUP BY profile_id
);

{{source profile_insight_queue social.profile.insight}};

CREATE TABLE IF NOT EXISTS profile_insight
(
    {{columns social.profile.insight}},
    inserted_at DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree
ORDER BY (profile_id, day, content_type, event_id);

CREATE MATERIALIZED VIEW IF NOT EXISTS profile_insight_mv TO profile_insight AS
SELECT
    {{select social.profile.insight}}
FROM profile_insight_queue
WHERE length(_error) = 0;

CREATE OR REPLACE VIEW profile_insights AS
SELECT
    profile_id,
    toDate(day) AS day,
    content_type,
    r.1 AS platform, r.2 AS reach, r.3 AS impressions, r.4 AS event_time
FROM
(
    SELECT profile_id, day, content_type,
           argMax((platform, reach, impressions, event_time), (event_time, toString(event_id))) AS r
    FROM profile_insight
    GROUP BY profile_id, day, content_type
)
WHERE profile_id NOT IN (SELECT profile_id FROM profile_rolling FINAL WHERE ifNull(deleted, false));
