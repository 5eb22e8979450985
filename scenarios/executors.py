"""Where a scenario's variants are solved: in this process, a local process pool, or Ray.

One function, :func:`map_tasks`, runs ``fn(*args)`` for each task and reports each result as it
lands; the runner does not care where. The results are the same either way: every variant is
solved by the same pure function on the same request, and the optimiser is deterministic when it
proves its gap.

- **In-process** (``workers=1``): notebooks' default.
- **Local process pool** (``workers>=2``, the command line's default): spawned processes, not
  forked (a forked OR-Tools or Jupyter kernel can deadlock). A spawned worker imports the
  parent's ``__main__`` before anything else; a plain script without an
  ``if __name__ == "__main__":`` guard would run again in every worker, start pools of its own
  and break ours (``BrokenProcessPool``). The workers need nothing from ``__main__`` (the task
  function lives in a module), so while they start, ``__main__`` is presented to them as an empty
  module: the user's script runs once, guard or not.
- **Ray** (``ray="auto"``, an address such as ``ray://head:10001``, or ``"local"`` for a private
  instance on this machine): each variant is a Ray task, so a sweep of 50 variants of a large
  batch spreads over a cluster. Ray is an optional extra (``pip install 'omnibroker[ray]'``);
  every node needs omnibroker installed, at the driver's version. A Ray this call started is shut
  down when it ends; one already running (``ray.init`` by the caller) is left as it was.
"""

from __future__ import annotations

import os
import sys
import types
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from contextlib import contextmanager
from multiprocessing import get_context
from typing import Any, TypeVar

Result = TypeVar("Result")
LOCAL_RAY = "local"  # start a private Ray instance on this machine (tests, trying Ray out)


class RayUnavailable(RuntimeError):
    """Ray was asked for but is not installed."""


def map_tasks(
    fn: Callable[..., Result],
    tasks: Sequence[tuple[Any, ...]],
    *,
    workers: int = 1,
    ray: str | None = None,
    on_done: Callable[[int, Result], None] = lambda index, result: None,
) -> list[Result]:
    """``fn(*task)`` for every task, results in task order. ``on_done(index, result)`` is
    called as each finishes (progress bars). ``ray`` (an address, ``"auto"`` or ``"local"``)
    wins over ``workers``. Raises :class:`RayUnavailable` when Ray is asked for and missing, and
    whatever ``fn`` raises."""
    results: list[Any] = [None] * len(tasks)

    def done(index: int, result: Result) -> None:
        results[index] = result
        on_done(index, result)

    if ray is not None:
        _ray_map(fn, tasks, ray, done)
    elif workers <= 1 or len(tasks) <= 1:
        for index, task in enumerate(tasks):
            done(index, fn(*task))
    else:
        _pool_map(fn, tasks, workers, done)
    return results


def _pool_map(
    fn: Callable[..., Result],
    tasks: Sequence[tuple[Any, ...]],
    workers: int,
    done: Callable[[int, Result], None],
) -> None:
    with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn")) as pool:
        with _main_not_reimported():
            # Spawn-context pools start every worker at the first submit, all inside this block.
            futures = {pool.submit(fn, *task): index for index, task in enumerate(tasks)}
        for future in as_completed(futures):
            done(futures[future], future.result())


@contextmanager
def _main_not_reimported() -> Iterator[None]:
    """While workers start, show them an empty ``__main__`` (see the module docstring)."""
    main = sys.modules["__main__"]
    sys.modules["__main__"] = types.ModuleType("__main__")
    try:
        yield
    finally:
        sys.modules["__main__"] = main


def _ray_map(
    fn: Callable[..., Result],
    tasks: Sequence[tuple[Any, ...]],
    address: str,
    done: Callable[[int, Result], None],
) -> None:
    try:
        import ray
    except ImportError:
        raise RayUnavailable(
            "Ray is not installed: pip install 'omnibroker[ray]' (or run without --ray)"
        ) from None
    started_here = not ray.is_initialized()
    if started_here:
        options: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False}
        if address == LOCAL_RAY:
            # A private instance on a shared machine: Ray's memory monitor would kill its
            # workers whenever the machine as a whole (not this sweep) nears its memory limit.
            ray.init(
                num_cpus=max(1, min(len(tasks), os.cpu_count() or 1)),
                _system_config={"memory_monitor_refresh_ms": 0},
                **options,
            )
        else:
            ray.init(address=address, **options)
    try:
        remote = ray.remote(num_cpus=1, max_retries=0)(fn)
        index_of = {remote.remote(*task): index for index, task in enumerate(tasks)}
        pending = list(index_of)
        while pending:
            finished, pending = ray.wait(pending, num_returns=1)
            for ref in finished:
                done(index_of[ref], ray.get(ref))
    finally:
        if started_here:
            ray.shutdown()
