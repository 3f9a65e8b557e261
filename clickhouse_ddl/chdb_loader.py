"""Load chdb so that its Kafka engine can run in this process.

``import chdb`` runs a probe (``chdb/__init__.py``: connect, ``SELECT version()``, close). Closing the process's
last connection shuts the embedded server's global context down, and that sets the process-wide
``shutdown_called`` flag of ClickHouse's ``StreamingStorageRegistry``, which nothing clears: every later
``ENGINE = Kafka`` table then fails to start with ``Shutdown was called (LOGICAL_ERROR)`` (chdb-io/chdb#339).

:func:`chdb_session` registers the ``chdb`` package without executing its ``__init__`` and loads the extension
module ``_chdb.abi3.so`` the way chdb does (preloaded with ``RTLD_DEEPBIND``, imported from the package's
directory); ``chdb.session`` then imports on top of it. The caller keeps its session open for the process's
lifetime. chdb runs the Kafka engine's consumers on a pool of 2 threads
(``background_message_broker_schedule_pool_size``): with more tables than threads, a consumer with messages waits
for a turn (seconds, measured); ``broker_threads`` sizes the pool, one thread per consumer. The chdb packages are
pinned exactly (pyproject.toml): ``tests/unit/clickhouse_ddl/test_chdb_loader.py`` fails when a new version changes
what this relies on.
"""

from __future__ import annotations

import ctypes
import importlib
import importlib.metadata
import importlib.util
import os
import sys
import threading
import types
from typing import Any

PINNED = {"chdb": "4.4.0", "chdb-core": "26.9.0"}
_RTLD_DEEPBIND = 0x8
_lock = threading.Lock()


class ChdbLoadError(RuntimeError):
    pass


def _versions() -> dict[str, str]:
    found = {}
    for dist in PINNED:
        try:
            found[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            found[dist] = "not installed"
    return found


def _load() -> None:
    found = _versions()
    if found != PINNED:
        raise ChdbLoadError(f"chdb versions {found}, this loader is written for {PINNED}: reinstall with "
                            "`make setup`, or check the loader against the new version first")  # fmt: skip
    spec = importlib.util.find_spec("chdb")
    if spec is None or not spec.submodule_search_locations:
        raise ChdbLoadError("the chdb package is not installed: run `make setup`")
    found_dirs = [d for d in spec.submodule_search_locations if os.path.exists(os.path.join(d, "_chdb.abi3.so"))]
    if not found_dirs:
        raise ChdbLoadError("chdb's extension _chdb.abi3.so is missing from the package: reinstall with `make setup`")
    directory = found_dirs[0]
    package = importlib.util.module_from_spec(spec)  # the package, its __init__ not executed
    package.__dict__["g_udf_path"] = ""  # read by chdb.session (set by chdb's __init__)
    sys.modules["chdb"] = package
    try:
        ctypes.CDLL(os.path.join(directory, "_chdb.abi3.so"), mode=sys.getdlopenflags() | _RTLD_DEEPBIND)
        cwd = os.getcwd()
        os.chdir(directory)  # chdb imports its extension from the package directory
        try:
            package.__dict__["_chdb"] = importlib.import_module("chdb._chdb")
        finally:
            os.chdir(cwd)
        package.__dict__["ChdbError"] = importlib.import_module("chdb._exceptions").ChdbError
        importlib.import_module("chdb.session")
    except Exception:
        sys.modules.pop("chdb", None)
        raise


def chdb_session(path: str, broker_threads: int = 0, kafka_session_timeout_ms: int = 0) -> Any:
    """A ``chdb.session.Session`` on ``path`` in a process whose chdb never closed its last connection
    (``broker_threads``: the Kafka engine's thread pool; ``kafka_session_timeout_ms``: its consumers' group
    session, librdkafka's 45 s otherwise; both when the first session of the process sets them)."""
    params: dict[str, int] = {}
    if broker_threads:
        params["background_message_broker_schedule_pool_size"] = int(broker_threads)
    if kafka_session_timeout_ms:
        params["kafka.session_timeout_ms"] = int(kafka_session_timeout_ms)
        params["kafka.heartbeat_interval_ms"] = max(int(kafka_session_timeout_ms) // 5, 500)
    if params and any(c in path for c in "?&#%"):  # chdb would read them as connection parameters
        raise ChdbLoadError(f"cannot open chdb at {path!r}: its path may not contain ?, &, # or % (STIR_STATE_DIR)")
    with _lock:
        loaded = sys.modules.get("chdb")
        if loaded is None:
            _load()
        elif "engine_version" in vars(loaded):  # chdb's own __init__ ran: its probe closed the last connection
            raise ChdbLoadError(
                "chdb was imported before clickhouse_ddl.chdb_loader in this process, so its Kafka engine "
                "cannot start: open chdb sessions through clickhouse_ddl.chdb_loader only"
            )
    session: types.ModuleType = sys.modules["chdb.session"]
    if params:
        path = f"file:{path}?" + "&".join(f"{k}={v}" for k, v in params.items())
    return session.Session(path)
