"""The discovery oracle on tiny hand-made inputs, each expected value computed by hand from docs/discovery.md."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime
from typing import Any

import pytest

from tests.support import discovery_oracle as oracle
from tests.support.workload import HOUR, Workload


def ms(y: int, m: int, d: int, h: int = 0) -> int:
    return int(datetime(y, m, d, h, tzinfo=UTC).timestamp() * 1000)


def profile(pid: str, platform: str = "instagram", group: str = "g1", **kw) -> dict[str, Any]:
    row: dict[str, Any] = {k: None for k in ("followers", "following", "post_count", "handle", "full_name",
                                             "is_verified", "is_business", "profile_type", "category", "language",
                                             "country", "as_of")}  # fmt: skip
    row.update({m: None for m in ("avg_likes", "avg_comments", "avg_views", "avg_plays", "comments_rate",
                                  "engagement_rate", "likes_to_comment_ratio", "likes_spread", "avg_posts_per_week",
                                  "reels_reach", "image_reach", "story_reach", "reels_impressions",
                                  "image_impressions", "growth_rate_7d", "growth_rate_30d", "growth_rate_90d",
                                  "growth_rate_365d")})  # fmt: skip
    row.update(profile_id=pid, platform=platform, follower_group=group, handle=pid, deleted=False, as_of=7)
    row.update(kw)
    return row


def snap(pid: str, t: int, followers: int, eid: str = "e", platform: str = "instagram", **kw) -> tuple:
    row = {"event_id": f"{eid}-{pid}-{t}", "event_time": t, "profile_id": pid, "platform": platform,
           "handle": pid, "followers": followers, "following": 1, "posts_count": 2}  # fmt: skip
    row.update(kw)
    return ("social.profile.snapshot", pid, row)


def audience(pid: str, t: int, eid: str, gender: dict, reach: float, auth: float) -> tuple:
    row = {"event_id": eid, "event_time": t, "profile_id": pid, "platform": "instagram", "gender": gender, "age": {},
           "countries": {}, "cities": {}, "languages": {}, "authenticity": auth, "reachability": reach}  # fmt: skip
    return ("social.profile.audience", pid, row)


def workload(*arrival: tuple) -> Workload:
    return Workload(start_ms=0, end_ms=0, lateness_ms=0, arrival=list(arrival))


def by_id(*rows: dict) -> dict:
    return {r["profile_id"]: r for r in rows}


# ---- discovery profile ---------------------------------------------------------------------------------------


def test_percentile_inc_interpolates_between_order_statistics():
    xs = [5, 1, 4, 2, 3]  # sorted 1..5, position p * 4
    assert [oracle.percentile_inc(xs, p) for p in (0.4, 0.6, 0.75, 0.9)] == pytest.approx([2.6, 3.4, 4.0, 4.6])
    assert oracle.percentile_inc([7], 0.9) == 7


def test_grades_and_group_averages():
    likes = {"p1": 10.0, "p2": 20.0, "p3": 30.0, "p4": 40.0, "p5": 50.0, "p6": 0.0, "p7": math.nan, "p8": math.inf,
             "p9": None}  # fmt: skip
    profiles = by_id(
        *(profile(pid, avg_likes=v, followers=100) for pid, v in likes.items()),
        profile("pd", avg_likes=1e6, deleted=True),  # deleted: neither a row nor part of the group
        profile("y1", platform="youtube", avg_likes=1000.0),  # its own group
        profile("q1", group="g2", avg_likes=5.0),  # another follower group on the same platform
    )
    rows = oracle.discovery(workload(), profiles)
    assert set(rows) == set(likes) | {"y1", "q1"}
    # thresholds over 10..50 (0, NaN, inf, null left out): p40 26, p60 34, p75 40, p90 46
    grades = {pid: rows[pid]["avg_likes_grade"] for pid in likes}
    assert grades == {"p1": "Poor", "p2": "Poor", "p3": "Average", "p4": "Good", "p5": "Excellent", "p6": None,
                      "p7": None, "p8": None, "p9": None}  # fmt: skip
    assert rows["y1"]["avg_likes_grade"] == "Poor"  # alone: not above its own p40
    assert rows["q1"]["avg_likes_grade"] == "Poor"
    # the mean of finite non-null values, zeros included: (10+20+30+40+50+0)/6
    assert {rows[pid]["group_avg_avg_likes"] for pid in likes} == {25.0}
    assert rows["y1"]["group_avg_avg_likes"] == 1000.0
    assert rows["q1"]["group_avg_avg_likes"] == 5.0
    # followers 100 everywhere in g1: every threshold 100, nobody above -> Poor; an all-null metric has no grade
    assert {rows[pid]["followers_grade"] for pid in likes} == {"Poor"}
    assert {rows[pid]["story_reach_grade"] for pid in likes} == {None}
    assert {rows[pid]["group_avg_story_reach"] for pid in likes} == {None}


def test_growth_metrics_map_to_rolling_growth_rates_and_negatives_are_graded():
    a = profile("a", growth_rate_7d=-5.0, growth_rate_30d=1.0, growth_rate_90d=2.0, growth_rate_365d=3.0)
    rows = oracle.discovery(workload(), by_id(a, profile("b", growth_rate_7d=5.0)))
    a = rows["a"]
    assert (a["followers_growth7d"], a["followers_growth30d"], a["followers_growth90d"], a["followers_growth1y"]) == (
        -5.0, 1.0, 2.0, 3.0)  # fmt: skip
    # values -5, 5: p90 = 4, p40 = -1 -> 5 Excellent, -5 Poor
    assert (a["followers_growth7d_grade"], rows["b"]["followers_growth7d_grade"]) == ("Poor", "Excellent")
    assert a["group_avg_followers_growth7d"] == 0.0


def test_row_keys():
    row = oracle.discovery(workload(), by_id(profile("a")))["a"]
    assert len(oracle.METRICS) == 22
    assert oracle.METRICS[0] == "followers" and oracle.METRICS[-1] == "audience_authencity"
    attrs = {"profile_id", "platform", "handle", "full_name", "is_verified", "is_business", "profile_type",
             "category", "language", "country", "follower_group", "country_rank", "category_rank", "search_phrase",
             "audience_gender", "as_of"}  # fmt: skip
    metric_keys = {f"{p}{m}{s}" for m in oracle.METRICS for p, s in (("", ""), ("", "_grade"), ("group_avg_", ""))}
    assert set(row) == attrs | metric_keys
    assert row["as_of"] == 7


def test_country_and_category_ranks():
    profiles = by_id(
        profile("p1", followers=100, country="US", category="food"),
        profile("p2", followers=300, country="US", category="food", group="g2"),  # groups do not matter
        profile("p3", followers=300, country="US", category="music"),  # ties p2: the smaller id first
        profile("p4", followers=50, country="BR", category="food"),
        profile("p5", followers=900, country=None, category="food"),
        profile("p6", followers=10, country="US", category=None),
        profile("p7", followers=999, country="US", category="food", deleted=True),
        profile("y1", platform="youtube", followers=1000, country="US", category="food"),  # other platform
    )
    rows = oracle.discovery(workload(), profiles)
    assert {pid: rows[pid]["country_rank"] for pid in rows} == {
        "p1": 3, "p2": 1, "p3": 2, "p4": 1, "p5": None, "p6": 4, "y1": 1}  # fmt: skip
    assert {pid: rows[pid]["category_rank"] for pid in rows} == {
        "p1": 2, "p2": 1, "p3": 1, "p4": 1, "p5": None, "p6": None, "y1": 1}  # fmt: skip


def test_search_phrase_and_audience():
    profiles = by_id(
        profile("a", handle="Chef_Ana", full_name="Ana LIMA", category="Food", country="BR"),
        profile("b", handle="Bob", full_name=None, category=None, country="US"),
    )
    w = workload(
        audience("a", 200, "b", {"female": 50.0, "male": 50.0}, 35.0, 70.0),  # newest: tie -> "female"
        audience("a", 200, "a", {"male": 90.0, "female": 10.0}, 1.0, 1.0),  # same time, smaller event id
        audience("a", 100, "z", {"male": 90.0, "female": 10.0}, 2.0, 2.0),  # older, arrives late
        audience("gone", 100, "g", {"male": 1.0}, 2.0, 2.0),  # no rolling row: no discovery row
    )
    rows = oracle.discovery(w, profiles)
    assert set(rows) == {"a", "b"}
    assert rows["a"]["search_phrase"] == "chef_ana ana lima food br"
    assert rows["b"]["search_phrase"] == "bob us"
    assert rows["a"]["audience_gender"] == "female"
    assert (rows["a"]["audience_reachability"], rows["a"]["audience_authencity"]) == (35.0, 70.0)
    assert (rows["b"]["audience_gender"], rows["b"]["audience_reachability"]) == (None, None)
    assert oracle.dominant_gender({"gender": {"m": 40.0, "f": 60.0, "x": 0.0}}) == "f"


# ---- leaderboards --------------------------------------------------------------------------------------------

JAN, FEB, MAR = date(2026, 1, 1), date(2026, 2, 1), date(2026, 3, 1)


def post(pid: str, profile_id: str, t: int, likes: int, comments: int, views=None, plays=None, **kw) -> dict:
    return {"post_id": pid, "profile_id": profile_id, "platform": "instagram", "post_type": "reel",
            "published_at": t, "likes": likes, "comments": comments, "views": views, "plays": plays,
            "deleted": False} | kw  # fmt: skip


@pytest.fixture
def board():
    profiles = by_id(
        profile("i1", category="food", language="en", country="US", profile_type="creator", handle="Ione"),
        profile("i2", category="food", language=None, country="US"),
        profile("y1", platform="youtube", category="music", language="en", country="BR"),
        profile("i3", deleted=True),
    )
    w = workload(
        snap("i1", ms(2026, 1, 10), 1000),
        snap("i1", ms(2026, 1, 20), 1100),
        snap("i1", ms(2026, 1, 20), 1100),  # duplicate
        snap("i1", ms(2026, 2, 15), 1200),
        snap("i2", ms(2026, 1, 31, 23), 1100),  # ties i1 in January
        snap("i2", ms(2026, 3, 2), 1500),  # no February snapshot
        snap("y1", ms(2026, 1, 5), 500, platform="youtube"),
        snap("y1", ms(2026, 2, 28, 23), 800, platform="youtube"),
        snap("i3", ms(2026, 1, 5), 9999),
        snap("i1", ms(2026, 2, 5), 999),  # late: older than the February newest
    )
    posts = {p["post_id"]: p for p in (
        post("a", "i1", ms(2026, 1, 3), 100, 10, post_type="image"),
        post("b", "i1", ms(2026, 1, 31, 23), 300, 30, views=1000, plays=2000),
        post("c", "i1", ms(2026, 1, 4), 10_000, 0, views=9, post_type="story"),
        post("d", "i1", ms(2026, 1, 4), 10_000, 0, views=9, deleted=True),
        post("e", "i2", ms(2026, 1, 4), 50, 5, views=500),
        post("f", "y1", ms(2026, 1, 4), 10, 0, views=5000, post_type="video"),
        post("g", "y1", ms(2026, 2, 1), 80, 0, views=100, post_type="video"),
        post("h", "i3", ms(2026, 1, 4), 1, 1, views=1),
    )}  # fmt: skip
    return oracle.leaderboard(w, profiles, posts)


def ranks(metrics, scopes, value) -> dict:
    return {f"{m}_{s}": value for m in metrics for s in scopes}


ALL_SCOPES = ("global", "category", "language", "category_language", "country", "profile_type")


def test_leaderboard_rows_and_values(board):
    assert set(board) == {
        (JAN, "instagram", "i1"), (JAN, "instagram", "i2"), (JAN, "youtube", "y1"),
        (JAN, "all", "i1"), (JAN, "all", "i2"), (JAN, "all", "y1"),
        (FEB, "instagram", "i1"), (FEB, "youtube", "y1"), (FEB, "all", "i1"), (FEB, "all", "y1"),
        (MAR, "instagram", "i2"), (MAR, "all", "i2"),
    }  # fmt: skip
    jan = board[(JAN, "instagram", "i1")]
    assert {k: v for k, v in jan.items() if not k.endswith("_ranks")} == {
        "platform_profile_id": "i1", "profile_platform": "instagram", "handle": "Ione", "followers": 1100,
        "followers_change": None, "engagement_rate": 20.0, "avg_likes": 200.0, "avg_comments": 20.0,
        "avg_views": 1000.0, "avg_plays": 2000.0, "views": 1000, "plays": 2000, "audience_gender": None,
        "search_phrase": "ione food us",
    }  # fmt: skip
    feb = board[(FEB, "all", "i1")]  # no posts in February
    assert (feb["followers"], feb["followers_change"], feb["engagement_rate"]) == (1200, 100, None)
    assert (feb["avg_likes"], feb["avg_comments"], feb["avg_plays"]) == (None, None, None)
    assert (feb["views"], feb["plays"], feb["avg_views"]) == (0, 0, None)
    i2 = board[(JAN, "all", "i2")]
    assert (i2["engagement_rate"], i2["views"], i2["plays"], i2["avg_plays"]) == (5.0, 500, 0, None)
    y1 = board[(FEB, "youtube", "y1")]
    assert (y1["profile_platform"], y1["followers_change"], y1["engagement_rate"], y1["views"]) == (
        "youtube", 300, 10.0, 100)  # fmt: skip
    mar = board[(MAR, "instagram", "i2")]
    assert (mar["followers"], mar["followers_change"]) == (1500, None)  # February missing


def test_leaderboard_ranks(board):
    main = ("followers", "engagement_rate", "views", "plays")  # no followers_change in January
    assert board[(JAN, "instagram", "i1")]["current_month_ranks"] == ranks(main, ALL_SCOPES, 1)
    # i2: no language or profile type; ties i1 on followers and loses to the smaller id
    assert board[(JAN, "instagram", "i2")]["current_month_ranks"] == ranks(main, ("global", "category", "country"), 2)
    assert board[(JAN, "youtube", "y1")]["current_month_ranks"] == ranks(main, ALL_SCOPES[:5], 1)
    y1 = board[(JAN, "all", "y1")]["current_month_ranks"]
    assert len(y1) == 20 and "followers_change_global" not in y1 and "views_profile_type" not in y1
    assert (y1["followers_global"], y1["followers_language"], y1["views_global"], y1["views_language"]) == (3, 2, 1, 1)
    assert (y1["plays_global"], y1["views_country"], y1["views_category_language"]) == (3, 1, 1)  # plays 0 ties i2
    i1 = board[(JAN, "all", "i1")]["current_month_ranks"]
    assert (i1["views_global"], i1["views_language"], i1["views_category"], i1["plays_global"]) == (2, 2, 1, 1)
    assert board[(JAN, "all", "i2")]["current_month_ranks"]["plays_global"] == 2
    feb = board[(FEB, "all", "i1")]["current_month_ranks"]
    assert (feb["followers_global"], feb["followers_change_global"], feb["views_global"]) == (1, 2, 2)
    assert "engagement_rate_global" not in feb
    assert board[(FEB, "instagram", "i1")]["current_month_ranks"] == ranks(
        ("followers", "followers_change", "views", "plays"), ALL_SCOPES, 1)  # fmt: skip


def test_last_month_ranks(board):
    for key in [(FEB, "instagram", "i1"), (FEB, "all", "i1"), (FEB, "youtube", "y1"), (FEB, "all", "y1")]:
        assert board[key]["last_month_ranks"] == board[(JAN, key[1], key[2])]["current_month_ranks"]
    for key in [k for k in board if k[0] == JAN] + [(MAR, "instagram", "i2"), (MAR, "all", "i2")]:
        assert board[key]["last_month_ranks"] == {}  # i2 has January rows, but not February ones


def test_leaderboard_zero_followers_has_no_engagement_rate():
    w = workload(snap("z", ms(2026, 1, 2), 0))
    got = oracle.leaderboard(w, by_id(profile("z")), {"p": post("p", "z", ms(2026, 1, 3), 5, 5)})
    assert got[(JAN, "all", "z")]["engagement_rate"] is None
    assert got[(JAN, "all", "z")]["current_month_ranks"]["followers_global"] == 1


# ---- growth series -------------------------------------------------------------------------------------------


def test_series_daily_and_filled():
    profiles = by_id(profile("s1"), profile("s2", deleted=True))
    w = workload(
        snap("s1", ms(2026, 1, 1, 10), 100, following=5, posts_count=1),
        snap("s1", ms(2026, 1, 1, 20), 110, eid="b", following=6, posts_count=2),
        snap("s1", ms(2026, 1, 1, 20), 111, eid="a"),  # same time, smaller event id: loses
        snap("s1", ms(2026, 1, 1, 20), 110, eid="b", following=6, posts_count=2),  # duplicate
        snap("s1", ms(2026, 1, 4, 1), 130, following=None, posts_count=None),
        snap("s1", ms(2026, 1, 1, 23) + HOUR - 1, 120, following=7, posts_count=3),  # late, last ms of Jan 1
        snap("s2", ms(2026, 1, 1), 5),
        snap("s3", ms(2026, 1, 2), 9),  # no rolling row: kept
    )
    jan1 = {"followers": 120, "following": 7, "posts_count": 3}
    jan4 = {"followers": 130, "following": None, "posts_count": None}
    assert oracle.series_daily(w, profiles) == {
        ("s1", date(2026, 1, 1)): jan1, ("s1", date(2026, 1, 4)): jan4,
        ("s3", date(2026, 1, 2)): {"followers": 9, "following": 1, "posts_count": 2},
    }  # fmt: skip
    filled = oracle.series_daily_filled(w, profiles)
    assert {k: v for k, v in filled.items() if k[0] == "s1"} == {
        ("s1", date(2026, 1, 1)): jan1 | {"filled": False},
        ("s1", date(2026, 1, 2)): jan1 | {"filled": True},
        ("s1", date(2026, 1, 3)): jan1 | {"filled": True},
        ("s1", date(2026, 1, 4)): jan4 | {"filled": False},
    }
    assert filled[("s3", date(2026, 1, 2))]["filled"] is False and len(filled) == 5


@pytest.fixture
def growth():
    return workload(
        snap("s1", ms(2025, 12, 31, 12), 90),  # week of Mon 2025-12-29, December
        snap("s1", ms(2026, 1, 4, 23), 100),  # Sunday: the same week, January
        snap("s1", ms(2026, 1, 5), 105),  # Monday 2026-01-05
        snap("s1", ms(2026, 1, 10), 120),
        snap("s1", ms(2026, 1, 20), 150),  # week of 01-19 (01-12 missing)
        snap("s1", ms(2026, 2, 2), 160),  # week of 02-02 (01-26 missing)
        snap("s1", ms(2026, 4, 1), 200),  # Wednesday, week of 03-30; March missing
        snap("s1", ms(2026, 1, 2), 95),  # late: older than the week's and month's newest
        snap("s2", ms(2026, 1, 5), 1),
    )


def test_series_weekly(growth):
    got = oracle.series_weekly(growth, by_id(profile("s1"), profile("s2", deleted=True)))
    assert got == {
        ("s1", date(2025, 12, 29)): {"followers": 100, "followers_change": None},
        ("s1", date(2026, 1, 5)): {"followers": 120, "followers_change": 20},
        ("s1", date(2026, 1, 19)): {"followers": 150, "followers_change": None},
        ("s1", date(2026, 2, 2)): {"followers": 160, "followers_change": None},
        ("s1", date(2026, 3, 30)): {"followers": 200, "followers_change": None},
    }


def test_series_monthly(growth):
    got = oracle.series_monthly(growth, by_id(profile("s1"), profile("s2", deleted=True)))
    assert got == {
        ("s1", date(2025, 12, 1)): {"followers": 90, "followers_change": None},
        ("s1", date(2026, 1, 1)): {"followers": 150, "followers_change": 60},
        ("s1", date(2026, 2, 1)): {"followers": 160, "followers_change": 10},
        ("s1", date(2026, 4, 1)): {"followers": 200, "followers_change": None},
    }


# ---- insights ------------------------------------------------------------------------------------------------


def insight(pid: str, t: int, eid: str, day: int, ct: str, reach: int, imp: int, platform="instagram") -> tuple:
    row = {"event_id": eid, "event_time": t, "profile_id": pid, "platform": platform, "day": day,
           "content_type": ct, "reach": reach, "impressions": imp}  # fmt: skip
    return ("social.profile.insight", pid, row)


def test_insights_newest_reading():
    d1, d2 = ms(2026, 1, 1), ms(2026, 1, 2)
    w = workload(
        insight("a", 100, "b", d1, "reel", 10, 20),
        insight("a", 100, "a", d1, "reel", 99, 99),  # same time, smaller event id
        insight("a", 50, "z", d1, "reel", 5, 5),  # older, arrives later
        insight("a", 60, "c", d1, "story", 3, 4),
        insight("a", 70, "d", d2, "reel", 7, 8),
        insight("x", 10, "e", d1, "video", 1, 2, platform="youtube"),  # no rolling row: kept
        insight("gone", 10, "f", d1, "reel", 1, 1),
    )
    got = oracle.insights(w, by_id(profile("a"), profile("gone", deleted=True)))
    assert got == {
        ("a", date(2026, 1, 1), "reel"): {"reach": 10, "impressions": 20, "platform": "instagram"},
        ("a", date(2026, 1, 1), "story"): {"reach": 3, "impressions": 4, "platform": "instagram"},
        ("a", date(2026, 1, 2), "reel"): {"reach": 7, "impressions": 8, "platform": "instagram"},
        ("x", date(2026, 1, 1), "video"): {"reach": 1, "impressions": 2, "platform": "youtube"},
    }
