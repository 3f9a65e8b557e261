"""The refresh scope rule by rule, on posts built through the posts agent's own apply functions."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from streams.transforms import post as tpost
from streams.transforms import refresh as trefresh
from streams.transforms.post import PostOutcome, PostState, ScrapeFact

DAY, HOUR = 86_400_000, 3_600_000
NOW = int(datetime(2026, 5, 31, 12, tzinfo=UTC).timestamp() * 1000)


def _ms(year: int, month: int, day: int, hour: int = 0) -> int:
    return int(datetime(year, month, day, hour, tzinfo=UTC).timestamp() * 1000)


def _post(lsn: int = 10, *, shortcode: str = "Cabc_12-x", platform: str = "instagram", post_type: str = "reel",
          published_at: int = NOW - 20 * DAY, added_at: int | None = NOW - 5 * DAY) -> PostState:  # fmt: skip
    st, out = PostState(), PostOutcome()
    after = {"id": "p", "shortcode": shortcode, "platform": platform, "post_type": post_type,
             "published_at": datetime.fromtimestamp(published_at / 1000, UTC).isoformat()}  # fmt: skip
    trefresh.apply_post_rows(st, [{"op": "c", "after": after, "source": {"lsn": lsn, "ts_ms": published_at}}], out)
    if added_at is not None:
        trefresh.apply_collected(st, [{"collection_id": 7, "present": True, "lsn": 5, "added_at": added_at}], out)
    assert out.changed_scope
    return st


def _in(st: PostState, requested_at: int = 0) -> bool:
    return trefresh.in_scope(st, NOW, trefresh.months_before(NOW, 2), requested_at)


def test_an_instagram_collection_item_added_lately_is_in_scope():
    for kind in ("reel", "image", "carousel"):
        assert _in(_post(post_type=kind))


@pytest.mark.parametrize(
    "change",
    [{"shortcode": "1234567890"}, {"platform": "youtube"}, {"post_type": "story"}, {"post_type": "video"},
     {"added_at": None}, {"added_at": _ms(2026, 3, 30, 12)}],
)  # fmt: skip
def test_out_of_scope(change):
    assert not _in(_post(**change))


def test_two_calendar_months_clamp_to_the_shorter_month():
    assert trefresh.months_before(NOW, 2) == _ms(2026, 3, 31, 12)
    assert trefresh.months_before(_ms(2026, 4, 30, 1), 2) == _ms(2026, 2, 28, 1)
    assert trefresh.months_before(_ms(2026, 1, 15), 2) == _ms(2025, 11, 15)
    assert _in(_post(added_at=_ms(2026, 3, 31, 12)))  # at the bound: in


def test_removed_from_its_only_collection_leaves_the_scope_and_an_older_change_does_not_bring_it_back():
    st, out = _post(), PostOutcome()
    trefresh.apply_collected(st, [{"collection_id": 7, "present": False, "lsn": 9, "added_at": None}], out)
    assert not _in(st)
    trefresh.apply_collected(st, [{"collection_id": 7, "present": True, "lsn": 5, "added_at": NOW - DAY}], out)
    assert out.duplicates == 1 and not _in(st)
    trefresh.apply_collected(st, [{"collection_id": 8, "present": True, "lsn": 11, "added_at": NOW - DAY}], out)
    assert _in(st)  # in another collection


def test_deleted_fresh_or_recently_attempted_posts_are_not_refreshed():
    st = _post()
    st.deleted = True
    assert not _in(st)
    st = _post()
    st.last_success_at = NOW - 30 * 60_000  # scraped half an hour ago
    assert not _in(st)
    st = _post()
    assert not _in(st, requested_at=NOW - 11 * HOUR) and _in(st, requested_at=NOW - 13 * HOUR)
    tpost.apply_scrapes(st, [ScrapeFact(NOW - 6 * HOUR, "r1", 1, "RUNNING", "f")], 90 * DAY, PostOutcome(),
                        from_events=False)  # fmt: skip
    assert not _in(st)


def _scraped(*facts: tuple[str, int, str]) -> PostState:
    st = _post()
    fs = [ScrapeFact(NOW - (2 + i) * DAY, r, a, s, "f") for i, (r, a, s) in enumerate(facts)]
    tpost.apply_scrapes(st, fs, 90 * DAY, PostOutcome(), from_events=False)
    return st


def test_persistently_failing_counts_distinct_failed_requests():
    assert _in(_scraped(("r1", 1, "FAILED"), ("r1", 2, "FAILED")))  # one request failed twice: one failure
    assert not _in(_scraped(("r1", 1, "FAILED"), ("r2", 1, "FAILED")))
    assert _in(_scraped(("r1", 1, "FAILED"), ("r2", 1, "FAILED"), ("r3", 1, "COMPLETE")))
    assert tpost.scrape_counts(_scraped(("refresh:p:1", 1, "FAILED"), ("refresh:p:1", 2, "FAILED"))) == (1, 0)


def test_oldest_publish_time_first_within_the_limit():
    states = [(f"p{i}", _post(published_at=NOW - (10 + i % 7) * DAY - i)) for i in range(40)]
    picked = [p for p, _ in trefresh.candidates(states, NOW, limit=5)]
    by_age = sorted(states, key=lambda s: (s[1].row.published_at, s[0]))
    assert picked == [p for p, _ in by_age[:5]]


def test_the_scope_survives_a_state_round_trip():
    st = _post()
    back = PostState.from_json(st.to_json())
    assert back.row == st.row and back.collected == st.collected and _in(back)
    old = PostState.from_json({k: v for k, v in st.to_json().items() if k not in ("row", "in")})
    assert old.row is None and old.collected == {} and not _in(old)
