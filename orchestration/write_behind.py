"""WriteBehind: calls run in order on one worker thread while the caller goes on with the next piece of work.

For work that spends its time outside the GIL (file writes, hashlib, DuckDB) beside a caller that holds it
(numpy draws, Python's codecs), so the two overlap on two cores. Its users:
- the sample data generator formats and writes each table's landing files while the next tables are drawn
  (docs/sample_data.md). Drawing and writing took about half of its time each, one after the other. The queue
  is bounded by the bytes of the tables waiting, not by their number: the heavy draws (the web events, the
  messaging activity) come in bursts between many small tables, and a queue of a few tables would stall the
  drawing behind them;
- ingestion checksums a file being transcoded, and writes its UTF-8 copy, one chunk behind the decoder
  (orchestration/ingest/decoding.py).

Why the output stays byte for byte the same as when written in turn: there is one worker and one
first-in-first-out queue, so every call runs in the order it was submitted (the generator's lines, their line
numbers and its defect log; the transcoded copy's chunks).
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable

# The generator's bound. At M (1M persons) it took 114 s with 1 GiB pending, 89 s with 2, 83 s with 4 and 8:
# a chunk's tables (250,000 persons) fit in 4 GiB, so the drawing never waits for the writes; peak memory
# 3.4 -> 4.0 GiB.
DEFAULT_MAX_PENDING_BYTES = 4 << 30
_STOP = object()


class WriteBehind:
    """Runs submitted calls in order on one worker thread.

    ``submit(call, *args, size=n)`` waits while the calls queued or running already hold ``max_pending_bytes``
    (one call is always let through, whatever its size). The worker's first error is raised in the caller at
    its next ``submit`` or at ``close``; the calls queued after it are dropped, so nothing is written past a
    failed write. A ``submit`` after ``close`` raises. The generator's sizes are Arrow's ``nbytes``, which counts
    a dictionary shared by several tables once per table, so the bound errs on the side of less memory. A bound
    of 1 keeps exactly one call queued or running.
    """

    def __init__(self, max_pending_bytes: int = DEFAULT_MAX_PENDING_BYTES, name: str = "landing-writer") -> None:
        self._max_pending_bytes = max_pending_bytes
        self._pending_bytes = 0
        self._calls: deque = deque()
        self._changed = threading.Condition()
        self._error: BaseException | None = None
        self._cancelled = False
        self._stopped = False  # set by the worker when it ends, however it ends
        self._worker = threading.Thread(target=self._run, name=name, daemon=True)
        self._worker.start()

    def _run(self) -> None:
        try:
            while True:
                with self._changed:
                    while not self._calls:
                        self._changed.wait()
                    item = self._calls.popleft()
                if item is _STOP:
                    return
                call, args, size = item
                del item  # the table is released once written, not held while the next one is awaited
                if self._error is None and not self._cancelled:
                    try:
                        call(*args)
                    except BaseException as error:  # handed to the caller, who decides
                        self._error = error
                del call, args
                with self._changed:
                    self._pending_bytes -= size
                    self._changed.notify_all()
        except BaseException as error:  # the queue's own bookkeeping failed: no call is run after this
            self._error = self._error or error
        finally:
            with self._changed:
                self._stopped = True
                self._changed.notify_all()

    def _raise_worker_error(self) -> None:
        if self._error is not None:
            raise self._error

    def submit(self, call: Callable, *args, size: int = 0) -> None:
        with self._changed:
            while (self._pending_bytes and self._pending_bytes + size > self._max_pending_bytes
                   and self._error is None and not self._stopped):
                self._changed.wait()
            self._raise_worker_error()
            if self._stopped:
                raise RuntimeError("WriteBehind is closed: nothing submitted after close() is written")
            self._calls.append((call, args, size))
            self._pending_bytes += size
            self._changed.notify_all()

    def close(self) -> None:
        """Waits until every submitted call ran, then raises the worker's error if there was one."""
        if self._worker.is_alive():
            with self._changed:
                self._calls.append(_STOP)
                self._changed.notify_all()
            self._worker.join()
        self._raise_worker_error()

    def cancel(self) -> None:
        """Drops the calls still queued and waits for the one running."""
        self._cancelled = True
        self.close()

    def __enter__(self) -> WriteBehind:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
            return
        try:
            self.cancel()
        except Exception:  # the caller's own error is the one to report; the worker's came after it
            pass
