"""How the generator writes: WriteBehind, its writer thread (calls run in the order given, the queue is bounded by
bytes, the worker's first error reaches the caller and stops the writes after it), the generator's files the
same bytes whether written behind the drawing or one after the other, and lines written in an order with
repeated rows."""

from __future__ import annotations

import functools
import threading
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from orchestration.sample_data import GeneratorConfig, generate
from orchestration.sample_data import generator as generator_module
from orchestration.sample_data.formatting import lines_in_order
from orchestration.write_behind import WriteBehind


def test_calls_run_in_the_order_submitted_and_close_waits_for_all():
    done: list[int] = []
    with WriteBehind() as behind:
        for i in range(200):
            behind.submit(done.append, i, size=10)
    assert done == list(range(200))


def test_submit_waits_while_the_pending_bytes_are_at_the_limit():
    release = threading.Event()
    second_submitted = threading.Event()
    behind = WriteBehind(max_pending_bytes=100)
    behind.submit(release.wait, size=80)  # one call is let through whatever its size

    def submit_second():
        behind.submit(lambda: None, size=30)  # 80 + 30 > 100: waits for the first to finish
        second_submitted.set()

    caller = threading.Thread(target=submit_second)
    caller.start()
    assert not second_submitted.wait(0.3)
    release.set()
    assert second_submitted.wait(5)
    caller.join()
    behind.close()


def test_the_first_error_reaches_the_caller_and_nothing_after_it_runs():
    done: list[str] = []
    release = threading.Event()

    def fail():
        raise OSError("disk full: landing/2026-11-18/web/events_20261117.jsonl")

    behind = WriteBehind()
    behind.submit(done.append, "before")
    behind.submit(fail)
    behind.submit(release.wait)  # queued behind the failure: dropped, so it never waits
    behind.submit(done.append, "after")
    with pytest.raises(OSError, match="disk full"):
        behind.close()
    assert done == ["before"]  # nothing written past the failed write
    with pytest.raises(OSError, match="disk full"):  # and the error stays: a later submit raises it too
        behind.submit(done.append, "later")


def test_a_submit_waiting_on_the_bound_raises_when_the_worker_fails():
    release = threading.Event()
    behind = WriteBehind(max_pending_bytes=100)

    def fail_when_released():
        release.wait()
        raise OSError("disk full")

    behind.submit(fail_when_released, size=60)
    threading.Timer(0.3, release.set).start()
    with pytest.raises(OSError, match="disk full"):
        behind.submit(lambda: None, size=60)  # 60 + 60 > 100: waits, then the failure wakes it
    with pytest.raises(OSError, match="disk full"):
        behind.close()


def test_a_call_larger_than_the_bound_runs_alone_and_submit_after_close_raises():
    done: list[str] = []
    behind = WriteBehind(max_pending_bytes=10)
    behind.submit(done.append, "large", size=1_000)
    behind.submit(done.append, "next", size=1_000)  # waits until the large one is written, then runs alone
    behind.close()
    assert done == ["large", "next"]
    with pytest.raises(RuntimeError, match="closed"):
        behind.submit(done.append, "too late")


def test_an_error_in_the_caller_drops_what_is_still_queued():
    release = threading.Event()
    done: list[int] = []
    with pytest.raises(KeyError, match="drawing failed"):
        with WriteBehind() as behind:
            behind.submit(release.wait)  # the worker is busy with this one when the caller fails
            for i in range(5):
                behind.submit(done.append, i)
            threading.Timer(0.5, release.set).start()
            raise KeyError("drawing failed")
    assert done == []


class _InOrder:
    """The generator as it was before the writer thread: each call runs when submitted."""

    def __init__(self, *args, **kwargs) -> None:
        pass

    def submit(self, call, *args, size: int = 0) -> None:
        call(*args)

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        return None


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_files_written_behind_are_the_bytes_written_in_sequence(tmp_path, monkeypatch):
    config = GeneratorConfig(persons=900, days=3, chunk_size=300)  # three chunks: the drawing runs ahead of writes
    monkeypatch.setattr(generator_module, "WriteBehind", _InOrder)
    generate(tmp_path / "in_order", config)
    monkeypatch.setattr(generator_module, "WriteBehind", functools.partial(WriteBehind, max_pending_bytes=1 << 40))
    generate(tmp_path / "behind", config)
    in_order, behind = _tree(tmp_path / "in_order"), _tree(tmp_path / "behind")
    assert len(in_order) > 50
    assert behind.keys() == in_order.keys()
    assert [name for name in in_order if behind[name] != in_order[name]] == []


@pytest.mark.parametrize("kind", [pa.string(), pa.large_string()])
def test_lines_in_order_are_the_lines_taken_in_that_order(kind):
    rng = np.random.default_rng(3)
    words = [f"{i},{'x' * int(rng.integers(0, 5))}\n" for i in range(600)]
    lines = pa.chunked_array([words[:250], [], words[250:251], words[251:]], kind)  # an empty chunk, a chunk of one
    orders = [
        np.arange(600),  # no repeated row: one slice per chunk
        np.sort(np.r_[np.arange(600), rng.integers(0, 600, 40)], kind="stable"),  # repeats next to their source
        rng.permutation(600),
        np.array([599, 0, 250, 250, 251]),
        np.array([], dtype=np.int64),
    ]
    for order in orders:
        written = b"".join(lines_in_order(lines, order))
        assert written == "".join(lines.take(pa.array(order, pa.int64())).to_pylist()).encode()
    assert len(lines_in_order(lines, np.arange(600))) == 3
