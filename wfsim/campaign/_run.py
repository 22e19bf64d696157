"""Running a campaign: seeds handed out in batches to a backend, their runs streamed back.

Three backends run the same :func:`~._batch.run_batch` code: the campaign's own
process (``workers=1``), a pool of local worker processes (``workers=K``),
each of which loads the scenario from its path, and a Dask cluster
(``dask=ADDRESS`` or ``"local"``, :mod:`._dask`). Each batch comes back as its
store rows and its own tally (:class:`~._batch.Batch`), which the campaign merges.
Batches grow until each takes about :data:`BATCH_SECONDS`, so progress, the time
budget and the store see results often whatever a run costs.

Worker processes never outlive the campaign (CAMP-13): once it stops early they are
stopped with the batches they hold (whose results would be dropped anyway), and each
worker ends itself when the campaign's process dies, however it dies.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import ctypes
import math
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import TextIO

import attrs

import wfsim
from wfsim._core._time import Duration

from ._batch import Batch, loaded, run_batch
from ._coverage import CoverageUniverse
from ._dask import DaskBackend, connect
from ._explore import Exploration, positive_ns
from ._progress import LINE_INTERVAL, progress_for
from ._random import RandomFaults, random_faults_for
from ._record import CampaignError, file_hash
from ._store import CampaignStore, ScenarioRef
from ._summary import CampaignSummary, Tally

__all__ = ["run_campaign"]

#: Host seconds a batch should take once the cost of a run is known.
BATCH_SECONDS = 0.25
#: Seeds in a batch before any run of the scenario has been timed.
FIRST_BATCH = 2
MAX_BATCH = 1000
#: Host seconds between a worker's checks that the campaign's process still lives.
PARENT_POLL = 0.2
#: Host seconds a stopped worker has to end before it is killed (SIGKILL).
STOP_GRACE = 5.0
_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>

#: (scenario index, seeds)
Job = tuple[int, tuple[int, ...]]
#: Given a batch's runs (or None: nothing came back in time), says whether to go on.
Sink = Callable[[Batch | None], bool]


@attrs.define
class _Batches:
    """Hands out the seeds left to run, round-robin over the scenarios, sized by cost."""

    pending: list[Sequence[int]]
    workers: int
    cursor: list[int] = attrs.field(init=False)
    spent_ms: list[float] = attrs.field(init=False)
    timed: list[int] = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        self.cursor = [0] * len(self.pending)
        self.spent_ms = [0.0] * len(self.pending)
        self.timed = [0] * len(self.pending)

    def observe(self, index: int, batch: Batch) -> None:
        self.timed[index] += batch.runs
        self.spent_ms[index] += batch.wall_ms

    def size(self, index: int) -> int:
        if not self.timed[index]:
            return FIRST_BATCH
        per_run = self.spent_ms[index] / self.timed[index] / 1000
        size = int(BATCH_SECONDS / per_run) if per_run > 0 else MAX_BATCH
        left = len(self.pending[index]) - self.cursor[index]
        # Leave work for every worker at the end rather than one long last batch.
        fair = math.ceil(left / (2 * self.workers))
        return max(1, min(size, MAX_BATCH, fair))

    def __iter__(self) -> Iterator[Job]:
        while True:
            live = [i for i, seeds in enumerate(self.pending) if self.cursor[i] < len(seeds)]
            if not live:
                return
            for index in live:
                start = self.cursor[index]
                stop = start + self.size(index)
                self.cursor[index] = stop
                yield index, tuple(self.pending[index][start:stop])


def _in_process(
    refs: Sequence[ScenarioRef],
    jobs: Iterator[Job],
    sink: Sink,
    failures_left: Callable[[], int | None],
    random_faults: RandomFaults | None = None,
    exploration: Exploration | None = None,
) -> None:
    for index, seeds in jobs:
        ref = refs[index]
        # A batch ends at the run that makes the failures the campaign stops at (CAMP-5).
        batch = run_batch(
            ref.path,
            ref.scenario_hash,
            seeds,
            random_faults,
            exploration,
            max_failures=failures_left(),
        )
        if not sink(batch):
            return


def _worker_init(parent: int) -> None:
    # Ctrl-C is the campaign's to handle: it stops the workers (CAMP-5) with SIGTERM,
    # which must end them: a forked worker would inherit the CLI's SIGTERM handler.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    die_with_parent(parent)


def die_with_parent(parent: int, *, pdeathsig: bool = True) -> None:
    """End this process as soon as process ``parent`` (the campaign's) is gone (CAMP-13).

    On Linux the kernel sends SIGKILL when the parent dies (``prctl(PR_SET_PDEATHSIG)``,
    at once). Everywhere, and in case that is not available, a daemon thread checks
    every :data:`PARENT_POLL` seconds whether this process was re-parented (its
    ``os.getppid()`` changed) and exits. A pipe whose end closes with the parent would
    not do: every forked worker inherits the writing end too. ``pdeathsig=False``
    leaves the kernel out (the tests of the fallback).
    """
    if pdeathsig and sys.platform == "linux":
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:  # the parent died before the watch began
        os._exit(1)
    threading.Thread(target=_watch, args=(parent,), name="wfsim-parent-watch", daemon=True).start()


def _watch(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(PARENT_POLL)
    os._exit(1)


def _stop_workers(pool: cf.ProcessPoolExecutor) -> None:
    """Stop the pool's workers now, with whatever batches they run, and shut the pool.

    As Python 3.14's ``terminate_workers`` does: the pool is shut without waiting first
    (waiting on a worker in the middle of a batch could deadlock), then each worker gets
    SIGTERM, and one that has not ended after :data:`STOP_GRACE` seconds gets SIGKILL:
    a worker killed while it held the pool's result-queue lock once left a campaign
    waiting for ever.
    """
    processes: dict[int, multiprocessing.process.BaseProcess]
    processes = dict(getattr(pool, "_processes", None) or {})
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes.values():
        with contextlib.suppress(OSError, ValueError):  # already gone, or closed
            process.terminate()
    for process in processes.values():
        with contextlib.suppress(OSError, ValueError):
            process.join(STOP_GRACE)
            if process.is_alive():
                process.kill()
                process.join(STOP_GRACE)


def _in_processes(
    refs: Sequence[ScenarioRef],
    jobs: Iterator[Job],
    sink: Sink,
    workers: int,
    deadline: float | None,
    random_faults: RandomFaults | None = None,
    exploration: Exploration | None = None,
) -> None:
    pool = cf.ProcessPoolExecutor(
        workers,
        mp_context=multiprocessing.get_context(),
        initializer=_worker_init,
        initargs=(os.getpid(),),
    )
    finished = False
    try:
        running: set[cf.Future[Batch]] = set()

        def submit() -> None:
            job = next(jobs, None)
            if job is not None:
                ref = refs[job[0]]
                running.add(
                    pool.submit(
                        run_batch, ref.path, ref.scenario_hash, job[1], random_faults, exploration
                    )
                )

        for _ in range(2 * workers):
            submit()
        while running:
            timeout = None if deadline is None else max(0.0, deadline - time.monotonic())
            done, running = cf.wait(running, timeout=timeout, return_when=cf.FIRST_COMPLETED)
            if not done:  # the deadline passed with every batch still running
                sink(None)
                return
            for future in done:
                if not sink(future.result()):
                    return
                submit()
        finished = True
    except cf.BrokenExecutor as exc:  # a worker was killed: the pool cannot go on
        raise CampaignError(
            "a worker process ended abruptly (killed, or out of memory); the runs recorded "
            "so far are kept: --resume goes on from them"
        ) from exc
    finally:
        if finished:
            pool.shutdown(wait=True)
        else:  # stopped early, interrupted or failed: batches under way are dropped
            _stop_workers(pool)


def _budget_seconds(time_budget: Duration | None, what: str = "time budget") -> float | None:
    ns = positive_ns(time_budget, what)
    return None if ns is None else ns / 1e9


def _check(name: str, value: int | None, least: int) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
        raise CampaignError(f"{name} must be an integer, not {value!r}")
    if value is not None and value < least:
        raise CampaignError(f"{name} must be at least {least}, not {value}")


def _is_ctrl_c(exc: BaseException) -> bool:
    """Ctrl-C (or SIGTERM in ``wfsim simulate``): raised as it is, or, when it hit step
    code of an in-process run, inside trio's exception groups."""
    if isinstance(exc, BaseExceptionGroup):
        return exc.split(KeyboardInterrupt)[1] is None
    return isinstance(exc, KeyboardInterrupt)


def run_campaign(
    paths: Sequence[str | os.PathLike[str]],
    *,
    seeds: int,
    start_seed: int = 0,
    workers: int = 1,
    time_budget: Duration | None = None,
    max_failures: int | None = None,
    store: str | os.PathLike[str] | None = None,
    resume: bool = False,
    progress: TextIO | None = None,
    progress_interval: float = LINE_INTERVAL,
    dask: str | None = None,
    dask_timeout: Duration = "10s",
    fault_rate: float | None = None,
    swarm: bool = False,
    exploration: Exploration | None = None,
    fault_kinds: Sequence[str] | None = None,
) -> CampaignSummary:
    """Run seeds ``start_seed .. start_seed + seeds - 1`` of every scenario file in ``paths``.

    Each run checks the scenario's expectations and every oracle of
    :mod:`wfsim.checks` (whatever the workflow's style). ``workers=1`` runs in this process; more
    starts that many worker processes. The campaign stops early once
    ``time_budget`` (host time: seconds or ``"10m"``) is spent or
    ``max_failures`` runs failed. With ``store`` (a SQLite file path) every run
    is recorded; ``resume`` then reuses the runs earlier campaigns recorded for
    the same scenario file text and seed instead of running them again.
    ``progress`` is a stream for progress (a bar when it is a terminal).

    ``dask`` runs the batches on a Dask cluster instead (the ``dask`` extra):
    ``"local"`` starts a local cluster of ``workers`` processes for this campaign
    and closes it after; an address such as ``"tcp://host:8786"`` uses that
    scheduler's workers (``workers`` is then not used), which must have wfsim
    installed and see the scenario files at the same absolute paths. No scheduler
    answering within ``dask_timeout`` is a :class:`CampaignError`.

    ``exploration`` (:class:`~._explore.Exploration`) picks the schedule strategy
    (``random``, ``pct``, ``delay-bounded``), a chaos phase after which no fault
    applies and a liveness bound within which every run must then finish
    (CAMP-40..42); replay lines carry its options.

    ``fault_rate`` gives every seed random faults: each attempt of each step
    fails with that probability, drawn before the run as explicit faults
    (:func:`~._random.plan_faults`); ``swarm`` also draws per seed which fault
    kinds are on and their rates (up to ``fault_rate``, default
    :data:`~._random.SWARM_RATE`): crashes for DAGs, drops, duplicates and delays of
    events and signals too. ``fault_kinds`` (names of :data:`~._random.FAULT_KINDS`)
    limits the kinds; without swarm each of them is on at ``fault_rate`` (CAMP-32).
    A run with random faults that fired is judged by
    the file's ``invariants`` and the oracles, not its ``expect`` (CAMP-30).

    Example::

        summary = run_campaign(["scenarios/orders.wfsim.yaml"], seeds=1000, workers=2)
        assert summary.ok, summary.format()

    Raises :class:`~wfsim.errors.ScenarioError` for a file that does not load
    and :class:`CampaignError` for bad options, an unusable store (CAMP-12) or a worker
    process that died (CAMP-13).
    """
    begin = time.monotonic()
    _check("seeds", seeds, 1)
    _check("start_seed", start_seed, 0)
    _check("workers", workers, 1)
    _check("max_failures", max_failures, 1)
    budget = _budget_seconds(time_budget)
    random = random_faults_for(fault_rate, swarm, fault_kinds)
    if resume and store is None:
        raise CampaignError("resume needs a store to resume from")
    if exploration is not None and exploration.plain:
        exploration = None
    if resume and exploration is not None:
        raise CampaignError(
            "resume reuses plain seeded runs; it does not combine with --schedule, "
            "--chaos-phase or --liveness-bound"
        )
    deadline = None if budget is None else begin + budget

    refs: list[ScenarioRef] = []
    pinned: list[tuple[int, str] | None] = []
    universes: list[CoverageUniverse] = []
    for raw in paths:
        path = os.fspath(raw)
        digest = file_hash(path)
        scenario, universe = loaded(path, digest)
        ref = ScenarioRef(path, scenario.title, digest, os.path.abspath(path))
        twin = next((r for r in refs if r.scenario_hash == ref.scenario_hash), None)
        if twin is not None:
            raise CampaignError(f"{path}: same text as {twin.path}; give each scenario file once")
        refs.append(ref)
        universes.append(universe)
        pinned.append((scenario.seed, scenario.seed_pinned) if scenario.seed_pinned else None)
    if not refs:
        raise CampaignError("no scenario files to simulate")
    cluster: DaskBackend | None = None
    if dask is not None:
        timeout = _budget_seconds(dask_timeout, what="Dask connect timeout")
        assert timeout is not None
        cluster = connect(dask, workers, timeout)
        if dask != "local":
            workers = cluster.slots

    seed_range = range(start_seed, start_seed + seeds)
    replay_options = random.options if random is not None else ""
    if exploration is not None:
        replay_options += exploration.options
    tallies = [
        Tally(r.path, r.title, r.scenario_hash, universe=u, replay_options=replay_options, pinned=p)
        for r, u, p in zip(refs, universes, pinned, strict=True)
    ]
    by_hash = {r.scenario_hash: i for i, r in enumerate(refs)}
    db: CampaignStore | None = None
    try:  # a local cluster already started is closed if the store is unusable
        db = CampaignStore(store) if store is not None else None
        campaign_id = None
        reused = 0
        # A range until resume leaves gaps: a million seeds need no million-item list.
        pending: list[Sequence[int]] = [seed_range for _ in refs]
        if db is not None:
            options: dict[str, object] = {
                "workers": workers,
                "time_budget": budget,
                "max_failures": max_failures,
                "resume": resume,
            }
            if dask is not None:
                options["dask"] = dask
            if random is not None:
                options["random_faults"] = random.to_json()
            if exploration is not None:
                options["exploration"] = exploration.to_json()
            campaign_id = db.start(refs, start_seed, seeds, options, wfsim.__version__)
            if resume:
                for index, ref in enumerate(refs):
                    done = db.reuse(campaign_id, ref.scenario_hash, seed_range, random)
                    for record in done:
                        tallies[index].add(record)
                    reused += len(done)
                    seen = {r.seed for r in done}
                    pending[index] = [s for s in seed_range if s not in seen]
    except BaseException:
        if cluster is not None:
            cluster.close()
        if db is not None:  # a store that failed while resuming is closed, not left to GC
            with contextlib.suppress(CampaignError):
                db.close()
        raise

    failed = sum(t.runs - t.passed for t in tallies)
    made = 0
    stopped: str | None = None
    batches = _Batches(pending, workers)
    display = progress_for(progress, sum(map(len, pending)), interval=progress_interval)

    def sink(batch: Batch | None) -> bool:
        nonlocal failed, made, stopped
        if batch is not None and batch.runs:
            index = by_hash[batch.scenario_hash]
            batches.observe(index, batch)
            tallies[index].merge(batch.tally)
            failed += batch.failed
            made += batch.runs
            if db is not None and campaign_id is not None:
                db.add_rows(campaign_id, batch.rows)
            display.update(made, failed)
        if max_failures is not None and failed >= max_failures:
            stopped = "max_failures"
        elif deadline is not None and time.monotonic() >= deadline:
            stopped = "time_budget"
        return stopped is None

    def failures_left() -> int | None:
        return None if max_failures is None else max_failures - failed

    try:
        if sink(None):  # a resumed campaign may have nothing left, or its failures already
            if cluster is not None:
                cluster.run(refs, iter(batches), sink, deadline, random, exploration)
            elif workers == 1:
                _in_process(refs, iter(batches), sink, failures_left, random, exploration)
            else:
                _in_processes(refs, iter(batches), sink, workers, deadline, random, exploration)
    except BaseException as exc:
        if not _is_ctrl_c(exc):
            stopped = "error"
            raise
        stopped = "interrupted"
    finally:
        if cluster is not None:
            cluster.close()
        display.close()
        wall = time.monotonic() - begin
        if db is not None and campaign_id is not None:
            try:
                db.finish(campaign_id, wall, stopped)
            finally:
                db.close()
    return CampaignSummary(
        campaign_id=campaign_id,
        store=None if store is None else os.fspath(store),
        start_seed=start_seed,
        seeds=seeds,
        workers=workers,
        scenarios=tuple(t.summary() for t in tallies),
        reused=reused,
        stopped=stopped,
        wall_seconds=wall,
        dask=dask,
    )
