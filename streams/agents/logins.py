"""``logins`` agent (key: user id): login attempts → each account's security status, which also moves with the
event-time clock (a quiet period after a success clears a flag)."""

from __future__ import annotations

from collections import defaultdict

from schemas.models import AccountSecurity, AuthAttempt
from schemas.topics import topic
from streams.agents.clocked import ClockedBatch
from streams.agents.common import BatchResult, GetState, add_late, declared
from streams.settings import StreamsSettings
from streams.transforms import security as tsec
from streams.transforms.records import contract_line, decode_lines, model_parser
from streams.transforms.security import SecurityState

AGENT = "logins"
ATTEMPTS = topic("activity.auth.attempt").name
ACCOUNT_STATUS = topic("status.account.security").name
declared(AGENT, reads=(ATTEMPTS,), writes=(ACCOUNT_STATUS,))


class SecurityBatch(ClockedBatch):
    agent = AGENT
    topic = ACCOUNT_STATUS

    @property
    def rules(self) -> tsec.Rules:
        return tsec.Rules(self.s.login_fail_threshold, int(self.s.login_fail_window_s * 1000),
                          int(self.s.login_quiet_s * 1000))  # fmt: skip

    def next_change(self, state: SecurityState, now: int) -> int | None:
        return tsec.next_change(state, now, self.rules)

    def row_line(self, key: str, state: SecurityState, now: int) -> tuple[bytes, int, int] | None:
        row = tsec.status_row(key, state, now, self.rules)
        t = max(state.latest_event_time, row["since"] or 0)
        line = contract_line(AccountSecurity, self.topic, row, key, t, self.agent)
        return line, row["version"], state.latest_event_time

    def static_version(self, key: str, state: SecurityState) -> int | None:
        return int(state.applied << 1)

    def __call__(
        self, name: str, value: bytes | None, get_state: GetState, settings: StreamsSettings, now_ms: int
    ) -> BatchResult:
        res = BatchResult()
        attempts, res.bad = decode_lines(value, model_parser(AuthAttempt))
        res.rows_in = len(attempts) + len(res.bad)
        by_key: dict[str, list[AuthAttempt]] = defaultdict(list)
        for a in attempts:
            by_key[a.user_id].append(a)
        changed: dict[str, SecurityState] = {}
        for key, items in by_key.items():
            stored: SecurityState | None = get_state(key)
            state = stored.copy() if stored is not None else SecurityState()
            outcome = tsec.Outcome()
            tsec.apply_attempts(state, items, self.s.allowed_lateness_ms, self.rules, outcome)
            res.duplicates += outcome.duplicates
            add_late(res, outcome.late)
            if outcome.changed:
                changed[key] = state
        self.finish(res, changed, get_state, now_ms)
        return res
