"""In-process validate() calls the candidate on the calling thread, its time limit kept by
SIGALRM (issue 20 §5: tinygrad's compile cache, an SQLite connection, failed on the worker
thread); a worker thread only where SIGALRM cannot be used."""

from __future__ import annotations

import signal
import sqlite3
import threading
import time
from typing import Any

import numpy as np
import pytest

from symsoftmax.validation import validate
from symsoftmax.validation.sources import custom_vectors

pytestmark = pytest.mark.skipif(
    not hasattr(signal, "setitimer"), reason="SIGALRM and setitimer are POSIX"
)

ROWS = [[1.0, 2.0], [0.0, -1.0, 3.0], [5.0, 5.0, 5.0, 5.0]]


def softmax(z: Any) -> Any:
    x = z.astype(np.float64)
    e = np.exp(x - x.max())
    return (e / e.sum()).astype(z.dtype)


def _vectors() -> Any:
    return custom_vectors("softmax", "float32", ROWS)


def test_the_candidate_runs_on_the_calling_thread() -> None:
    seen: list[int] = []

    def records(z: Any) -> Any:
        seen.append(threading.get_ident())
        return softmax(z)

    report = validate(records, vectors=_vectors(), timeout=5.0, properties=False)
    assert report.passed, report.summary_line()
    assert seen and set(seen) == {threading.get_ident()}


def test_a_connection_bound_to_the_calling_thread_works() -> None:
    """SQLite refuses a connection made in another thread, as tinygrad's cache did."""
    connection = sqlite3.connect(":memory:")

    def cached(z: Any) -> Any:
        connection.execute("select 1").fetchone()
        return softmax(z)

    try:
        report = validate(cached, vectors=_vectors(), timeout=5.0, properties=False)
    finally:
        connection.close()
    assert report.passed, [r.reason for r in report.failures]


def _only_the_row_of_three_times_out(candidate: Any) -> None:
    """Validated with a 0.2 s limit, ``candidate`` (which hangs on the row of 3) is stopped
    there, promptly, and passes the other rows."""
    start = time.perf_counter()
    report = validate(candidate, vectors=_vectors(), timeout=0.2, properties=False)
    assert time.perf_counter() - start < 5
    statuses = {r.inputs["z"].size: (r.status, r.reason) for r in report.results}
    assert statuses[3] == ("error", "timed out after 0.2 s (call interrupted)")
    assert statuses[2][0] == statuses[4][0] == "pass"


@pytest.mark.parametrize("how", ["sleeps", "spins", "swallows"])
def test_a_hanging_candidate_still_times_out_and_leaves_no_thread(how: str) -> None:
    def hangs(z: Any) -> Any:
        if z.size != 3:
            return softmax(z)
        if how == "sleeps":
            time.sleep(30)
        elif how == "spins":
            while True:
                pass
        else:  # catches the alarm and finishes late: still over the limit
            try:
                time.sleep(30)
            except BaseException:
                time.sleep(0.3)
        return softmax(z)

    threads = threading.active_count()
    _only_the_row_of_three_times_out(hangs)
    assert threading.active_count() == threads  # nothing left running in the background
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)


def test_the_previous_alarm_handler_is_restored() -> None:
    def mine(signum: int, frame: Any) -> None:
        pass

    previous = signal.signal(signal.SIGALRM, mine)
    try:
        assert validate(softmax, vectors=_vectors(), timeout=5.0, properties=False).passed
        assert signal.getsignal(signal.SIGALRM) is mine
    finally:
        signal.signal(signal.SIGALRM, previous)


def test_a_candidate_replacing_the_alarm_handler_does_not_lift_the_limit_of_later_calls() -> None:
    def replaces(z: Any) -> Any:
        if z.size == 2:  # an earlier call installs a handler that ignores the alarm
            signal.signal(signal.SIGALRM, signal.SIG_IGN)
        if z.size == 3:
            time.sleep(30)
        return softmax(z)

    previous = signal.getsignal(signal.SIGALRM)
    _only_the_row_of_three_times_out(replaces)
    assert signal.getsignal(signal.SIGALRM) == previous  # and the caller's handler is back


def test_a_running_interval_timer_is_left_alone_and_a_worker_thread_keeps_the_limit() -> None:
    fired: list[int] = []
    seen: list[int] = []

    def records(z: Any) -> Any:
        seen.append(threading.get_ident())
        if z.size == 3:
            time.sleep(1.0)
        return softmax(z)

    previous = signal.signal(signal.SIGALRM, lambda signum, frame: fired.append(signum))
    signal.setitimer(signal.ITIMER_REAL, 30.0)
    try:
        report = validate(records, vectors=_vectors(), timeout=0.2, properties=False)
        remaining, _ = signal.getitimer(signal.ITIMER_REAL)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    assert 0 < remaining <= 30.0 and not fired  # the caller's timer still runs, untouched
    assert threading.get_ident() not in seen
    timed_out = [r.reason for r in report.results if r.status == "error"]
    assert timed_out == ["timed out after 0.2 s (call abandoned)"]


def test_off_the_main_thread_a_worker_thread_keeps_the_limit() -> None:
    found: dict[str, Any] = {}

    def hangs(z: Any) -> Any:
        found.setdefault("threads", set()).add(threading.get_ident())
        if z.size == 3:
            time.sleep(1.0)
        return softmax(z)

    def run() -> None:
        found["caller"] = threading.get_ident()
        found["report"] = validate(hangs, vectors=_vectors(), timeout=0.2, properties=False)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(20)
    report = found["report"]
    assert found["caller"] not in found["threads"]
    assert [r.reason for r in report.results if r.status == "error"] == [
        "timed out after 0.2 s (call abandoned)"
    ]
