"""Worker processes that neither print tracebacks on Ctrl-C nor outlive their build.

Ctrl-C in a terminal sends SIGINT to every process of the foreground group, workers
included; each would print its own ``KeyboardInterrupt`` trace. Workers therefore ignore
SIGINT: the parent alone gets the interrupt, terminates them and stops. The parent also
terminates them on any other error, and on Linux the kernel kills them if the parent
dies (SIGKILL included), so no worker goes on writing after its build ended.
"""
from __future__ import annotations

import ctypes
import multiprocessing
import signal
import sys
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")
_PR_SET_PDEATHSIG = 1


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


def map_in_processes(fn: Callable[[T], R], items: Iterable[T], workers: int) -> list[R]:
    """``[fn(x) for x in items]`` in ``workers`` processes.

    Raises OSError when processes cannot be had or a worker died (the caller may then
    run the work in-process).
    """
    methods = multiprocessing.get_all_start_methods()
    # fork: workers inherit the parsed state and need no importable __main__ (spawn re-runs scripts)
    ctx = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_worker_setup)
    try:
        results = list(pool.map(fn, items))
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
