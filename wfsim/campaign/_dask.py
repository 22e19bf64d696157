"""The Dask backend: batches of seeds as tasks on a Dask distributed cluster.

``dask="local"`` starts a :class:`distributed.LocalCluster` of worker processes
(one thread each, no dashboard, quiet logs) for the campaign and closes it
after; any other value is the address of a running scheduler
(``tcp://host:8786``) whose workers the campaign borrows. Each task is
:func:`~._batch.run_batch`, the code every backend runs, so a seed's record
does not depend on where it ran. Dask is an optional extra: nothing here is
imported until a campaign asks for it.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import logging
import signal
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

import attrs

from ._batch import Batch, run_batch
from ._record import CampaignError
from ._store import ScenarioRef

if TYPE_CHECKING:
    from ._explore import Exploration
    from ._random import RandomFaults

__all__ = ["EXTRA_MESSAGE", "DaskBackend", "connect", "dask_available"]

#: What a user without the extra is told (CAMP-4).
EXTRA_MESSAGE = "wfsim simulate --dask needs the optional extra: pip install 'pytest-wfsim[dask]'"
#: Host seconds the client and a local cluster have to close when a campaign ends.
CLOSE_TIMEOUT = 10.0

#: (scenario index, seeds), as ``_run`` hands them out.
Job = tuple[int, tuple[int, ...]]


#: Given a batch's runs (or None: nothing came back in time), says whether to go on.
Sink = Callable[[Batch | None], bool]


def dask_available() -> bool:
    """Whether ``distributed`` can be imported (the ``dask`` extra is installed)."""
    return importlib.util.find_spec("distributed") is not None


def _distributed() -> Any:
    """The ``distributed`` module, typed loosely: it is optional and mostly untyped."""
    try:
        return importlib.import_module("distributed")
    except ImportError:
        raise CampaignError(EXTRA_MESSAGE) from None


@attrs.define
class DaskBackend:
    """A client of a Dask cluster (and the cluster, when the campaign started it)."""

    address: str
    client: Any  # distributed.Client
    cluster: Any = None  # a LocalCluster this campaign owns, closed with the client

    @property
    def slots(self) -> int:
        """Tasks the cluster runs at once: the sum of its workers' threads."""
        try:
            threads: dict[str, int] = self.client.nthreads()
            return max(1, sum(threads.values()))
        except Exception:  # a scheduler lost between connect and now shows in run()
            return 1

    def run(
        self,
        refs: Sequence[ScenarioRef],
        jobs: Iterator[Job],
        sink: Sink,
        deadline: float | None,
        random_faults: RandomFaults | None = None,
        exploration: Exploration | None = None,
    ) -> None:
        """Submit batches (two per slot in flight) and hand each to ``sink``.

        Results are taken as they complete; once ``sink`` says stop, or the
        deadline passes, the batches still running are cancelled.
        """
        as_completed = _distributed().as_completed
        client = self.client
        running: list[Any] = []

        def submit() -> Any:
            job = next(jobs, None)
            if job is None:
                return None
            ref = refs[job[0]]
            # The absolute path: a worker's current directory need not be ours.
            future = client.submit(
                run_batch,
                ref.abspath,
                ref.scenario_hash,
                job[1],
                random_faults,
                exploration,
                pure=False,
            )
            running.append(future)
            return future

        first = [f for f in (submit() for _ in range(2 * self.slots)) if f is not None]
        timeout = None if deadline is None else max(0.0, deadline - time.monotonic())
        done = as_completed(first, loop=client.loop, with_results=True, timeout=timeout)
        try:
            for future, batch in done:
                running.remove(future)
                if not sink(batch):
                    return
                more = submit()
                if more is not None:
                    done.add(more)
        except TimeoutError:  # the deadline passed with every batch still running
            sink(None)
        except CampaignError:
            raise
        except Exception as exc:
            raise CampaignError(
                f"the Dask cluster at {self.address} failed a batch: {type(exc).__name__}: {exc}"
            ) from None
        finally:
            if running:
                with contextlib.suppress(Exception):
                    client.cancel(running)

    def close(self) -> None:
        # Gathers still in flight when a campaign stops early (Ctrl-C, a deadline, a
        # counterexample) fail as the connections close; tornado would log each as
        # "Exception in callback ... CommClosedError" on the user's stderr, although the
        # campaign's records are all in. What closing says is noise: its failures are
        # suppressed here anyway.
        with _silenced("tornado.application", "distributed", "asyncio"):
            # Bounded: a client's own default is twice its connect timeout (60 s), and
            # a close stuck that long under load once outlasted a test's whole budget.
            with contextlib.suppress(Exception):
                self.client.close(timeout=CLOSE_TIMEOUT)
            if self.cluster is not None:
                with contextlib.suppress(Exception):
                    self.cluster.close(timeout=CLOSE_TIMEOUT)


def connect(address: str, workers: int, timeout: float) -> DaskBackend:
    """A client of the cluster at ``address``, or of a new local one of ``workers`` processes.

    Raises :class:`CampaignError` without the ``dask`` extra, for an address Dask
    cannot parse, when no scheduler answers at ``address`` within ``timeout``
    seconds, and when it has no worker by then.
    """
    distributed = _distributed()
    if address == "local":
        # Nobody looks at a worker's statistical profile here: no sampling every 10ms.
        quiet = {"distributed.worker.profile.enabled": False}
        try:
            with _children_ignore_ctrl_c(), importlib.import_module("dask").config.set(quiet):
                cluster = distributed.LocalCluster(
                    n_workers=workers,
                    threads_per_worker=1,
                    processes=True,
                    # No dashboard; the scheduler's HTTP routes on any free port.
                    dashboard_address=":0",
                    scheduler_kwargs={"dashboard": False},
                    silence_logs=logging.ERROR,
                )
        except Exception as exc:
            raise CampaignError(
                f"cannot start a local Dask cluster of {workers} workers: "
                f"{type(exc).__name__}: {exc} (its workers are spawned processes: a script "
                "that starts one needs `if __name__ == '__main__':`)"
            ) from None
        try:
            client = distributed.Client(cluster, set_as_default=False)
        except BaseException:
            cluster.close()
            raise
        return DaskBackend(cluster.scheduler_address, client, cluster)
    _quiet()
    try:
        # Checked first: a Client given a bad address leaves a half-made client behind.
        comm = distributed.comm
        scheme, where = comm.parse_address(comm.normalize_address(address))
        comm.registry.get_backend(scheme)
        if scheme in ("tcp", "tls"):
            comm.addressing.parse_host_port(where)
    except ValueError as exc:
        raise CampaignError(
            f"--dask {address!r} is not a Dask scheduler address ({exc}); "
            "give 'local' or one such as tcp://host:8786"
        ) from None
    try:
        client = distributed.Client(address, timeout=timeout, set_as_default=False)
    except Exception as exc:  # OSError or TimeoutError when nothing answers
        raise CampaignError(
            f"cannot reach a Dask scheduler at {address} within {timeout:g}s ({exc}); "
            "is it running (dask scheduler), or did you mean --dask local?"
        ) from None
    backend = DaskBackend(address, client)
    try:  # a scheduler without workers would leave the campaign waiting for ever
        client.wait_for_workers(1, timeout=timeout)
    except Exception:
        backend.close()
        raise CampaignError(
            f"the Dask scheduler at {address} has no workers (waited {timeout:g}s); "
            "start some with: dask worker " + address
        ) from None
    return backend


@contextlib.contextmanager
def _children_ignore_ctrl_c() -> Iterator[None]:
    """Start worker processes with SIGINT ignored: Ctrl-C is the campaign's to handle.

    A terminal sends SIGINT to the whole process group; the campaign stops and
    closes the cluster, and its workers must not die first with tracebacks of
    their own. An ignored signal stays ignored across the exec of a spawned
    worker (and Python then leaves it so), so this holds while they start; a
    Ctrl-C in that second or two is not seen by the campaign either.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


@contextlib.contextmanager
def _silenced(*names: str) -> Iterator[None]:
    """Drop every record of the loggers ``names`` (and their children) while the block runs.

    A logger's ``disabled`` flag holds for records it makes itself, not its children's:
    the children that exist are disabled one by one.
    """
    known = list(logging.Logger.manager.loggerDict)
    wanted = [n for n in known if any(n == name or n.startswith(name + ".") for name in names)]
    loggers = [logging.getLogger(name) for name in sorted({*names, *wanted})]
    before = [log.disabled for log in loggers]
    for log in loggers:
        log.disabled = True
    try:
        yield
    finally:
        for log, was in zip(loggers, before, strict=True):
            log.disabled = was


def _quiet() -> None:
    """Keep the client's connection retries and shutdown chatter off the user's stderr."""
    logging.getLogger("distributed").setLevel(logging.ERROR)
