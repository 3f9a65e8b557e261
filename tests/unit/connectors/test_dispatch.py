"""The dispatcher's decisions without I/O: answers, backoff, the rate cap's send log, its settings."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from connectors.dispatch.delivery import Backoff, SendLog, retry_after_s, verdict
from connectors.dispatch.settings import DispatchSettings


@pytest.mark.parametrize(
    ("status", "want"),
    [(200, "delivered"), (201, "delivered"), (202, "delivered"), (409, "delivered"), (400, "refused"),
     (413, "refused"), (422, "refused"), (401, "retry"), (403, "retry"), (404, "retry"), (408, "retry"),
     (429, "retry"), (500, "retry"), (502, "retry"), (503, "retry"), (301, "retry")],
)  # fmt: skip
def test_verdict(status, want):
    assert verdict(status) == want


def test_retry_after_is_capped_and_only_seconds():
    assert retry_after_s({"retry-after": "7"}, 60) == 7
    assert retry_after_s({"retry-after": "3600"}, 60) == 60
    assert retry_after_s({"retry-after": "Wed, 21 Oct 2026 07:28:00 GMT"}, 60) is None
    assert retry_after_s({}, 60) is None


def test_backoff_doubles_to_its_cap_and_resets():
    b = Backoff(0.5, 4)
    assert [b.next_s() for _ in range(6)] == [0.5, 1, 2, 4, 4, 4]
    b.reset()
    assert b.next_s() == 0.5


def test_send_log_holds_the_cap_in_a_sliding_window(tmp_path):
    log = SendLog(tmp_path / "s", limit=3, window_s=10, now=100)
    for t in (100, 101, 102):
        assert log.wait_s(t) == 0
        log.record(t)
    assert log.wait_s(105) == pytest.approx(5)  # the first send leaves the window at 110
    assert log.wait_s(110) == 0
    log.record(110)
    assert log.wait_s(110.5) == pytest.approx(0.5)  # now 101 is the oldest of the last three


def test_send_log_survives_a_restart_and_a_torn_line(tmp_path):
    path = tmp_path / "d" / "s"
    log = SendLog(path, limit=2, window_s=10, now=100)
    log.record(100)
    log.record(101)
    with open(path, "a") as f:
        f.write("10")  # a kill mid-write
    again = SendLog(path, limit=2, window_s=10, now=102)
    assert again.wait_s(102) == pytest.approx(8)
    assert SendLog(path, limit=2, window_s=10, now=200).wait_s(200) == 0  # all expired
    assert (path.parent.stat().st_mode & 0o777) == 0o700


def test_send_log_file_stays_small(tmp_path):
    path = tmp_path / "s"
    log = SendLog(path, limit=5, window_s=1, now=0)
    for i in range(10_000):
        log.record(i * 0.01)
    assert len(path.read_text().splitlines()) <= 4 * 5 + 101


def test_settings_refuse_bad_urls_and_name_the_field():
    with pytest.raises(ValidationError, match="http"):
        DispatchSettings(scraper_url="ftp://scraper/x")
    with pytest.raises(ValidationError, match="TOKEN_FILE"):
        DispatchSettings(scraper_url="https://user:pw@scraper/x")
    assert DispatchSettings(scraper_url="https://scraper.internal/v1/requests").group_id == "stir-dispatch"
    assert DispatchSettings(topic_prefix="t1.").group_id == "t1.stir-dispatch"
    with pytest.raises(ValidationError, match="BACKOFF"):
        DispatchSettings(backoff_initial_s=5, backoff_max_s=1)


def test_token_from_file_never_in_the_error(tmp_path):
    f = tmp_path / "token"
    f.write_text("s3cret-value\n")
    assert DispatchSettings(token_file=f).bearer() == "s3cret-value"
    f.write_text("")
    with pytest.raises(ValueError, match="empty"):
        DispatchSettings(token_file=f).bearer()
    with pytest.raises(ValueError, match="STIR_DISPATCH_TOKEN_FILE"):
        DispatchSettings(token_file=tmp_path / "missing").bearer()
    with pytest.raises(ValueError, match="no scraper token"):
        DispatchSettings().bearer()
