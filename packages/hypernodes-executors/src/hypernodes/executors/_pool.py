"""A small pool of worker processes, each on a pipe of its own, that can retire one worker (private).

``concurrent.futures.ProcessPoolExecutor`` breaks the whole pool when one worker exits (every
pending task fails alike) and cannot retire one worker on demand. This pool can: each worker
holds at most one task, so the pool knows which task a dead worker held (only that task's
future fails), and a worker that reports a runaway call is killed and replaced while the
others go on.

One manager thread owns every pipe: it sends the tasks, reads each worker's messages (see
:mod:`hypernodes.executors._events`), replays events, resolves futures and replaces workers.
:meth:`WorkerPool.submit` only queues a task and wakes it, so no two threads ever use a pipe.
"""

from __future__ import annotations

import atexit
import collections
import logging
import multiprocessing.connection
import multiprocessing.util
import threading
import weakref
from collections.abc import Callable
from concurrent.futures import Future
from contextlib import suppress
from typing import TYPE_CHECKING, Any

from hypernodes.executors._events import ANSWER, EVENT, READY, parse

if TYPE_CHECKING:
    from multiprocessing.connection import Connection
    from multiprocessing.context import ForkServerContext, SpawnContext
    from multiprocessing.process import BaseProcess

__all__ = ["Task", "WorkerDied", "WorkerPool"]

logger = logging.getLogger(__name__)

Task = tuple[bytes, ...]
"""What a worker receives for one task: messages sent one after another (the first one never empty)."""
_live: weakref.WeakSet[WorkerPool] = weakref.WeakSet()  # pools to stop when the interpreter exits
_STOP = b""  # an empty first message tells an idle worker to exit normally (resources torn down as it exits)


class WorkerDied(Exception):
    """The worker process that held a task ended before it answered.

    Attributes:
        pid: The worker's pid (None: the task never reached a worker).
        exit_code: Its exit code, negative for a signal (None: unknown).
        started: Whether it had started (False: it died while starting).
        stopped: Whether the pool was shut down under it (closed, or killed after Ctrl-C).
    """

    def __init__(self, pid: int | None, exit_code: int | None, *, started: bool = True, stopped: bool = False) -> None:
        super().__init__(f"worker process {pid} ended (exit code {exit_code})")
        self.pid, self.exit_code, self.started, self.stopped = pid, exit_code, started, stopped


class _Worker:
    __slots__ = ("connection", "process", "ready", "stopping", "task")

    def __init__(self, connection: Connection, process: BaseProcess) -> None:
        self.connection = connection
        self.process = process
        self.ready = False  # it sent READY
        self.stopping = False  # it was sent _STOP
        self.task: tuple[Future[bytes], Task] | None = None  # what it holds


class WorkerPool:
    """Up to `size` worker processes running `serve(connection)`, one task per worker at a time.

    Workers start as tasks need them (a run starts one, a map of many chunks `size`), as
    ``concurrent.futures`` does, and stay until :meth:`shutdown`.

    Thread-safe: several threads may submit at once. `on_event(channel, blob)` is called on
    the manager thread for every event, before the answer of the task that sent it.
    """

    def __init__(
        self,
        size: int,
        context: SpawnContext | ForkServerContext,
        serve: Callable[[Connection], None],
        on_event: Callable[[int, bytes], None],
        *,
        name: str,
        owner: str,
    ) -> None:
        self._context, self._serve, self._on_event, self._owner = context, serve, on_event, owner
        self._pending: collections.deque[tuple[Future[bytes], Task]] = collections.deque()
        self._workers: list[_Worker] = []  # written by the manager (and __init__) under _lock
        self._closing = False
        self._killing = False
        self._broken: tuple[int | None, int | None] | None = None  # (pid, exit code) of a worker that died starting
        self._woken = False
        self._lock = threading.Lock()  # guards _pending, _workers, _closing, _killing, _broken, _woken
        self._size = size
        self._wake_reader, self._wake_writer = context.Pipe(duplex=False)
        self._thread = threading.Thread(target=self._manage, name=name, daemon=True)
        self._thread.start()
        _live.add(self)

    def submit(self, task: Task) -> Future[bytes]:
        """Queue `task`; its future gets the worker's answer, or a :class:`WorkerDied`.

        Raises:
            RuntimeError: The pool was shut down.
        """
        future: Future[bytes] = Future()
        with self._lock:
            if self._closing:
                raise RuntimeError("cannot schedule new tasks after the worker pool was shut down")
            if self._broken is not None:  # fail at once: the workers cannot start
                future.set_exception(WorkerDied(*self._broken, started=False))
                return future
            self._pending.append((future, task))
            self._wake()
        return future

    def shutdown(self, *, kill: bool = False) -> None:
        """Stop the workers (`kill`: now; else once their task is done) and wait. Safe to call several times.

        Tasks not started fail with a :class:`WorkerDied` whose ``stopped`` is True.
        """
        with self._lock:
            self._killing = self._killing or kill
            self._closing = True
            pending = list(self._pending)
            self._pending.clear()
            workers = list(self._workers)
            self._wake()
        for future, _task in pending:
            _fail(future, WorkerDied(None, None, stopped=True))
        if kill:
            for worker in workers:
                worker.process.kill()
        if self._thread is not threading.current_thread():  # a finalizer may run on the manager thread
            self._thread.join()

    # -- the manager thread -----------------------------------------------------------------------

    def _manage(self) -> None:
        try:
            while self._step():
                pass
        except BaseException:  # never leave a future waiting on a thread that is gone
            logger.exception("the worker pool of %s failed; its tasks fail with it", self._owner)
            self._break(None, None)
            for worker in list(self._workers):
                worker.process.kill()
                if worker.task is not None:
                    _fail(worker.task[0], WorkerDied(worker.process.pid, None, stopped=True))
        finally:
            with self._lock:  # no _wake() can write on it any more
                self._wake_writer.close()
            self._wake_reader.close()

    def _step(self) -> bool:
        """Dispatch, wait for one round of messages and handle them; False once every worker is gone."""
        self._dispatch()
        with self._lock:
            workers = list(self._workers)
            if self._closing and not workers:
                return False
        waitables: list[Any] = [self._wake_reader]
        for worker in workers:
            waitables += (worker.connection, worker.process.sentinel)
        ready = set(multiprocessing.connection.wait(waitables))
        if self._wake_reader in ready:
            with self._lock:
                self._woken = False
                while self._wake_reader.poll():
                    self._wake_reader.recv_bytes()
        for worker in workers:
            if worker.connection in ready or worker.process.sentinel in ready:
                self._read(worker)
            if worker.process.sentinel in ready and worker in self._workers:
                self._bury(worker)
        return True

    def _dispatch(self) -> None:
        """Give each idle worker the next task (or, once closing, _STOP)."""
        for worker in list(self._workers):
            if worker.task is not None or worker.stopping:
                continue
            with self._lock:
                closing = self._closing
                job = None
                while not closing and worker.ready and self._pending and job is None:
                    future, task = self._pending.popleft()
                    if future.set_running_or_notify_cancel():  # False: cancelled while queued
                        job = (future, task)
            if job is not None:
                worker.task = job
                self._send(worker, job[1])
            elif closing:
                worker.stopping = True
                self._send(worker, (_STOP,))
        self._grow()

    def _grow(self) -> None:
        """Start workers for the tasks that no idle or starting worker will take, up to the pool's size."""
        with self._lock:
            if self._closing or self._broken is not None:
                return
            free = sum(1 for worker in self._workers if worker.task is None and not worker.stopping)
            wanted = min(len(self._pending) - free, self._size - len(self._workers))
        for _ in range(wanted):  # outside the lock: starting a process takes a while
            started = self._start_worker()
            with self._lock:
                self._workers.append(started)

    def _send(self, worker: _Worker, task: Task) -> None:
        try:
            for part in task:
                worker.connection.send_bytes(part)
        except OSError:  # it died: its sentinel says so, and its task fails then
            pass

    def _read(self, worker: _Worker) -> None:
        connection = worker.connection
        try:
            while connection.poll():
                kind, number, body = parse(connection.recv_bytes())
                if kind == EVENT:
                    self._on_event(number, body)
                elif kind == READY:
                    worker.ready = True
                elif kind == ANSWER:
                    job, worker.task = worker.task, None
                    if number:  # tainted: kill it before the answer is handed on (and the map can end)
                        self._retire(worker)
                    if job is not None:
                        job[0].set_result(body)
                    if number:
                        return
        except (EOFError, OSError):  # it died (maybe in the middle of a message): its sentinel says so
            pass

    def _retire(self, worker: _Worker) -> None:
        logger.info(
            "killing worker process %s of %s: a node call there overran its timeout and still runs; "
            "a new worker replaces it",
            worker.process.pid,
            self._owner,
        )
        worker.process.kill()
        self._bury(worker)

    def _bury(self, worker: _Worker) -> None:
        """Forget an ended worker and fail the task it held (a replacement starts when a task needs it)."""
        worker.process.join()
        worker.connection.close()
        pid, code = worker.process.pid, worker.process.exitcode
        with self._lock:
            self._workers.remove(worker)
            closing, killing = self._closing, self._killing
        job, worker.task = worker.task, None
        if job is not None:
            _fail(job[0], WorkerDied(pid, code, started=worker.ready, stopped=killing))
        if not worker.ready and not closing:
            logger.warning("worker process %s of %s died while starting (exit code %s)", pid, self._owner, code)
            self._break(pid, code)

    def _break(self, pid: int | None, code: int | None) -> None:
        """Fail every queued task, and every later one: worker `pid` died while starting."""
        with self._lock:
            self._broken = self._broken or (pid, code)
            pending = list(self._pending)
            self._pending.clear()
        for future, _task in pending:
            _fail(future, WorkerDied(pid, code, started=False))

    def _start_worker(self) -> _Worker:
        ours, theirs = self._context.Pipe(duplex=True)
        process = self._context.Process(target=self._serve, args=(theirs,), name="hypernodes-worker")
        process.start()
        theirs.close()  # the worker holds its end: when it dies, reading ours ends
        return _Worker(ours, process)

    def _wake(self) -> None:
        """Wake the manager thread (call with _lock held)."""
        if not self._woken:
            self._woken = True
            with suppress(OSError):  # the manager is gone (it failed): there is nothing to wake
                self._wake_writer.send_bytes(b"")


def _fail(future: Future[bytes], error: BaseException) -> None:
    if future.running() or future.set_running_or_notify_cancel():
        future.set_exception(error)


def _stop_live_pools() -> None:
    # multiprocessing's own exit handler joins every non-daemonic child (workers must not be
    # daemonic: those cannot start processes of their own), so stop the workers first.
    # Registered after importing multiprocessing.util (which registers that handler), it runs before it.
    for pool in list(_live):
        pool.shutdown()


atexit.register(_stop_live_pools)
