"""asyncio inside step code, on virtual time (specs/time.md TIME-8).

The engine drives step code by sending into its coroutine (the baton, DET-6),
inside a trio run or, in a run without trio (LLAMA-10), alone; what this
trampoline yields goes to the engine either way. When it awaits
something of asyncio's (``asyncio.sleep``, a future, ``gather``, ``wait_for``,
``asyncio.timeout``, a queue...), there is no asyncio loop to drive it. The
trampoline here drives the step's coroutine itself: around each resumption it
installs a wfsim-owned loop (:class:`VirtualLoop`) as asyncio's running loop and
a stand-in for the current task; a trio trap the coroutine yields (``ctx.sleep``,
``ctx.wait_for_signal``...) goes to trio unchanged; an asyncio future it yields
is waited for by running the loop's ready callbacks and, when none are left,
parking the attempt with the engine. The loop's ``call_at``/``call_later`` are
engine timers, so ``asyncio.sleep(1)`` takes one virtual second, is ordered with
everything else the engine schedules, and costs no wall time.

One loop per attempt: asyncio objects (futures, tasks, locks, queues) live as
long as the attempt and must not be shared between steps. What needs the
outside world (sockets, subprocesses, signals, threads) raises
:class:`wfsim.errors.AsyncioUnsupportedError`, which is never retried.
"""

from __future__ import annotations

import asyncio
import collections
import contextvars
import types
from asyncio import events
from collections.abc import Callable, Coroutine, Generator
from typing import Any, NoReturn, cast

import outcome

from wfsim.errors import AsyncioUnsupportedError

__all__ = ["VirtualLoop", "drive", "in_asyncio_task", "raise_wait_in_asyncio_task"]

_enter_task = asyncio.tasks._enter_task
_leave_task = asyncio.tasks._leave_task

#: Loop methods that need the outside world; each raises AsyncioUnsupportedError.
_UNSUPPORTED = (
    "add_reader",
    "add_signal_handler",
    "add_writer",
    "connect_accepted_socket",
    "connect_read_pipe",
    "connect_write_pipe",
    "create_connection",
    "create_datagram_endpoint",
    "create_server",
    "create_unix_connection",
    "create_unix_server",
    "getaddrinfo",
    "getnameinfo",
    "remove_reader",
    "remove_signal_handler",
    "remove_writer",
    "run_forever",
    "run_until_complete",
    "sendfile",
    "set_default_executor",
    "sock_accept",
    "sock_connect",
    "sock_recv",
    "sock_recv_into",
    "sock_recvfrom",
    "sock_recvfrom_into",
    "sock_sendall",
    "sock_sendfile",
    "sock_sendto",
    "start_tls",
    "subprocess_exec",
    "subprocess_shell",
)


class _StepTask:
    """Stands in for ``asyncio.current_task()`` while the step's own coroutine runs.

    The step coroutine is not an ``asyncio.Task`` (trio drives it), but
    ``asyncio.timeout()`` and friends cancel "the current task": this object
    does what ``Task.cancel/cancelling/uncancel`` do for it.
    """

    def __init__(self, loop: VirtualLoop) -> None:
        self._loop = loop
        self.waiting_on: asyncio.Future[Any] | None = None
        self.must_cancel: str | bool | None = False
        self._cancels = 0

    def get_loop(self) -> VirtualLoop:
        return self._loop

    def get_name(self) -> str:
        return self._loop.step_name

    def done(self) -> bool:
        return False

    def cancelled(self) -> bool:
        return False

    def cancel(self, msg: Any = None) -> bool:
        self._cancels += 1
        if self.waiting_on is not None and self.waiting_on.cancel(msg=msg):
            return True
        self.must_cancel = msg if msg is not None else True
        return True

    def cancelling(self) -> int:
        return self._cancels

    def uncancel(self) -> int:
        if self._cancels > 0:
            self._cancels -= 1
        return self._cancels

    def __repr__(self) -> str:
        return f"<wfsim step task {self.get_name()!r}>"


class VirtualLoop(asyncio.AbstractEventLoop):
    """An asyncio event loop whose clock is the engine's virtual clock.

    ``host`` is the engine (``now``, ``schedule``, ``wake``, ``park_until_woken``);
    ``att`` the attempt whose code this loop serves.
    """

    def __init__(self, host: Any, att: Any) -> None:
        self._host = host
        self._att = att
        self._ready: collections.deque[asyncio.Handle] = collections.deque()
        self._timers: dict[int, list[Any]] = {}
        self._parked = False
        self._closed = False
        self._exception_handler: Any = None
        #: The first unsupported use, re-raised when the step ends even if its code
        #: swallowed the error.
        self.misuse: AsyncioUnsupportedError | None = None
        self.step_task = _StepTask(self)

    @property
    def step_name(self) -> str:
        return str(self._att.state.step.name)

    # -- time and callbacks ---------------------------------------------------------------
    def time(self) -> float:
        return float(self._host.now) / 1e9

    def call_soon(  # type: ignore[override]
        self,
        callback: Callable[..., object],
        *args: Any,
        context: contextvars.Context | None = None,
    ) -> asyncio.Handle:
        handle = asyncio.Handle(callback, args, self, context)
        self._ready.append(handle)
        return handle

    call_soon_threadsafe = call_soon  # type: ignore[assignment]

    def call_later(  # type: ignore[override]
        self,
        delay: float,
        callback: Callable[..., object],
        *args: Any,
        context: contextvars.Context | None = None,
    ) -> asyncio.TimerHandle:
        at_ns = self._host.now + max(0, round(delay * 1e9))
        return self._timer(at_ns, callback, args, context)

    def call_at(  # type: ignore[override]
        self,
        when: float,
        callback: Callable[..., object],
        *args: Any,
        context: contextvars.Context | None = None,
    ) -> asyncio.TimerHandle:
        return self._timer(max(self._host.now, round(when * 1e9)), callback, args, context)

    def _timer(
        self,
        at_ns: int,
        callback: Callable[..., object],
        args: tuple[Any, ...],
        context: contextvars.Context | None,
    ) -> asyncio.TimerHandle:
        handle = asyncio.TimerHandle(at_ns / 1e9, callback, args, self, context)
        if self._closed or self._att.done:
            handle.cancel()
            return handle
        timer = self._host.schedule(at_ns, self._timer_fired, handle)
        self._timers[id(handle)] = timer
        # The engine drops an attempt's timers when the attempt ends, so a leftover
        # asyncio timer never moves virtual time.
        self._att.timers.append(timer)
        return handle

    def _timer_handle_cancelled(self, handle: asyncio.TimerHandle) -> None:
        timer = self._timers.pop(id(handle), None)
        if timer is not None:
            timer[2] = None

    def _timer_fired(self, handle: asyncio.TimerHandle) -> None:
        """An engine timer (outside step code): queue the callback, wake the step."""
        self._timers.pop(id(handle), None)
        if handle.cancelled() or self._closed or self._att.done:
            return
        self._ready.append(handle)
        if self._parked:
            self._parked = False  # one wake-up, however many timers fire now
            self._host.wake(self._att, outcome.Value(None))

    def _run_ready(self) -> None:
        """Run the callbacks ready now (not those they make ready: the caller loops)."""
        previous = events._get_running_loop()
        events._set_running_loop(self)
        try:
            for _ in range(len(self._ready)):
                handle = self._ready.popleft()
                if not handle.cancelled():
                    handle._run()
        finally:
            events._set_running_loop(previous)

    # -- objects ----------------------------------------------------------------------------
    def create_future(self) -> asyncio.Future[Any]:
        return asyncio.Future(loop=self)

    def create_task(
        self,
        coro: Any,
        *,
        name: str | None = None,
        context: contextvars.Context | None = None,
    ) -> asyncio.Task[Any]:
        self._check_open("create_task")
        return asyncio.Task(coro, loop=self, name=name, context=context)

    def run_in_executor(  # type: ignore[override]
        self, executor: Any, func: Callable[..., Any], *args: Any
    ) -> Any:
        """No threads in a simulation: ``func`` runs here and now (``asyncio.to_thread`` too)."""
        future = self.create_future()
        try:
            future.set_result(func(*args))
        except Exception as exc:
            future.set_exception(exc)
        return future

    # -- state --------------------------------------------------------------------------------
    def is_running(self) -> bool:
        return not self._closed

    def is_closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        """The attempt is over: drop its timers and callbacks (pending tasks are abandoned)."""
        self._closed = True
        for timer in self._timers.values():
            timer[2] = None
        self._timers.clear()
        self._ready.clear()

    def stop(self) -> None:
        self._unsupported("stop")

    def get_debug(self) -> bool:
        return False

    def set_debug(self, enabled: bool) -> None:
        pass

    def get_exception_handler(self) -> Any:
        return self._exception_handler

    def set_exception_handler(self, handler: Any) -> None:
        self._exception_handler = handler

    def default_exception_handler(self, context: dict[str, Any]) -> None:
        """Errors nobody retrieved (a failed task never awaited) are dropped, as the
        attempt's outcome is what the trace records."""

    def call_exception_handler(self, context: dict[str, Any]) -> None:
        if self._exception_handler is not None:
            self._exception_handler(self, context)

    async def shutdown_asyncgens(self) -> None:
        pass

    async def shutdown_default_executor(self) -> None:
        pass

    def _check_open(self, what: str) -> None:
        if self._closed:
            self._unsupported(what, after_end=True)

    def _unsupported(self, what: str, *, after_end: bool = False) -> Any:
        if after_end:
            message = (
                f"step {self.step_name!r} used asyncio's loop.{what}() after its attempt "
                "ended; asyncio objects live as long as the attempt that made them and must "
                "not be shared between steps"
            )
        else:
            message = (
                f"step {self.step_name!r} called asyncio's loop.{what}(), which needs the "
                "outside world (sockets, subprocesses, signals, threads); wfsim runs asyncio "
                "step code on virtual time with none of these: replace the dependency with a "
                "fake in the test, or model it as a step (with latency or error faults)"
            )
        error = AsyncioUnsupportedError(message)
        if self.misuse is None:
            self.misuse = error
        raise error


def _unsupported_method(name: str) -> Callable[..., Any]:
    def method(self: VirtualLoop, *args: Any, **kwargs: Any) -> Any:
        return self._unsupported(name)

    method.__name__ = name
    return method


for _name in _UNSUPPORTED:
    setattr(VirtualLoop, _name, _unsupported_method(_name))


def in_asyncio_task() -> bool:
    """Whether the code running now is an asyncio task on a wfsim loop (``create_task``,
    ``gather``), where wfsim's own waits must go through asyncio, not trio."""
    loop = events._get_running_loop()
    return isinstance(loop, VirtualLoop) and isinstance(asyncio.current_task(loop), asyncio.Task)


def raise_wait_in_asyncio_task(who: str) -> NoReturn:
    """wfsim's own waits (``ctx.step``, ``ctx.wait_for_signal``, ``collect``...) need the
    step's own code, which the engine drives; an asyncio task cannot carry them."""
    name = who if who.startswith("a workflow") else f"step {who!r}"
    raise AsyncioUnsupportedError(
        f"{name} awaited a wfsim wait (ctx.step, ctx.gather, a signal...) inside an asyncio "
        "task (asyncio.gather, asyncio.create_task); await it in the step's own code, and "
        "use ctx.gather to run steps concurrently"
    )


def _is_asyncio_future(value: Any) -> bool:
    return getattr(value, "_asyncio_future_blocking", None) is not None


@types.coroutine
def drive(host: Any, att: Any, coro: Coroutine[Any, Any, Any]) -> Generator[Any, Any, Any]:
    """Run the step coroutine ``coro`` of ``att``: trio traps pass through to trio,
    asyncio waits happen on ``host``'s virtual clock. Use as ``await drive(...)``."""
    loop = VirtualLoop(host, att)  # type: ignore[abstract]  # (filled in below)
    task = loop.step_task
    as_task = cast("asyncio.Task[Any]", task)
    send: Any = None
    throw: BaseException | None = None
    try:
        while True:
            if task.must_cancel is not False and throw is None:
                msg = task.must_cancel
                task.must_cancel = False
                throw = asyncio.CancelledError() if msg is True else asyncio.CancelledError(msg)
            previous = events._get_running_loop()
            events._set_running_loop(loop)
            _enter_task(loop, as_task)
            try:
                yielded = coro.throw(throw) if throw is not None else coro.send(send)
            except StopIteration as stop:
                if loop.misuse is not None:
                    raise loop.misuse from None
                return stop.value
            except asyncio.CancelledError as exc:
                raise AsyncioUnsupportedError(
                    f"step {loop.step_name!r}: asyncio.CancelledError escaped the step's code "
                    "(something cancelled the step's own task, e.g. an asyncio.timeout() "
                    "left without catching its TimeoutError); wfsim ends attempts itself"
                ) from exc
            except Exception:
                if loop.misuse is not None:
                    raise loop.misuse from None
                raise
            finally:
                _leave_task(loop, as_task)
                events._set_running_loop(previous)
            send, throw = None, None
            if yielded is None:  # asyncio.sleep(0): let the loop's ready callbacks run
                loop._run_ready()
            elif _is_asyncio_future(yielded):
                yielded._asyncio_future_blocking = False
                task.waiting_on = yielded
                try:
                    while not yielded.done():
                        loop._run_ready()
                        if yielded.done() or loop._ready:
                            continue
                        loop._parked = True
                        try:
                            await_ = host.park_until_woken(att)
                            yield from await_.__await__()
                        finally:
                            loop._parked = False
                except BaseException as exc:  # the engine ended the attempt while it waited
                    throw = exc
                finally:
                    task.waiting_on = None
            else:  # a trio trap (ctx.sleep, a trio checkpoint): trio answers it
                try:
                    send = yield yielded
                except BaseException as exc:
                    throw = exc
    finally:
        loop.close()
