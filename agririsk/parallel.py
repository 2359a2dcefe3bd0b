"""Where independent tasks run: this process, a local process pool, or a Dask cluster.

The imagery reduction is one task per STAC item (DESIGN.md, "reduce early"); this module
runs such tasks and hands back each result as it completes, whatever runs them:

- ``Parallel(workers=1)``: in this process, one after the other;
- ``Parallel(workers=N)``: a :class:`~concurrent.futures.ProcessPoolExecutor` of N processes;
- ``Parallel(scheduler="tcp://host:8786")``: an existing ``dask.distributed`` cluster
  (``pip install 'agririsk[cluster]'``; ``distributed`` is imported only here and only then).

In every mode the shared *context* of the tasks (e.g. the parcel set) is sent once per
worker (process-pool initializer, or ``Client.scatter(..., broadcast=True)``), at most
``in_flight`` tasks are submitted ahead of the results consumed, and a task that raises or
whose worker dies comes back as a :class:`TaskFailed` for that task alone: the run goes on.
A worker that dies (killed, out of memory) is retried: on a cluster by the scheduler
(``distributed.scheduler.allowed-failures``, default 3) plus ``retries`` resubmissions of
tasks that raised; in a process pool the pool is restarted and the tasks it was running
are resubmitted up to ``retries`` times.
"""

from __future__ import annotations

import importlib.util
import logging
import uuid
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from itertools import islice
from typing import Any, TypeVar

from agririsk.errors import AgririskError

__all__ = ["Parallel", "SchedulerError", "TaskFailed", "run_tasks", "CLUSTER_INSTALL"]

logger = logging.getLogger(__name__)

C = TypeVar("C")
A = TypeVar("A")
R = TypeVar("R")

#: How to install what ``--scheduler`` needs.
CLUSTER_INSTALL = "pip install 'agririsk[cluster]'"
#: Tasks submitted ahead of the results consumed, per worker thread, unless ``in_flight`` is set.
IN_FLIGHT_PER_THREAD = 2


class SchedulerError(AgririskError):
    """A Dask scheduler cannot be used: ``distributed`` missing, unreachable, or no workers."""


@dataclass(frozen=True)
class TaskFailed:
    """A task that did not return a result.

    Attributes
    ----------
    cause : ``"error"`` (the task raised; on a cluster, after ``retries`` resubmissions)
        or ``"lost_worker"`` (the worker running it died, also after retries).
    text : the exception's type and message, for the run report.
    """

    cause: str
    text: str


@dataclass(frozen=True)
class Parallel:
    """Where tasks run: a number of local processes or the address of a Dask scheduler.

    Parameters
    ----------
    workers : local processes (1 = in this process). Ignored with ``scheduler``.
    scheduler : address of a running ``dask.distributed`` scheduler, e.g.
        ``tcp://10.0.0.5:8786``. Its workers must import the same agririsk and see the
        input files and the workspace at the same paths.
    in_flight : tasks submitted ahead of the results consumed (default
        :data:`IN_FLIGHT_PER_THREAD` × worker threads). Bounds what waits in worker
        memory; each task's own memory is bounded by the reader's block, not the region.
    retries : resubmissions of a task whose worker died (process pool) or that raised
        (cluster; lost workers are also retried by the scheduler itself).
    connect_timeout : seconds to reach the scheduler and find at least one worker.

    Examples
    --------
    >>> Parallel.of(2)
    Parallel(workers=2, scheduler=None, in_flight=None, retries=2, connect_timeout=10.0)
    >>> Parallel.cluster("tcp://127.0.0.1:8786").describe()
    'the Dask cluster at tcp://127.0.0.1:8786'
    """

    workers: int = 1
    scheduler: str | None = None
    in_flight: int | None = None
    retries: int = 2
    connect_timeout: float = 10.0

    def __post_init__(self) -> None:
        if self.workers < 1:
            raise ValueError(f"workers must be at least 1, not {self.workers}")
        if self.in_flight is not None and self.in_flight < 1:
            raise ValueError(f"in_flight must be at least 1, not {self.in_flight}")
        if self.retries < 0:
            raise ValueError(f"retries must be 0 or more, not {self.retries}")
        if self.scheduler is not None and not self.scheduler.strip():
            raise ValueError("scheduler address is empty; give e.g. tcp://10.0.0.5:8786")

    @classmethod
    def of(cls, where: int | Parallel | None) -> Parallel:
        """A Parallel from a worker count (the old ``workers=`` argument) or itself."""
        if where is None:
            return cls()
        if isinstance(where, Parallel):
            return where
        return cls(workers=max(int(where), 1))

    @classmethod
    def cluster(cls, address: str, **options: Any) -> Parallel:
        """Run on the Dask scheduler at ``address`` (``tcp://host:port`` or ``host:port``)."""
        return cls(scheduler=address, **options)

    @property
    def is_cluster(self) -> bool:
        return self.scheduler is not None

    @property
    def is_local(self) -> bool:
        """True when tasks run in this very process."""
        return self.scheduler is None and self.workers <= 1

    def describe(self) -> str:
        if self.scheduler is not None:
            return f"the Dask cluster at {self.scheduler}"
        return "this process" if self.workers <= 1 else f"{self.workers} local processes"

    def check(self) -> None:
        """Fail early and clearly: for a cluster, connect once and find a worker.

        Raises
        ------
        SchedulerError
            ``distributed`` is not installed, the scheduler does not answer within
            ``connect_timeout`` seconds, or it has no worker.
        """
        if self.scheduler is None:
            return
        with _connect(self) as client:
            logger.info("%s: %s", self.describe(), _workers_text(client))


def run_tasks(
    task: Callable[[C, A], R],
    context: C,
    args: Sequence[A],
    where: int | Parallel | None = None,
    *,
    names: Sequence[str] | None = None,
) -> Iterator[tuple[int, R | TaskFailed]]:
    """Run ``task(context, arg)`` for every ``arg``; yield ``(index, result)`` as each ends.

    Parameters
    ----------
    task : a module-level function (it is pickled by reference to worker processes).
    context : what every task shares (e.g. the parcel set); sent once per worker.
    args : one per task; small (they are pickled per task).
    where : a :class:`Parallel` or a number of local processes.
    names : one readable name per task (cluster task keys, messages); default the index.

    Yields
    ------
    (index into ``args``, the task's return value or a :class:`TaskFailed`), in order of
    completion; every index exactly once, unless the consumer stops early.

    Raises
    ------
    SchedulerError
        The cluster cannot be reached (see :meth:`Parallel.check`).
    """
    par = Parallel.of(where)
    if not args:
        return
    labels = [str(n) for n in names] if names is not None else [str(i) for i in range(len(args))]
    if par.is_cluster:
        yield from _run_cluster(task, context, args, par, labels)
    elif par.workers <= 1 or len(args) == 1:
        for i, arg in enumerate(args):
            try:
                result: R | TaskFailed = task(context, arg)
            except Exception as exc:  # noqa: BLE001 - one task's bug must not sink the run
                logger.debug("task %s failed", labels[i], exc_info=True)
                result = TaskFailed("error", _text(exc))
            yield i, result
    else:
        yield from _run_pool(task, context, args, par)


# --------------------------------------------------------------------------- process pool

_POOL: dict[str, Any] = {}  # in each pool process: the task function and its context


def _pool_init(task: Callable[[Any, Any], Any], context: Any) -> None:
    _POOL["task"], _POOL["context"] = task, context


def _pool_call(arg: Any) -> Any:
    return _POOL["task"](_POOL["context"], arg)


def _run_pool(
    task: Callable[[C, A], R], context: C, args: Sequence[A], par: Parallel
) -> Iterator[tuple[int, R | TaskFailed]]:
    pending = deque(range(len(args)))
    deaths = [0] * len(args)
    limit = par.in_flight or IN_FLIGHT_PER_THREAD * par.workers
    while pending:
        lost: list[int] = []
        pool = ProcessPoolExecutor(
            max_workers=min(par.workers, len(pending)),
            initializer=_pool_init,
            initargs=(task, context),
        )
        try:
            running: dict[Future[Any], int] = {}
            broken = False
            while running or (pending and not broken):
                while pending and not broken and len(running) < limit:
                    i = pending.popleft()
                    try:
                        running[pool.submit(_pool_call, args[i])] = i
                    except BrokenProcessPool:
                        pending.appendleft(i)
                        broken = True
                if not running:
                    break
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                for fut in done:
                    i = running.pop(fut)
                    try:
                        result: R | TaskFailed = fut.result()
                    except BrokenProcessPool:
                        broken = True
                        lost.append(i)
                        continue
                    except Exception as exc:  # noqa: BLE001 - reported for this task alone
                        result = TaskFailed("error", _text(exc))
                    yield i, result
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
        for i in sorted(lost):
            deaths[i] += 1
            if deaths[i] > par.retries:
                yield i, TaskFailed(
                    "lost_worker",
                    f"the worker process running it died {deaths[i]} times "
                    "(killed, or out of memory)",
                )
            else:
                pending.appendleft(i)
        if lost:
            logger.warning(
                "a worker process died; restarting the pool for %d remaining tasks", len(pending)
            )


# --------------------------------------------------------------------------- dask cluster


def _distributed() -> Any:
    if importlib.util.find_spec("distributed") is None:
        raise SchedulerError(
            "--scheduler runs the work on a Dask cluster, which needs the 'distributed' package, "
            f"not installed here. Install it with {CLUSTER_INSTALL} (on this machine and on the "
            "workers), or drop --scheduler and use --workers N on this machine."
        )
    import distributed

    return distributed


def _connect(par: Parallel) -> Any:
    """A ``distributed.Client`` connected to ``par.scheduler`` with at least one worker."""
    distributed = _distributed()
    address = par.scheduler
    try:
        client = distributed.Client(
            address, timeout=par.connect_timeout, set_as_default=False
        )
    except (OSError, TimeoutError, ValueError) as exc:
        raise SchedulerError(
            f"cannot reach the Dask scheduler at {address} ({type(exc).__name__}: {exc}). Check that 'dask scheduler' runs there, that the "
            "address and port are those it printed (e.g. tcp://10.0.0.5:8786) and that no "
            "firewall blocks the port; or drop --scheduler to run on this machine."
        ) from None
    try:
        client.wait_for_workers(1, timeout=par.connect_timeout)
    except (OSError, TimeoutError) as exc:
        client.close()
        raise SchedulerError(
            f"the Dask scheduler at {address} has no worker after {par.connect_timeout:g} s "
            f"({type(exc).__name__}). Start workers with 'dask worker {address}' on machines "
            "that see the region's files and the workspace at the same paths."
        ) from None
    return client


def _workers_text(client: Any) -> str:
    threads = client.nthreads()
    n, t = len(threads), sum(threads.values())
    return f"{n} worker{'s' if n != 1 else ''}, {t} thread{'s' if t != 1 else ''}"


def _run_cluster(
    task: Callable[[C, A], R], context: C, args: Sequence[A], par: Parallel, labels: list[str]
) -> Iterator[tuple[int, R | TaskFailed]]:
    distributed = _distributed()
    client = _connect(par)
    try:
        threads = sum(client.nthreads().values()) or 1
        limit = par.in_flight or IN_FLIGHT_PER_THREAD * threads
        logger.info(
            "%d tasks on %s (%s), %d in flight",
            len(args), par.describe(), _workers_text(client), limit,
        )
        shared = client.scatter(context, broadcast=True, hash=False)
        run = uuid.uuid4().hex[:8]
        futures: dict[Any, int] = {}
        queue = distributed.as_completed(loop=client.loop)

        def submit(i: int) -> None:
            fut = client.submit(
                task, shared, args[i], key=f"agririsk-{labels[i]}-{run}",
                retries=par.retries, pure=False,
            )
            futures[fut] = i
            queue.add(fut)

        order = iter(range(len(args)))
        for i in islice(order, limit):
            submit(i)
        for fut in queue:
            i = futures.pop(fut)
            result: R | TaskFailed
            try:
                if fut.status == "finished":
                    result = fut.result()
                else:
                    exc = fut.exception()
                    lost = isinstance(exc, distributed.KilledWorker)
                    result = TaskFailed(
                        "lost_worker" if lost else "error",
                        "its worker died while running it, on every retry (killed, or out "
                        f"of memory): {_text(exc)}" if lost else _text(exc),
                    )
            except Exception as exc:  # noqa: BLE001 - e.g. the result lost with its worker
                result = TaskFailed("error", _text(exc))
            fut.release()
            nxt = next(order, None)
            if nxt is not None:
                submit(nxt)
            yield i, result
    finally:
        client.close()


def _text(exc: BaseException | None) -> str:
    if exc is None:
        return "unknown failure"
    return f"{type(exc).__name__}: {exc}"
