"""streams/ takes its topics from the declaration (``schemas/topics.py``): a declared topic's name appears in
streams/ only as the argument of ``topic(...)``, which fails at import if it is not declared, and every agent
module's inputs and outputs are the declared ones (``streams.agents.common.declared``)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from schemas.topics import AGENTS, BY_NAME, read_by, written_by
from streams.agents import STREAM_AGENTS, collections, hiring, logins, memberships, posts, profiles, refresh
from streams.agents.common import declared

STREAMS = Path(__file__).resolve().parents[3] / "streams"


def _bare_topic_names(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text())
    in_topic_call = {
        id(arg)
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "topic"
        for arg in node.args
    }
    return [(n.lineno, n.value) for n in ast.walk(tree)
            if isinstance(n, ast.Constant) and n.value in BY_NAME and id(n) not in in_topic_call]  # fmt: skip


@pytest.mark.parametrize("path", sorted(STREAMS.rglob("*.py")), ids=lambda p: str(p.relative_to(STREAMS)))
def test_no_topic_name_outside_topic_calls(path: Path) -> None:
    assert not _bare_topic_names(path)


def test_every_declared_agent_has_its_module() -> None:
    modules = (posts, profiles, collections, memberships, hiring, logins, refresh)
    assert sorted(m.AGENT for m in modules) == sorted(AGENTS)
    assert [a.name for a in STREAM_AGENTS] == [a for a in AGENTS if a != refresh.AGENT]
    assert {posts.SNAPSHOTS, posts.SCRAPE_STATUS, posts.SCRAPE_CDC, posts.POSTS_CDC, posts.COLLECTED} == {
        t.name for t in read_by("posts")
    }
    assert {hiring.PROCESS_STATUS, hiring.POSITION_DIM, hiring.COMPANY_DIM} < {t.name for t in written_by("hiring")}


def test_an_undeclared_topic_fails_at_import() -> None:
    with pytest.raises(RuntimeError, match="agent 'posts'"):
        declared("posts", reads=(posts.SNAPSHOTS,), writes=(posts.POST_STATUS,))
    with pytest.raises(KeyError, match="no topic"):
        declared("posts", reads=("social.post.snapshots",), writes=())
