"""Where runs execute: a pool of local worker processes (default) or Ray tasks.

Both take a list of task dicts (see :mod:`equilens.study.worker`) and yield
``(task, result)`` as runs finish, longest queued first. Leaving the loop early (Ctrl-C)
stops the workers: a run killed mid-epoch loses only that epoch.

- ``local``: ``concurrent.futures.ProcessPoolExecutor`` (spawn), ``workers`` processes,
  each limited to ``threads`` threads. Workers ignore Ctrl-C (the study stops them) and
  exit by themselves within a second if the study process dies.
- ``ray``: each run is a Ray task with ``num_cpus=threads``; ``ray.init(address=...)``
  joins a running cluster, without an address a local Ray instance is started (and
  stopped at the end). The run folders and the data folder must be visible to every
  node (a shared file system) and equilens installed there.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from contextlib import contextmanager, suppress
from typing import Any

from equilens.errors import EquilensError
from equilens.study.worker import run_task
from equilens.study.threads import configure_threads, thread_env

EXECUTORS = ("local", "ray")
Result = tuple[dict[str, Any], dict[str, Any]]


def _failure(task: dict[str, Any], err: BaseException) -> dict[str, Any]:
    return {"ok": False, "run_dir": task["run_dir"], "label": task["label"], "trained_epochs": 0,
            "steps": [], "time_s": 0.0, "error": f"{type(err).__name__}: {err}",
            "traceback": None}


def _init_worker(threads: int, parent_pid: int) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    configure_threads(threads)

    def watchdog() -> None:  # an orphaned worker must not go on writing into the study
        while True:
            time.sleep(0.5)
            if os.getppid() != parent_pid:
                os._exit(3)

    threading.Thread(target=watchdog, daemon=True, name="equilens-watchdog").start()


class LocalExecutor:
    """A pool of ``workers`` local processes with ``threads`` threads each."""

    name = "local"

    def __init__(self, workers: int, threads: int):
        self.workers, self.threads = max(1, workers), max(1, threads)

    def describe(self) -> str:
        return f"{self.workers} local worker process(es) x {self.threads} thread(s)"

    def run(self, tasks: list[dict[str, Any]]) -> Iterator[Result]:
        if not tasks:
            return
        context = multiprocessing.get_context("spawn")
        with thread_env(self.threads), _quiet_tracker():
            pool = ProcessPoolExecutor(max_workers=min(self.workers, len(tasks)),
                                       mp_context=context, initializer=_init_worker,
                                       initargs=(self.threads, os.getpid()))
        finished = False
        try:
            with thread_env(self.threads), _quiet_tracker():  # workers start on submit
                futures: dict[Future, dict[str, Any]] = {pool.submit(run_task, t): t
                                                         for t in tasks}
            pending = set(futures)
            while pending:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    task = futures[future]
                    try:
                        result = future.result()
                    except Exception as err:  # noqa: BLE001 - a worker died (killed, out of memory)
                        result = _failure(task, err)
                    yield task, result
            finished = True
        finally:
            if finished:
                pool.shutdown(wait=True)
            else:
                _stop(pool)


@contextmanager
def _quiet_tracker() -> Iterator[None]:
    """Workers terminated on Ctrl-C leave their queue's semaphores to multiprocessing's
    resource tracker, which then warns about "leaked" semaphores it cleans up anyway."""
    saved = os.environ.get("PYTHONWARNINGS")
    rule = "ignore:resource_tracker:UserWarning"
    os.environ["PYTHONWARNINGS"] = f"{saved},{rule}" if saved else rule
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop("PYTHONWARNINGS", None)
        else:
            os.environ["PYTHONWARNINGS"] = saved


def _stop(pool: ProcessPoolExecutor) -> None:
    """Stop a pool now: cancel what is queued, terminate the running workers."""
    processes = list(getattr(pool, "_processes", {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        if process.is_alive():
            process.terminate()
    for process in processes:
        process.join(timeout=5)
    pool.shutdown(wait=True)  # the manager thread sees the workers gone and ends


def import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise EquilensError("--executor ray needs Ray: install equilens[ray] "
                            "(pip install 'equilens[ray]')") from None
    return ray


class RayExecutor:
    """Each run a Ray task with ``num_cpus=threads``."""

    name = "ray"

    def __init__(self, workers: int, threads: int, address: str | None = None):
        self.workers, self.threads, self.address = max(1, workers), max(1, threads), address
        self.ray = import_ray()

    def describe(self) -> str:
        where = f"the Ray cluster at {self.address}" if self.address else \
            f"a local Ray instance with {self.workers * self.threads} CPU(s)"
        return f"Ray tasks of {self.threads} CPU(s) each on {where}"

    def run(self, tasks: list[dict[str, Any]]) -> Iterator[Result]:
        if not tasks:
            return
        ray = self.ray
        started = False
        if not ray.is_initialized():
            options: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False,
                                       "logging_level": "ERROR"}
            if self.address:
                ray.init(address=self.address, **options)
            else:
                ray.init(num_cpus=self.workers * self.threads, **options)
            started = True
        remote = ray.remote(num_cpus=self.threads, max_retries=0)(run_task)
        pending = {remote.remote(task): task for task in tasks}
        try:
            while pending:
                done, _ = ray.wait(list(pending), num_returns=1)
                for ref in done:
                    task = pending.pop(ref)
                    try:
                        result = ray.get(ref)
                    except Exception as err:  # noqa: BLE001 - the task's worker died
                        result = _failure(task, err)
                    yield task, result
        finally:
            for ref in pending:
                with suppress(Exception):  # already finished or gone
                    ray.cancel(ref, force=True)
            if started:
                ray.shutdown()


def make_executor(name: str, workers: int, threads: int, address: str | None = None):
    """The executor called ``name`` (``local`` or ``ray``)."""
    if name == "local":
        return LocalExecutor(workers, threads)
    if name == "ray":
        return RayExecutor(workers, threads, address)
    raise EquilensError(f"unknown executor '{name}'; allowed: {', '.join(EXECUTORS)}")
