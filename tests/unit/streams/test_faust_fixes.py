"""The faust-streaming workarounds still fit the installed faust/aiokafka: every attribute they replace or read
exists (an upgrade that drops or renames one fails here, not in a SIGKILL test), the pins hold, and
``apply_all`` switches every patch on once."""

from __future__ import annotations

import ast
import importlib
import inspect
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import faust
import pytest

from streams import faust_fixes

ROOT = Path(__file__).resolve().parents[3]
# our replacement's parameters, where it does not take (*args, **kwargs)
SIGNATURES = {"_add_gap": ["self", "tp", "offset_from", "offset_to"], "verify_event_path": ["self", "now", "tp"],
              "_wait_next_records": ["self", "timeout"], "getmany": ["self", "timeout"],
              "pause_partitions": ["self", "tps"], "perform_seek": ["self"]}  # fmt: skip


def _resolve(owner: str) -> Any:
    module, _, name = owner.partition(":")
    mod = importlib.import_module(module)
    return getattr(mod, name) if name else mod


@pytest.fixture(scope="module")
def instances() -> dict[str, Any]:
    """Objects of the classes whose instance attributes the workarounds read (no broker needed)."""
    app = faust.App("faust-fixes-check", broker="kafka://127.0.0.1:1", store="memory://")
    table = app.Table("t", default=None, key_type=bytes, partitions=2, use_partitioner=True)
    consumer: Any = app.consumer
    tables: Any = app.tables
    objs = {"faust.app.base:App": app, "faust.tables.table:Table": table, faust_fixes.CONSUMER: consumer,
            faust_fixes.THREAD: consumer._thread, "faust.tables.manager:TableManager": tables,
            "faust.tables.recovery:Recovery": tables.recovery,
            "faust.transport.conductor:Conductor": app.topics}  # fmt: skip
    for owner, obj in objs.items():
        assert isinstance(obj, _resolve(owner)), owner
    return objs


TOUCHED = [(name, *t) for name, touched in faust_fixes.TOUCHED.items() for t in touched]


@pytest.mark.parametrize(("workaround", "kind", "owner", "attr"), TOUCHED)
def test_every_touched_attribute_exists(workaround: str, kind: str, owner: str, attr: str, instances: dict) -> None:
    target = _resolve(owner)
    found = hasattr(target, attr) or (owner in instances and hasattr(instances[owner], attr))
    assert found, f"{workaround}: {owner}.{attr} is gone from the installed faust/aiokafka"
    if kind != "patched":
        return
    # the patch replaces the class's own function, and the driver's classes do not override it
    assert attr in vars(target), f"{workaround}: {owner}.{attr} is inherited now; the patch would miss it"
    if owner == faust_fixes.CONSUMER:
        from faust.transport.drivers import aiokafka as driver

        assert getattr(driver.Consumer, attr) is getattr(target, attr), f"the aiokafka driver overrides {attr}"
    if attr in SIGNATURES:
        params = list(inspect.signature(getattr(target, attr)).parameters)
        assert params == SIGNATURES[attr], f"{owner}.{attr}{params}: the replacement takes {SIGNATURES[attr]}"


def test_every_private_attribute_used_is_listed() -> None:
    """The list above is the one the code uses: each faust-private attribute named in faust_fixes.py is in it."""
    tree = ast.parse(Path(faust_fixes.__file__).read_text())
    used = {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute) and n.attr.startswith("_")}
    ours = {a for a in used if a.startswith("_stir")} | {"_exit"}  # our own markers; os._exit
    listed = {attr for touched in faust_fixes.TOUCHED.values() for _, _, attr in touched}
    assert used - ours <= listed, sorted(used - ours - listed)


def test_the_installed_versions_are_the_pinned_ones() -> None:
    faust_fixes.check_versions()


def test_pyproject_pins_what_the_workarounds_patch() -> None:
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    for package, pin in faust_fixes.PINS.items():
        assert f"{package}=={pin}" in deps, f"pyproject.toml must pin {package}=={pin}"


@pytest.mark.parametrize("package", sorted(faust_fixes.PINS))
def test_another_version_fails_naming_the_package_and_the_pin(package: str, monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.metadata.version
    monkeypatch.setattr(importlib.metadata, "version", lambda p: "9.9.9" if p == package else real(p))
    with pytest.raises(faust_fixes.PinnedVersionError) as e:
        faust_fixes.apply_all()
    assert f"{package} is 9.9.9" in str(e.value) and f"{package}=={faust_fixes.PINS[package]}" in str(e.value)


def test_a_missing_package_fails_by_name(monkeypatch: pytest.MonkeyPatch) -> None:
    def version(p: str) -> str:
        raise importlib.metadata.PackageNotFoundError(p)

    monkeypatch.setattr(importlib.metadata, "version", version)
    with pytest.raises(faust_fixes.PinnedVersionError, match="faust-streaming is not installed"):
        faust_fixes.check_versions()


APPLY = """
from streams import faust_fixes
from streams.faust_fixes import TOUCHED
import importlib
def patched():
    out = {}
    for touched in TOUCHED.values():
        for kind, owner, attr in touched:
            if kind == "patched":
                module, _, name = owner.partition(":")
                out[owner, attr] = getattr(getattr(importlib.import_module(module), name), attr)
    return out
before = patched()
faust_fixes.apply_all()
once = patched()
faust_fixes.apply_all()
assert patched() == once, "apply_all patched twice"
assert all(once[k] is not before[k] for k in before), [k for k in before if once[k] is before[k]]
print("ok", len(before))
"""


def test_apply_all_switches_every_patch_on_once() -> None:
    """In a child process: the patches are process-wide."""
    out = subprocess.run([sys.executable, "-c", APPLY], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.startswith("ok 9"), out.stdout


class _FakeApp:
    """The attributes ``wait_for_table_recovery`` reads, as faust sets them during a rebalance."""

    def __init__(self, *, revoking: bool, completed: bool, in_recovery: bool, rebalancing: bool) -> None:
        import asyncio
        from types import SimpleNamespace

        from faust.transport.consumer import CONSUMER_PARTITIONS_REVOKED

        done = asyncio.Event()
        if completed:
            done.set()
        self.tables = SimpleNamespace(recovery=SimpleNamespace(completed=done))
        self.consumer = SimpleNamespace(
            diag=SimpleNamespace(flags={CONSUMER_PARTITIONS_REVOKED} if revoking else set())
        )
        self.in_recovery, self.rebalancing, self.should_stop = in_recovery, rebalancing, False


def _wait(app: _FakeApp, timeout: float = 0.3) -> str:
    import asyncio

    async def run() -> str:
        try:
            await asyncio.wait_for(faust_fixes.wait_for_table_recovery(app), timeout)
        except faust_fixes.RestartRequired:
            return "restart"
        except TimeoutError:
            return "waiting"
        return "proceed"

    return asyncio.run(run())


def test_a_run_held_by_a_revoke_never_waits_for_the_revoke() -> None:
    """The deadlock: faust's revoke waits for the run, the run waited for the rebalance to end."""
    assert _wait(_FakeApp(revoking=True, completed=True, in_recovery=False, rebalancing=True)) == "proceed"
    assert _wait(_FakeApp(revoking=True, completed=True, in_recovery=True, rebalancing=True)) == "restart"
    assert _wait(_FakeApp(revoking=True, completed=False, in_recovery=True, rebalancing=True)) == "restart"


def test_a_run_before_recovery_waits_and_a_revoke_meanwhile_restarts() -> None:
    app = _FakeApp(revoking=False, completed=True, in_recovery=True, rebalancing=True)
    assert _wait(app) == "waiting"
    assert _wait(_FakeApp(revoking=False, completed=True, in_recovery=False, rebalancing=False)) == "proceed"

    import asyncio

    from faust.transport.consumer import CONSUMER_WAIT_EMPTY

    async def revoke_later() -> str:
        async def flip() -> None:
            await asyncio.sleep(0.05)
            app.consumer.diag.flags.add(CONSUMER_WAIT_EMPTY)

        flipper = asyncio.ensure_future(flip())
        try:
            await asyncio.wait_for(faust_fixes.wait_for_table_recovery(app), 2)
        except faust_fixes.RestartRequired:
            return "restart"
        finally:
            await flipper
        return "proceed"

    assert asyncio.run(revoke_later()) == "restart"


def test_the_worker_leaves_the_root_logger_at_its_level() -> None:
    """faust's own worker lowers the logger to DEBUG for its spinner (every debug call then builds a record)."""
    import logging

    import faust

    app = faust.App("fixes-logging-test", broker="kafka://127.0.0.1:1")
    plain, ours = logging.getLogger("stir-test-plain"), logging.getLogger("stir-test-ours")
    for logger in (plain, ours):
        logger.setLevel(logging.WARNING)
        logger.addHandler(logging.NullHandler())
    faust.Worker(app, loglevel="warning").on_setup_root_logger(plain, logging.WARNING)
    worker = faust_fixes.prompt_worker(app, 5.0, loglevel="warning", quiet=True)
    worker.on_setup_root_logger(ours, logging.WARNING)
    assert plain.level == logging.DEBUG  # what the workaround is for; fails when faust stops doing it
    assert ours.level == logging.WARNING and worker.spinner is None
