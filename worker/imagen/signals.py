"""Stopping on SIGINT and SIGTERM, whatever the process inherited.

A process started in the background by a non-interactive shell (a CI script, `nohup`, `cmd &`)
inherits SIGINT *ignored*, and Python keeps it ignored: KeyboardInterrupt never comes. So, as
procrastinate's `signals.on_stop` does, the handlers are installed explicitly. Children are tied
to their parent with a parent-death signal, so they never outlive it, even when it is SIGKILLed.
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

log = logging.getLogger(__name__)

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
PR_SET_PDEATHSIG = 1  # linux/prctl.h


class Stopped(BaseException):
    """SIGINT or SIGTERM arrived while nothing was held: unwind (every `with` cleans up) and exit.
    A BaseException, like KeyboardInterrupt, so `except Exception` does not swallow it."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


# The longest the main thread waits on a lock in one go. Python runs a signal's handler only
# between the main thread's bytecodes, and the kernel may hand a process's signal to another
# thread: then nothing ends a wait on a lock, and the handler waits for the wait's timeout.
SIGNAL_CHECK_S = 0.5


def wait_event(event: threading.Event, timeout: float | None) -> bool:
    """event.wait(timeout) in slices of SIGNAL_CHECK_S, so a stop signal is handled within one."""
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        left = SIGNAL_CHECK_S if deadline is None else min(SIGNAL_CHECK_S, deadline - time.monotonic())
        if left <= 0:
            return event.is_set()
        if event.wait(left):
            return True


def raise_stopped(signum: int) -> None:
    """The default for every command: the first signal unwinds; later ones are noted and ignored,
    so the unwinding (stopping children, removing a throwaway database) is not cut short."""
    install(lambda again: log.warning("%s: already stopping", signal.Signals(again).name))
    raise Stopped(signum)


def install(handler: Callable[[int], None]) -> None:
    """handler(signum) on SIGINT and SIGTERM from now on (the main thread only can do this)."""
    for signum in STOP_SIGNALS:
        signal.signal(signum, lambda received, _frame: handler(received))


@contextmanager
def on_stop(handler: Callable[[int], None]) -> Iterator[None]:
    """handler(signum) on SIGINT and SIGTERM inside the block; the previous handlers after it."""
    if threading.current_thread() is not threading.main_thread():  # only the main thread gets signals
        yield
        return
    previous = {signum: signal.getsignal(signum) for signum in STOP_SIGNALS}
    install(handler)
    try:
        yield
    finally:
        for signum, old in previous.items():
            signal.signal(signum, old)


def die_with_parent(signum: int = signal.SIGTERM) -> Callable[[], None]:
    """A Popen preexec_fn: the child gets `signum` when the thread that started it ends, the parent
    SIGKILLed included (Linux; elsewhere a no-op). Start children from the main thread."""

    parent = os.getpid()

    def preexec() -> None:
        try:
            prctl = ctypes.CDLL(None, use_errno=True).prctl
        except (OSError, AttributeError):
            return
        prctl(PR_SET_PDEATHSIG, signum, 0, 0, 0)
        if os.getppid() != parent:  # the parent died before the line above: nothing will signal us
            os.kill(os.getpid(), signum)

    return preexec
