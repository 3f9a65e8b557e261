-- The post ranker (docs/discovery.md): per profile and post class (image, video, story) its 12 most recent posts not
-- deleted (publish time desc, then post id), each ranked within that dozen by likes, comments, plays and views
-- (ties: likes desc, comments desc, publish time desc, post id; a null count ranks after every count).
CREATE OR REPLACE VIEW post_ranks AS
SELECT
    profile_id, post_class, post_id, platform, post_type, published_at, likes, comments, views, plays, engagement_rate,
    recency_rank,
    row_number() OVER (PARTITION BY profile_id, post_class
                       ORDER BY likes DESC, comments DESC, published_at DESC, post_id) AS likes_rank_by_class,
    row_number() OVER (PARTITION BY profile_id, post_class
                       ORDER BY comments DESC, likes DESC, published_at DESC, post_id) AS comments_rank_by_class,
    row_number() OVER (PARTITION BY profile_id, post_class
                       ORDER BY plays IS NULL, plays DESC, likes DESC, comments DESC, published_at DESC, post_id)
        AS plays_rank_by_class,
    row_number() OVER (PARTITION BY profile_id, post_class
                       ORDER BY views IS NULL, views DESC, likes DESC, comments DESC, published_at DESC, post_id)
        AS views_rank_by_class
FROM
(
    SELECT
        profile_id, post_class, post_id, platform, post_type, published_at, likes, comments, views, plays,
        engagement_rate,
        row_number() OVER (PARTITION BY profile_id, post_class ORDER BY published_at DESC, post_id) AS recency_rank
    FROM post_rolling FINAL
    WHERE NOT ifNull(deleted, false)
)
WHERE recency_rank <= 12;

-- Stories with their reach: the platform's where it gives one, else the estimate from the profile's followers then
-- (f: the newest snapshot of the story's UTC day, or of the latest day before it with one; the daily growth series)
-- and its latest engagement rate (er, in percent):
-- before 2023-11-22 round(-0.000025017 * f + 1.11 * (f * abs(log2(er)) * 2 / 100)), from that day on the same with
-- log2(er + 2) for abs(log2(er)); null when f or er is unknown or the logarithm is not finite.
CREATE OR REPLACE VIEW story_reach AS
WITH
    stories AS (
        SELECT post_id, profile_id, platform, published_at, reach, likes, comments
        FROM post_rolling FINAL
        WHERE post_type = 'story' AND NOT ifNull(deleted, false)
    ),
    snapshots AS (
        SELECT profile_id, day, followers
        FROM profile_series_daily
        WHERE profile_id IN (SELECT profile_id FROM stories)
    ),
    rates AS (SELECT profile_id, engagement_rate FROM profile_rolling FINAL WHERE NOT ifNull(deleted, false))
SELECT
    post_id, profile_id, platform, published_at, likes, comments, reach AS platform_reach, f AS followers_then,
    er AS engagement_rate, toBool(reach IS NULL) AS estimated,
    if(reach IS NOT NULL, toInt64(reach), toInt64OrNull(toString(if(
        f IS NULL OR er IS NULL OR NOT isFinite(lg), NULL,
        round(-0.000025017 * f + 1.11 * (f * lg * 2 / 100)))))) AS story_reach
FROM
(
    SELECT
        s.post_id AS post_id, s.profile_id AS profile_id, s.platform AS platform, s.published_at AS published_at,
        s.likes AS likes, s.comments AS comments, s.reach AS reach,
        if(p.day = toDate(0), NULL, p.followers) AS f,
        r.engagement_rate AS er,
        if(s.published_at < toDateTime64('2023-11-22 00:00:00', 3, 'UTC'),
           abs(log2(er)), log2(er + 2)) AS lg
    FROM stories AS s
    ASOF LEFT JOIN snapshots AS p
        ON s.profile_id = p.profile_id AND toDate(s.published_at, 'UTC') >= p.day
    LEFT JOIN rates AS r ON s.profile_id = r.profile_id
);
