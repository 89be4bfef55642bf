"""Dagster's SQLite event log, with each database's connection kept open between writes.

Every Dagster event of a run (a step starting, a dbt model materialized, a dbt test's asset check evaluated, and
the "planned" event of each before the run starts) is one write to the run's SQLite file, and an asset event a
second one to the index file. Dagster's own SqliteEventLogStorage builds a SQLAlchemy engine and opens a new
SQLite connection for each of them, then closes it (and one more to ask whether the index has the asset check
table, before every asset check event): 3-9 ms an event, about 5 connections an event. A nightly
warehouse build stores ~820 events whatever the data holds (59 models and seeds, 208 dbt tests), so about 7 s of
the orchestrating process went to opening and closing connections and compiling inserts, 2 s of it before dbt
starts (docs/performance.md, section AT).

This storage keeps one engine per database file with one pooled connection, so a write is an insert and a
commit. What stays as Dagster does it: the files and their schema (the same directory layout as
`storage: sqlite:`, so a project's run history carries over either way), a transaction per write, the lock that
serializes this process's writes, and the busy timeout that lets `dagster dev`'s processes share the files.
An idle connection holds no SQLite lock, so the webserver and the daemon read and write as before.

Bounded: only the most recently used files keep a connection (a webserver reading many runs' logs does not
hold a file open per run); a forked process opens its own; `wipe()` closes them before deleting the files.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager

from dagster._core.storage.event_log.sqlite.sqlite_event_log import SqliteEventLogStorage
from dagster._core.storage.sqlite import SQLITE_BUSY_TIMEOUT_SECONDS
from dagster._serdes import ConfigurableClassData
from sqlalchemy import create_engine
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import QueuePool

# The index file, the running run's file and a few a reader visits in turn.
OPEN_FILES_KEPT = 8


def storage_settings(storage_dir: str) -> dict:
    """The instance settings (dagster.yaml's storage keys) for Dagster's SQLite files under `storage_dir`, in
    the layout `storage: sqlite: base_dir: <storage_dir>` gives, with this event log. The project's dagster.yaml
    holds them for data/dagster_home/storage; the benchmark's and the tests' instances take them from here."""
    return {
        "run_storage": {
            "module": "dagster._core.storage.runs",
            "class": "SqliteRunStorage",
            "config": {"base_dir": f"{storage_dir}/history"},
        },
        "event_log_storage": {
            "module": __name__,
            "class": PooledSqliteEventLogStorage.__name__,
            "config": {"base_dir": f"{storage_dir}/history/runs"},
        },
        "schedule_storage": {
            "module": "dagster._core.storage.schedules",
            "class": "SqliteScheduleStorage",
            "config": {"base_dir": f"{storage_dir}/schedules"},
        },
    }


class PooledSqliteEventLogStorage(SqliteEventLogStorage):
    """SqliteEventLogStorage with a kept connection per file (dagster.yaml: `event_log_storage`)."""

    def __init__(self, base_dir: str, inst_data: ConfigurableClassData | None = None):
        self._engines: OrderedDict[str, Engine] = OrderedDict()
        self._engines_pid = os.getpid()
        self._tables_present: set[str] = set()
        super().__init__(base_dir, inst_data=inst_data)

    @classmethod
    def from_config_value(cls, inst_data: ConfigurableClassData | None, config_value) -> PooledSqliteEventLogStorage:
        # The base class builds itself by name here, which would drop this subclass.
        return cls(inst_data=inst_data, **config_value)

    @contextmanager
    def _connect(self, shard: str) -> Iterator[Connection]:
        # As the base class: one transaction per use, under the lock; only the engine and its connection stay.
        with self._db_lock:
            engine = self._engine_for(shard)
            if shard not in self._initialized_dbs:
                self._initdb(engine)
                self._initialized_dbs.add(shard)
            with engine.connect() as conn:
                with conn.begin():
                    yield conn

    def _engine_for(self, shard: str) -> Engine:
        if self._engines_pid != os.getpid():
            # A forked child must not use (or close) the connections it inherited from its parent.
            for inherited in self._engines.values():
                inherited.dispose(close=False)
            self._engines.clear()
            self._engines_pid = os.getpid()
        engine = self._engines.pop(shard, None)
        if engine is None:
            engine = create_engine(
                self.conn_string_for_shard(shard),
                poolclass=QueuePool,
                pool_size=1,
                # The lock lets one use at a time; should a nested use ever happen, it gets a connection of its
                # own (closed after) instead of waiting for the one it holds.
                max_overflow=4,
                connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS, "check_same_thread": False},
            )
        self._engines[shard] = engine  # most recently used last
        while len(self._engines) > OPEN_FILES_KEPT:
            _, least_recent = self._engines.popitem(last=False)
            least_recent.dispose()
        return engine

    def has_table(self, table_name: str) -> bool:
        # Asked before every asset check event is stored, each time through a new connection to the index. A
        # migration only adds tables, so a table found stays found; one not found is looked for again.
        if table_name not in self._tables_present and super().has_table(table_name):
            self._tables_present.add(table_name)
        return table_name in self._tables_present

    def _close_connections(self) -> None:
        with self._db_lock:
            for engine in self._engines.values():
                engine.dispose()
            self._engines.clear()

    def wipe(self) -> None:
        # The base class deletes the run files: a kept connection would go on writing to a deleted file.
        self._close_connections()
        super().wipe()

    def dispose(self) -> None:
        self._close_connections()
        super().dispose()
