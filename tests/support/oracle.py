"""The independent oracle: the final social metrics and statuses computed in plain Python from the raw events,
straight from the definitions (``../shared/DESIGN.md``), with no code shared with ``streams/``. Rules it applies,
as the product defines them: per key and stream, in arrival order, an event whose event_time is older than the
newest seen by more than the allowed lateness is dropped; duplicates (same event_id; for scrape facts the same
request, attempt and status) count once; ties on event time go to the greater event id; a profile's follower
history keeps the newest snapshot of each hour. Deletes (Debezium ``op: "d"`` rows; the newest change of a row by
LSN decides): a deleted profile's row and all its post rows say ``deleted``; a deleted post's rows say ``deleted``
and it leaves its profile's metrics and its collections' aggregates; a deleted collection's row says ``deleted``.
"""

from __future__ import annotations

import calendar
import statistics
from collections import defaultdict
from datetime import UTC, datetime
from typing import Any, TypeVar

from tests.support.workload import DAY, HOUR, Workload

T = TypeVar("T")


def _accept(arrivals: list[tuple[int, str, T]], lateness: int) -> list[T]:
    """(event_time, identity, row) in arrival order -> accepted rows."""
    seen: set[str] = set()
    newest = None
    out: list[T] = []
    for t, ident, item in arrivals:
        if ident in seen:
            continue
        if newest is not None and t < newest - lateness:
            continue
        seen.add(ident)
        newest = t if newest is None else max(newest, t)
        out.append(item)
    return out


def _ms(iso: str) -> int:
    return int(datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp() * 1000)


def compute(w: Workload, now_ms: int) -> dict[str, dict[str, dict[str, Any]]]:
    L = w.lateness_ms
    prof_in: dict[str, list[Any]] = defaultdict(list)
    post_in: dict[str, list[Any]] = defaultdict(list)
    scrape_in: dict[str, list[Any]] = defaultdict(list)
    cdc_in: dict[str, list[dict[str, Any]]] = defaultdict(list)
    deletes_in: dict[str, dict[str, tuple[int, bool]]] = {"cdc.posts": {}, "cdc.collections": {}}
    row: dict[str, Any]
    for topic, key, row in w.arrival:
        if topic == "social.profile.snapshot":
            prof_in[key].append((row["event_time"], row["event_id"], row))
        elif topic == "social.post.snapshot":
            post_in[key].append((row["event_time"], row["event_id"], row))
        elif topic == "social.scrape.status":
            fact = (row["event_time"], row["request_id"], row["attempt"], row["status"])
            scrape_in[key].append((row["event_time"], f"{fact[1]}:{fact[2]}:{fact[3]}", fact, True))
        elif topic == "cdc.scrape_requests":
            a = row["after"]
            fact = (_ms(a["updated_at"]), str(a["id"]), a["attempt"], a["status"])
            scrape_in[key].append((fact[0], f"{fact[1]}:{fact[2]}:{fact[3]}", fact, False))
        elif topic == "cdc.profiles":
            cdc_in[key].append(row)
        elif topic in ("cdc.posts", "cdc.collections"):
            newest = deletes_in[topic].get(key)
            if newest is None or row["source"]["lsn"] > newest[0]:
                deletes_in[topic][key] = (row["source"]["lsn"], row["op"] == "d")
    deleted_posts = {k for k, (_, d) in deletes_in["cdc.posts"].items() if d}

    # posts: latest counters
    latest_post: dict[str, dict[str, Any]] = {}
    for post_id, arr in post_in.items():
        acc = _accept(arr, L)
        if acc:
            latest_post[post_id] = max(acc, key=lambda r: (r["event_time"], r["event_id"]))

    # scrape status per post: status events obey the lateness rule among themselves; CDC facts are never
    # late; a fact reported by both counts once (in whichever order the two topics interleave)
    status: dict[str, dict[str, Any]] = {}
    for post_id, arr in scrape_in.items():
        newest_ev = None
        kept: dict[str, tuple[int, str, int, str]] = {}
        for t, ident, fact, from_events in arr:
            if from_events:
                if newest_ev is not None and t < newest_ev - L:
                    continue
                newest_ev = t if newest_ev is None else max(newest_ev, t)
            kept.setdefault(ident, fact)
        facts = list(kept.values())
        if not facts:
            continue
        smax = max(f[0] for f in facts)
        last = max(facts, key=lambda f: (f[0], f"{f[1]}:{f[2]}:{f[3]}"))
        in30 = [f for f in facts if f[0] > smax - 30 * DAY]
        failed = len({f[1] for f in in30 if f[3] == "FAILED"})  # distinct requests
        complete = sum(1 for f in in30 if f[3] == "COMPLETE")
        oks = [f[0] for f in facts if f[3] == "COMPLETE"]
        last_ok = max(oks) if oks else None
        snap_t = latest_post[post_id]["event_time"] if post_id in latest_post else None
        scraped = max([x for x in (snap_t, last_ok) if x is not None], default=None)
        status[post_id] = {
            "post_id": post_id, "last_status": last[3], "last_attempt_at": smax, "last_success_at": last_ok,
            "failed_30d": failed, "complete_30d": complete, "persistently_failing": failed >= 2 and complete == 0,
            "stale": scraped is None or now_ms - scraped > HOUR, "deleted": post_id in deleted_posts,
        }  # fmt: skip

    # profiles
    posts_of: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in latest_post.values():
        posts_of[r["profile_id"]].append(r)
    profiles: dict[str, dict[str, Any]] = {}
    post_metrics: dict[str, dict[str, Any]] = {}
    for pid, arr in prof_in.items():
        acc = _accept(arr, L)
        if not acc:
            continue
        # the follower history: the newest accepted snapshot of each hour of event time
        hourly: dict[int, dict[str, Any]] = {}
        for r in acc:
            h = r["event_time"] // HOUR
            if h not in hourly or (r["event_time"], r["event_id"]) > (hourly[h]["event_time"], hourly[h]["event_id"]):
                hourly[h] = r
        acc = list(hourly.values())
        latest = max(acc, key=lambda r: (r["event_time"], r["event_id"]))
        followers, as_of = latest["followers"], latest["event_time"]
        row = {
            "profile_id": pid,
            "as_of": as_of,
            "platform": latest["platform"],
            "followers": followers,
        }
        year_floor = as_of // DAY * DAY - 364 * DAY  # 1 year: before the start of the day 364 days back
        for days, older in ((7, [r for r in acc if r["event_time"] <= as_of - 7 * DAY]),
                            (30, [r for r in acc if r["event_time"] <= as_of - 30 * DAY]),
                            (90, [r for r in acc if r["event_time"] <= as_of - 90 * DAY]),
                            (365, [r for r in acc if r["event_time"] < year_floor])):  # fmt: skip
            if older:
                earlier = max(older, key=lambda r: (r["event_time"], r["event_id"]))["followers"]
                row[f"followers_growth_{days}d"] = followers - earlier
                row[f"growth_rate_{days}d"] = (followers - earlier) / earlier * 100 if earlier else None
            else:
                row[f"followers_growth_{days}d"] = None
                row[f"growth_rate_{days}d"] = None
        every_post = posts_of.get(pid, [])
        alive = sorted((r for r in every_post if r["post_id"] not in deleted_posts),
                       key=lambda r: (r["published_at"], r["post_id"]), reverse=True)  # fmt: skip
        posts = [r for r in alive if r["post_type"] != "story"]
        recent = posts[:12]
        if recent:
            likes = [r["likes"] for r in recent]
            avg_l = statistics.fmean(likes)
            avg_c = statistics.fmean(r["comments"] for r in recent)
            views = [r["views"] for r in recent if r["views"] is not None]
            plays = [r["plays"] for r in recent if r["plays"] is not None]
            row["avg_likes"], row["avg_comments"] = avg_l, avg_c
            row["avg_views"] = statistics.fmean(views) if views else None
            row["avg_plays"] = statistics.fmean(plays) if plays else None
            row["comments_rate"] = avg_c / followers * 100 if followers else None
            row["engagement_rate"] = (avg_l + avg_c) / followers * 100 if followers else None
            row["likes_to_comment_ratio"] = avg_l / avg_c if avg_c else None
            row["likes_spread"] = statistics.pstdev(likes)
            newest = posts[0]["published_at"]
            row["avg_posts_per_week"] = sum(1 for r in posts if r["published_at"] > newest - 30 * DAY) / 30 * 7
        else:
            for k in ("avg_likes", "avg_comments", "avg_views", "avg_plays", "comments_rate", "engagement_rate",
                      "likes_to_comment_ratio", "likes_spread", "avg_posts_per_week"):  # fmt: skip
                row[k] = None
        for name, types in (("reels", ("reel", "video", "short")), ("image", ("image", "carousel")),
                            ("story", ("story",))):  # fmt: skip
            newest12 = [r for r in alive if r["post_type"] in types][:12]
            reach = [r["reach"] for r in newest12 if r.get("reach") is not None]
            row[f"{name}_reach"] = statistics.fmean(reach) if reach else None
            if name != "story":
                imps = [r["impressions"] for r in newest12 if r.get("impressions") is not None]
                row[f"{name}_impressions"] = statistics.fmean(imps) if imps else None
        row["posts_counted"] = len(recent)
        bounds = [(5_000, "0-5k"), (10_000, "5k-10k"), (50_000, "10k-50k"), (100_000, "50k-100k"),
                  (500_000, "100k-500k"), (1_000_000, "500k-1M")]  # fmt: skip
        row["follower_group"] = next((name for b, name in bounds if followers < b), "1M+")
        cdc = cdc_in.get(pid, [])
        newest_cdc = max(cdc, key=lambda r: r["source"]["lsn"]) if cdc else None
        edits = [r for r in cdc if r["op"] != "d"]
        image = max(edits, key=lambda r: r["source"]["lsn"])["after"] if edits else {}
        row["category"] = image.get("category") or latest["category"]
        row["language"] = image.get("language") or latest["language"]
        profile_deleted = newest_cdc is not None and newest_cdc["op"] == "d"
        row["deleted"] = profile_deleted
        row["handle"] = image.get("handle") or latest["handle"]
        row["following"] = latest.get("following")
        row["post_count"] = latest.get("posts_count")
        for k in ("full_name", "is_verified", "is_business", "profile_type", "country"):
            row[k] = latest.get(k)
        profiles[pid] = row
        for r in every_post:
            engagement = r["likes"] + r["comments"]
            post_metrics[r["post_id"]] = {
                "post_id": r["post_id"], "profile_id": pid, "platform": r["platform"], "post_type": r["post_type"],
                "published_at": r["published_at"], "likes": r["likes"], "comments": r["comments"],
                "views": r["views"], "plays": r["plays"], "engagement": engagement,
                "engagement_rate": engagement / followers * 100 if followers else None,
                "post_class": {"reel": "video", "video": "video", "short": "video", "story": "story"}.get(
                    r["post_type"], "image"),
                "deleted": profile_deleted or r["post_id"] in deleted_posts,
                "reach": r.get("reach"), "impressions": r.get("impressions"), "saves": r.get("saves"),
            }  # fmt: skip
    # collections: newest LSN per (collection, post) decides membership; aggregates over the members that
    # have post metrics
    membership: dict[str, dict[str, tuple[int, bool]]] = defaultdict(dict)
    for topic, key, row in w.arrival:
        if topic == "cdc.collection_items":
            image = row["after"] or row["before"]
            post, lsn = str(image["post_id"]), row["source"]["lsn"]
            cur = membership[key].get(post)
            if cur is None or lsn > cur[0]:
                membership[key][post] = (lsn, row["op"] != "d")
    collections: dict[str, dict[str, Any]] = {}
    for cid in {**membership, **deletes_in["cdc.collections"]}:
        members = membership.get(cid, {})
        ms = [post_metrics[p] for p, (_, present) in members.items()
              if present and p in post_metrics and not post_metrics[p]["deleted"]]  # fmt: skip
        views = [m["views"] for m in ms if m["views"] is not None]
        ers = [m["engagement_rate"] for m in ms if m["engagement_rate"] is not None]
        likes, comments = sum(m["likes"] for m in ms), sum(m["comments"] for m in ms)
        collections[cid] = {
            "collection_id": cid, "posts": len(ms), "total_likes": likes, "total_comments": comments,
            "total_views": sum(views), "avg_likes": likes / len(ms) if ms else None,
            "avg_comments": comments / len(ms) if ms else None, "avg_views": statistics.fmean(views) if views else None,
            "avg_engagement_rate": statistics.fmean(ers) if ers else None,
            "deleted": deletes_in["cdc.collections"].get(cid, (0, False))[1],
        }  # fmt: skip
    return {"metrics.profile.rolling": profiles, "metrics.post.rolling": post_metrics, "status.scrape.post": status,
            "metrics.collection.rolling": collections, "latest_post_snapshot": latest_post}  # fmt: skip


def _two_months_before(now_ms: int) -> int:
    now = datetime.fromtimestamp(now_ms / 1000, UTC)
    month, year = now.month - 2, now.year
    if month < 1:
        month, year = month + 12, year - 1
    day = min(now.day, calendar.monthrange(year, month)[1])
    return int(now.replace(year=year, month=month, day=day).timestamp() * 1000)


def refresh_eligible(w: Workload, final: dict[str, dict[str, dict[str, Any]]], now_ms: int) -> list[str]:
    """Posts a refresh request may name at ``now_ms`` (the reference's scope): the newest OLTP row (by LSN) of the
    post is Instagram, reel/image/carousel, with a short code that is not all digits, and the post is not deleted;
    some collection item of it (newest change by LSN per collection) is present and was added at or after two
    calendar months before now; stale (last snapshot or successful scrape over an hour ago, or never); not
    attempted in the last 12 h; not persistently failing; oldest publish time (of the row) first."""
    rows: dict[str, tuple[int, dict[str, Any] | None]] = {}
    items: dict[tuple[str, str], tuple[int, bool, str | None]] = {}
    for topic, key, row in w.arrival:
        if topic not in ("cdc.posts", "cdc.collection_items"):
            continue
        lsn = row["source"]["lsn"]
        if topic == "cdc.posts":
            if key not in rows or lsn > rows[key][0]:
                rows[key] = (lsn, row["after"] if row["op"] != "d" else None)
        elif topic == "cdc.collection_items":
            img = row["after"] or row["before"]
            k = (str(img["collection_id"]), str(img["post_id"]))
            if k not in items or lsn > items[k][0]:
                items[k] = (lsn, row["op"] != "d", (row["after"] or {}).get("added_at"))
    since = _two_months_before(now_ms)
    recent = {post for (_, post), (_, present, added) in items.items() if present and added and _ms(added) >= since}
    picked = []
    for post_id, (_, img) in rows.items():
        if img is None or post_id not in recent:
            continue
        code = img["shortcode"]
        if img["platform"] != "instagram" or img["post_type"] not in ("reel", "image", "carousel"):
            continue
        if not code or code.isdigit():
            continue
        st = final["status.scrape.post"].get(post_id)
        snap = final["latest_post_snapshot"].get(post_id)
        if st is None:
            if snap is not None and now_ms - snap["event_time"] <= HOUR:
                continue
        elif not st["stale"] or st["persistently_failing"] or now_ms - st["last_attempt_at"] < 12 * HOUR:
            continue
        picked.append((_ms(img["published_at"]), post_id))
    return [p for _, p in sorted(picked)]
