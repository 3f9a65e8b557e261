-- The profile page's audience (docs/discovery.md): the newest audience reading of each profile not deleted, its
-- shares as they were read, the countries and cities cut to the 5 largest shares (ties: the smaller label).
CREATE OR REPLACE VIEW profile_audience_info AS
SELECT
    profile_id, platform, gender, age,
    mapFromArrays(arraySlice(arraySort((k, v) -> (-v, k), mapKeys(countries), mapValues(countries)), 1, 5),
                  arraySlice(arraySort((v, k) -> (-v, k), mapValues(countries), mapKeys(countries)), 1, 5))
        AS top_countries,
    mapFromArrays(arraySlice(arraySort((k, v) -> (-v, k), mapKeys(cities), mapValues(cities)), 1, 5),
                  arraySlice(arraySort((v, k) -> (-v, k), mapValues(cities), mapKeys(cities)), 1, 5))
        AS top_cities,
    languages, authenticity, reachability, dominant_gender, event_time AS as_of
FROM profile_audience_latest
WHERE profile_id NOT IN (SELECT profile_id FROM profile_rolling FINAL WHERE ifNull(deleted, false));

-- Every post snapshot's engagement counters, each reading once (a redelivered one merges away): the trending
-- posts compare a post's engagement now with its engagement a day and a week before.
{{source post_snapshot_queue social.post.snapshot}};

CREATE TABLE IF NOT EXISTS post_engagement
(
    post_id String,
    profile_id String,
    platform LowCardinality(String),
    event_time DateTime64(3, 'UTC'),
    event_id UUID,
    likes Int64,
    comments Int64,
    inserted_at DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree
ORDER BY (post_id, event_time, event_id);

CREATE MATERIALIZED VIEW IF NOT EXISTS post_engagement_mv TO post_engagement AS
SELECT post_id, profile_id, platform, fromUnixTimestamp64Milli(event_time, 'UTC') AS event_time, event_id, likes,
       comments
FROM post_snapshot_queue
WHERE length(_error) = 0;

-- Trending posts: per period (24h, 7d), platform and category of the creator, the 10 posts (not stories, not
-- deleted, creator not deleted) whose engagement (likes + comments of the newest reading at a time, ties to the
-- larger event id as text) grew most from the window's start to its end. The window ends at the newest reading
-- of any post (at most now). A post published inside the window starts from 0; a post published before it with
-- no reading at or before its start, or with no reading inside it, is left out. Ties: the smaller post id.
CREATE OR REPLACE VIEW post_trending AS
WITH
    (SELECT least(now64(3, 'UTC'), max(event_time)) FROM post_engagement) AS ref,
    alive AS (
        SELECT p.post_id AS post_id, p.profile_id AS profile_id, p.platform AS platform, p.post_type AS post_type,
               p.published_at AS published_at, a.category AS category
        FROM post_rolling AS p FINAL
        INNER JOIN (SELECT profile_id, category FROM profile_rolling FINAL
                    WHERE NOT ifNull(deleted, false) AND category IS NOT NULL) AS a ON a.profile_id = p.profile_id
        WHERE NOT ifNull(p.deleted, false) AND p.post_type != 'story'
    ),
    readings AS (
        SELECT post_id, event_time, toString(event_id) AS eid, likes + comments AS engagement
        FROM post_engagement
        WHERE post_id IN (SELECT post_id FROM alive) AND event_time <= ref
    ),
    per_window AS (
        SELECT
            r.post_id AS post_id, w.days AS days,
            argMax(r.engagement, (r.event_time, r.eid)) AS engagement_end,
            argMaxIf(r.engagement, (r.event_time, r.eid), r.event_time <= ref - toIntervalDay(w.days))
                AS engagement_before,
            countIf(r.event_time <= ref - toIntervalDay(w.days)) > 0 AS has_before,
            countIf(r.event_time > ref - toIntervalDay(w.days)) > 0 AS has_inside
        FROM readings AS r
        CROSS JOIN (SELECT arrayJoin([1, 7]) AS days) AS w
        GROUP BY post_id, days
    ),
    grown AS (
        SELECT
            if(g.days = 1, '24h', '7d') AS period, a.platform AS platform, a.category AS category,
            g.post_id AS post_id, a.profile_id AS profile_id, a.post_type AS post_type,
            a.published_at AS published_at,
            if(g.has_before, g.engagement_before, 0) AS engagement_start, g.engagement_end AS engagement_end,
            g.engagement_end - if(g.has_before, g.engagement_before, 0) AS engagement_growth
        FROM per_window AS g
        INNER JOIN alive AS a ON a.post_id = g.post_id
        WHERE g.has_inside AND (g.has_before OR a.published_at > ref - toIntervalDay(g.days))
    )
SELECT *
FROM
(
    SELECT *, row_number() OVER (PARTITION BY period, platform, category
                                 ORDER BY engagement_growth DESC, post_id) AS trending_rank
    FROM grown
)
WHERE trending_rank <= 10;

-- The genre overview: per category of the creator, platform and calendar month of publishing (UTC), the creators
-- who posted, the posts (not stories, not deleted, creator not deleted) and the median of the posts' engagement
-- rates (the mean of the two middle ones for an even count; posts without one left out).
CREATE OR REPLACE VIEW genre_overview AS
SELECT
    a.category AS category, p.platform AS platform, toStartOfMonth(p.published_at) AS month,
    uniqExact(p.profile_id) AS creators, count() AS posts,
    if(countIf(isFinite(ifNull(p.engagement_rate, nan))) = 0, NULL,
       toNullable(quantileExactInclusiveIf(0.5)(assumeNotNull(p.engagement_rate),
                                                isFinite(ifNull(p.engagement_rate, nan)))))
        AS median_engagement_rate
FROM post_rolling AS p FINAL
INNER JOIN (SELECT profile_id, category FROM profile_rolling FINAL
            WHERE NOT ifNull(deleted, false) AND category IS NOT NULL) AS a ON a.profile_id = p.profile_id
WHERE NOT ifNull(p.deleted, false) AND p.post_type != 'story'
GROUP BY category, platform, month;
