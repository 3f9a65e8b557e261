"""The agents, one module each: what it reads and writes (checked against ``schemas/topics.py``), its state
record, and its batch handler (decode, group by key, call the pure transforms, build the output lines).

``STREAM_AGENTS`` is what ``streams/app.py`` wires: one Faust agent and one table (named after the agent) each.
The ``refresh`` timer (``streams/agents/refresh.py``) reads the posts table and has no table of its own.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from schemas.topics import AGENTS
from streams.agents import collections, hiring, logins, memberships, posts, profiles, refresh
from streams.agents.common import Handler
from streams.settings import StreamsSettings
from streams.transforms.collection import CollectionState, MembershipState
from streams.transforms.hiring import HiringState
from streams.transforms.post import PostState
from streams.transforms.profile import ProfileState
from streams.transforms.security import SecurityState
from streams.transforms.state import StateRecord


@dataclass(frozen=True)
class StreamAgent:
    name: str
    state: type[StateRecord]  # what its table holds
    handler: Callable[[StreamsSettings], Handler]  # builds the handler (once per app)


def _stateless(fn: Handler) -> Callable[[StreamsSettings], Handler]:
    return lambda _settings: fn


STREAM_AGENTS: tuple[StreamAgent, ...] = (
    StreamAgent(posts.AGENT, PostState, _stateless(posts.handle)),
    StreamAgent(profiles.AGENT, ProfileState, _stateless(profiles.handle)),
    StreamAgent(collections.AGENT, CollectionState, _stateless(collections.handle)),
    StreamAgent(memberships.AGENT, MembershipState, _stateless(memberships.handle)),
    StreamAgent(hiring.AGENT, HiringState, hiring.HiringBatch),
    StreamAgent(logins.AGENT, SecurityState, logins.SecurityBatch),
)
if {a.name for a in STREAM_AGENTS} | {refresh.AGENT} != set(AGENTS):
    raise RuntimeError(f"streams/agents/ holds {sorted(a.name for a in STREAM_AGENTS)} + refresh; "
                       f"schemas/topics.py declares {sorted(AGENTS)}")  # fmt: skip
