"""This process's signal handlers installed and restored together, and ending as a signal
would: real signals, sent to this process or to a child Python."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading

import pytest

from chainer_slack_report.job.signals import SignalHandlers, signal_name

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGUSR1"), reason="POSIX signals")
TIMEOUT = 120  # only against hangs


@pytest.fixture
def usr_signals():
    """SIGUSR1 and SIGUSR2 as they were, put back after the test."""
    saved = {s: signal.getsignal(s) for s in (signal.SIGUSR1, signal.SIGUSR2)}
    yield
    for signum, handler in saved.items():
        signal.signal(signum, handler)


def test_install_and_restore_together(usr_signals):
    def before(signum, frame):
        got.append(("before", signum))

    got = []
    signal.signal(signal.SIGUSR1, before)
    signal.signal(signal.SIGUSR2, signal.SIG_DFL)
    handlers = SignalHandlers({signal.SIGUSR1: lambda s, f: got.append(("ours", s)),
                               signal.SIGUSR2: lambda s, f: got.append(("ours", s))})
    assert not handlers.installed
    assert handlers.install() and handlers.installed
    assert not handlers.install()  # once
    assert handlers.previous(signal.SIGUSR1) is before
    assert handlers.previous(signal.SIGUSR2) == signal.SIG_DFL
    os.kill(os.getpid(), signal.SIGUSR1)
    os.kill(os.getpid(), signal.SIGUSR2)
    handlers.restore()
    assert not handlers.installed and handlers.previous(signal.SIGUSR1) is None
    assert signal.getsignal(signal.SIGUSR1) is before
    assert signal.getsignal(signal.SIGUSR2) == signal.SIG_DFL
    os.kill(os.getpid(), signal.SIGUSR1)
    assert got == [("ours", signal.SIGUSR1), ("ours", signal.SIGUSR2),
                   ("before", signal.SIGUSR1)]
    handlers.restore()  # idempotent
    assert signal.getsignal(signal.SIGUSR1) is before


def test_an_ignored_signal_stays_ignored_unless_asked(usr_signals):
    def ours(signum, frame):
        pass

    signal.signal(signal.SIGUSR1, signal.SIG_IGN)
    signal.signal(signal.SIGUSR2, signal.SIG_IGN)
    with SignalHandlers({signal.SIGUSR1: ours, signal.SIGUSR2: ours},
                        replace_ignored=[signal.SIGUSR2]) as handlers:
        assert signal.getsignal(signal.SIGUSR1) == signal.SIG_IGN  # nohup'd: left alone
        assert signal.getsignal(signal.SIGUSR2) is ours
        assert handlers.previous(signal.SIGUSR1) is None
    assert signal.getsignal(signal.SIGUSR2) == signal.SIG_IGN
    only_ignored = SignalHandlers({signal.SIGUSR1: ours})
    assert not only_ignored.install() and not only_ignored.installed


def test_restore_keeps_a_handler_installed_over_ours(usr_signals):
    def ours(signum, frame):
        pass

    def later(signum, frame):
        pass

    signal.signal(signal.SIGUSR1, signal.SIG_DFL)
    handlers = SignalHandlers({signal.SIGUSR1: ours})
    handlers.install()
    signal.signal(signal.SIGUSR1, later)
    handlers.restore()
    assert signal.getsignal(signal.SIGUSR1) is later


def test_outside_the_main_thread_nothing_is_done(usr_signals):
    signal.signal(signal.SIGUSR1, signal.SIG_DFL)
    handlers = SignalHandlers({signal.SIGUSR1: lambda s, f: None})
    results = []
    thread = threading.Thread(target=lambda: results.append(handlers.install()))
    thread.start()
    thread.join(TIMEOUT)
    assert results == [False]
    assert signal.getsignal(signal.SIGUSR1) == signal.SIG_DFL


def child(code: str) -> subprocess.CompletedProcess:
    """Run ``code`` in a child Python, stdout and stderr through pipes."""
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                          timeout=TIMEOUT)


ENDS_WITH = """
    import signal, sys
    from chainer_slack_report.job.signals import end_with_signal
    signal.signal({signum}, lambda s, f: None)  # a handler of its own: reset to the default
    sys.stdout.write("buffered, no newline")  # a pipe: not written until flushed
    sys.stderr.write("err")
    status = end_with_signal({signum})
    print("survived", status)
"""


@pytest.mark.parametrize("name", ["SIGTERM", "SIGHUP", "SIGQUIT"])
def test_end_with_signal_ends_the_process_with_it_after_flushing(name):
    signum = getattr(signal, name, None)
    if signum is None:
        pytest.skip(f"no {name} here")
    done = child(ENDS_WITH.format(signum=int(signum)))
    assert done.returncode == -signum, done.stderr
    assert done.stdout == b"buffered, no newline"  # flushed before the end
    assert done.stderr == b"err"  # SIGQUIT: no "core dumped" note, no traceback


def test_end_with_signal_returns_128_plus_n_when_the_process_survives():
    winch = int(signal.SIGWINCH)  # its default action: nothing
    done = child(ENDS_WITH.format(signum=winch))
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"buffered, no newlinesurvived {128 + winch}\n".encode()


def test_signal_name():
    assert signal_name(int(signal.SIGTERM)) == "SIGTERM"
    assert signal_name(0) == "signal 0"
