"""Worker processes: bounded in time and memory, silent on Ctrl-C, never outliving their build.

Two ways in. :func:`run` checks formulas: a formula that sends sympy into a huge computation, or a
C library into a crash, must cost one warning, not the build. Each task runs in a forked worker with
an address-space cap (``RLIMIT_AS``) and a time budget; the worker stops a task that overruns with an
alarm, and when the task is stuck where an alarm cannot reach it (one huge integer operation) the
parent kills the worker after a grace period and starts another. Either way the task's result says
which limit it hit. :func:`map_in_processes` draws figures with a plain process pool.

Ctrl-C in a terminal sends SIGINT to every process of the foreground group, workers included; each
would print its own ``KeyboardInterrupt`` trace. Workers therefore ignore SIGINT: the parent alone gets
the interrupt, terminates them and stops. The parent also terminates them on any other error, and on
Linux the kernel kills them if the parent dies (SIGKILL included), so no worker goes on writing after
its build ended.
"""
from __future__ import annotations

import contextlib
import ctypes
import faulthandler
import os
import signal
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

# multiprocessing and concurrent.futures are imported when processes start: a build with every result
# cached starts none, and skips their import
if TYPE_CHECKING:
    from concurrent.futures import ProcessPoolExecutor
    from multiprocessing.connection import Connection

T = TypeVar("T")
R = TypeVar("R")
_PR_SET_PDEATHSIG = 1

GRACE = 3.0
"""Seconds past the budget before the parent kills a worker that ignores its alarm."""


class TimeLimit(BaseException):
    """A deadline passed. A BaseException, so ``except Exception`` inside libraries cannot swallow it."""

    def __init__(self, seconds: float):
        super().__init__(f"time limit of {seconds:g} s")
        self.seconds = seconds


@dataclass(frozen=True)
class Limits:
    seconds: float = 20.0
    """Time budget per task."""
    memory_mb: int = 1536
    """Address-space cap per worker process."""

    def describe(self, which: str) -> str:
        if which == "time":
            return f"time limit of {self.seconds:g} s per formula exceeded"
        if which == "memory":
            return f"memory limit of {self.memory_mb} MB per formula exceeded"
        return which


@dataclass(frozen=True)
class Outcome:
    value: object = None
    """What the task function returned (when ``limit`` is empty)."""
    limit: str = ""
    """Empty, or the limit the task hit, in words."""


# --------------------------------------------------------------------------- deadlines inside a worker

_deadlines: list[tuple[float, TimeLimit]] = []


def _on_alarm(signum, frame):
    now = time.monotonic()
    for at, exc in _deadlines:
        if at <= now + 1e-3:
            raise exc
    _arm()


def _arm() -> None:
    if not _deadlines:
        signal.setitimer(signal.ITIMER_REAL, 0)
        return
    left = min(at for at, _ in _deadlines) - time.monotonic()
    signal.setitimer(signal.ITIMER_REAL, max(left, 1e-3))


@contextlib.contextmanager
def deadline(seconds: float) -> Iterator[TimeLimit]:
    """Raise the yielded TimeLimit in this block after ``seconds`` (nested deadlines allowed).

    Only where SIGALRM is ours (the main thread of a worker); elsewhere the block just runs."""
    exc = TimeLimit(seconds)
    usable = _in_worker and signal.getsignal(signal.SIGALRM) is _on_alarm
    if usable:
        _deadlines.append((time.monotonic() + seconds, exc))
        _arm()
    try:
        yield exc
    finally:
        if usable:
            _deadlines.remove(next(d for d in _deadlines if d[1] is exc))
            _arm()


# --------------------------------------------------------------------------- the worker side

_in_worker = False


def _serve(conn: Connection, fn: Callable, limits: Limits) -> None:
    global _in_worker
    _in_worker = True
    _worker_setup()  # Ctrl-C is the parent's business; die with the parent
    signal.signal(signal.SIGALRM, _on_alarm)
    faulthandler.disable()  # a crash is reported by the parent as a warning, not dumped to the terminal
    try:
        import resource
        cap = limits.memory_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    except (ImportError, ValueError, OSError):
        pass
    while True:
        try:
            chunk = conn.recv()
        except (EOFError, OSError):
            return
        if chunk is None:
            return
        for index, task in chunk:  # one message per task, so the parent knows which one is running
            try:
                conn.send((index, _one(fn, task, limits)))
            except (OSError, ValueError):
                return


def _one(fn: Callable, task, limits: Limits) -> Outcome:
    try:
        with deadline(limits.seconds) as budget:
            return Outcome(fn(task))
    except TimeLimit as e:
        return Outcome(limit=limits.describe("time") if e is budget else str(e))
    except MemoryError:
        return Outcome(limit=limits.describe("memory"))
    except RecursionError:
        return Outcome(limit="recursion limit exceeded (the formula is nested too deeply)")


# --------------------------------------------------------------------------- the parent side

def _context():
    import multiprocessing

    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("fork" if "fork" in methods else "spawn")


def cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


class _Worker:
    def __init__(self, fn: Callable, limits: Limits):
        ctx = _context()
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_serve, args=(child, fn, limits), daemon=True)
        self.proc.start()
        child.close()
        self.chunk: list[int] = []
        """Indices sent and not answered yet; the first is running."""
        self.started = 0.0

    def give(self, chunk: list[int], tasks: Sequence) -> None:
        self.chunk, self.started = list(chunk), time.monotonic()
        self.conn.send([(i, tasks[i]) for i in chunk])

    def stop(self, kill: bool = False) -> None:
        if kill:
            self.proc.kill()
        else:
            with contextlib.suppress(OSError, ValueError):
                self.conn.send(None)
        self.proc.join(timeout=5)
        if self.proc.is_alive():
            self.proc.kill()
            self.proc.join()
        self.conn.close()


def run(fn: Callable, tasks: Sequence, limits: Limits = Limits(), processes: int | None = None) -> list[Outcome]:
    """``fn(task)`` for every task, in worker processes; outcomes in task order.

    ``fn`` must be a module-level function. Tasks travel in chunks (one message per chunk, one per
    answer); a task that overruns or crashes its worker yields an Outcome naming the limit, and the
    rest of its chunk goes on in a fresh worker."""
    if not tasks:
        return []
    return _Pool(fn, tasks, limits, max(1, min(processes or cpu_count(), len(tasks)))).run()


class _Pool:
    def __init__(self, fn: Callable, tasks: Sequence, limits: Limits, size: int):
        self.fn, self.tasks, self.limits = fn, tasks, limits
        step = max(1, min(64, len(tasks) // (size * 8)))
        self.queue = [list(range(i, min(i + step, len(tasks)))) for i in range(0, len(tasks), step)][::-1]
        self.results: list[Outcome | None] = [None] * len(tasks)
        self.workers = [_Worker(fn, limits) for _ in range(size)]

    def run(self) -> list[Outcome]:
        from multiprocessing.connection import wait

        try:
            for w in self.workers:
                self._feed(w)
            while any(w.chunk for w in self.workers):
                busy = [w for w in self.workers if w.chunk]
                deadline = min(w.started for w in busy) + self.limits.seconds + GRACE
                ready = wait([w.conn for w in busy], timeout=max(deadline - time.monotonic(), 0.01))
                for k, w in enumerate(self.workers):
                    if w.chunk and not self._progress(w, w.conn in ready):
                        self.workers[k] = w = self._replace(w)
                    if not w.chunk:
                        self._feed(w)
        finally:
            for w in self.workers:
                w.stop(kill=bool(w.chunk))
        return [r if r is not None else Outcome(limit="not run") for r in self.results]

    def _feed(self, w: _Worker) -> None:
        if self.queue:
            w.give(self.queue.pop(), self.tasks)

    def _progress(self, w: _Worker, ready: bool) -> bool:
        """Collect what ``w`` answered; False when it died or overran and must be replaced."""
        if ready:
            try:
                while w.chunk and w.conn.poll():
                    index, outcome = w.conn.recv()
                    self.results[index] = outcome
                    w.chunk.remove(index)
                    w.started = time.monotonic()
            except (EOFError, OSError):
                w.proc.join(timeout=5)
                self.results[w.chunk.pop(0)] = Outcome(limit=_died(w.proc.exitcode, self.limits))
                return False
            return True
        if time.monotonic() > w.started + self.limits.seconds + GRACE:
            self.results[w.chunk.pop(0)] = Outcome(limit=self.limits.describe("time"))
            return False
        return True

    def _replace(self, w: _Worker) -> _Worker:
        rest, w.chunk = w.chunk, []
        w.stop(kill=True)
        if rest:
            self.queue.append(rest)
        return _Worker(self.fn, self.limits)


def _died(code: int | None, limits: Limits) -> str:
    if code is not None and code < 0:
        name = signal.Signals(-code).name if -code in signal.valid_signals() else str(-code)
        return f"the checking process crashed ({name}); memory limit {limits.memory_mb} MB"
    return f"the checking process exited (code {code})"


# --------------------------------------------------------------------------- a plain pool (figures)

def caused_by_interrupt(exc: BaseException) -> bool:
    """True if Ctrl-C is behind ``exc``: an interrupt inside a C extension's import (numpy's) surfaces as an
    ImportError whose cause or context is the KeyboardInterrupt."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, KeyboardInterrupt):
            return True
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return False


def _worker_setup() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
        except (OSError, AttributeError):
            pass


def map_in_processes(fn: Callable[[T], R], items: Iterable[T], workers: int,
                     meanwhile: Callable[[], object] | None = None) -> list[R]:
    """``[fn(x) for x in items]`` in ``workers`` processes; ``meanwhile()``, if given, runs in this
    process while they work (its share of the work, so that this process's core is not left idle).

    Raises OSError when processes cannot be had or a worker died (the caller may then
    run the work in-process; what ``meanwhile`` did is done).
    """
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor
    from concurrent.futures.process import BrokenProcessPool

    methods = multiprocessing.get_all_start_methods()
    # fork: workers inherit the parsed state and need no importable __main__ (spawn re-runs scripts)
    ctx = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_worker_setup)
    try:
        futures = [pool.submit(fn, x) for x in items]
        if meanwhile is not None:
            meanwhile()
        results = [f.result() for f in futures]
    except BrokenProcessPool as e:
        _stop(pool)
        raise OSError(f"a worker process died: {e}") from None
    except BaseException:
        _stop(pool)
        raise
    pool.shutdown(wait=True)
    return results


def _stop(pool: ProcessPoolExecutor) -> None:
    terminate = getattr(pool, "terminate_workers", None)  # Python 3.14+
    if terminate is not None:
        terminate()
    else:
        for p in list((getattr(pool, "_processes", None) or {}).values()):
            p.terminate()
    pool.shutdown(wait=True, cancel_futures=True)
