"""``run``'s plumbing: the command's stdout and stderr, through a terminal of their own (a
pty; one for both when the tool's two are one terminal) or pipes, passed on to the tool's
own unchanged as they come."""

from __future__ import annotations

import os
import selectors
import threading
import time
from typing import Callable, List, Sequence

__all__ = ["Source", "open_sources", "pump"]

_DRAIN_QUIET = 0.25  # after the command ends: stop reading once its pipes are quiet this long
_DRAIN_MAX = 5.0  # … or after this long (a background process still writing)


class Source:
    """One output stream of the command: where it is read, where it is passed on.

    Args:
        stream (int): 1 or 2: the tool's own file descriptor it is passed on to.
    """

    def __init__(self, stream: int) -> None:
        self.stream = stream
        self.read_fd = -1
        self.child_fd = -1  #: the end given to the command
        self.is_pty = False
        self.passing = True  #: False once our own end broke (EPIPE): the data is dropped

    def open(self) -> None:
        """A pty when our own stream is a terminal (the command sees one, as without
        the tool: line buffering, colours, progress bars); a pipe otherwise.

        Raises:
            OSError: No pipe could be made.
        """
        if os.isatty(self.stream) and hasattr(os, "openpty"):
            try:
                self.read_fd, self.child_fd = os.openpty()
                self.is_pty = True
                _configure_pty(self.child_fd, self.stream)
                return
            except OSError:
                self.close()
                self.is_pty = False
        self.read_fd, self.child_fd = os.pipe()

    def close_child_end(self) -> None:
        """Close the command's end (once the command has it)."""
        if self.child_fd >= 0:
            os.close(self.child_fd)
            self.child_fd = -1

    def close(self) -> None:
        """Close both ends (idempotent)."""
        self.close_child_end()
        if self.read_fd >= 0:
            os.close(self.read_fd)
            self.read_fd = -1

    def pass_on(self, data: bytes) -> None:
        """Write ``data`` to our own stream, all of it; on EPIPE stop passing on."""
        view = memoryview(data)
        while view and self.passing:
            try:
                written = os.write(self.stream, view)
            except BrokenPipeError:
                self.passing = False  # as without the tool, the command gets SIGPIPE
                return
            except InterruptedError:
                continue
            view = view[written:]

    def resize(self) -> None:
        """Give a pty the size of our own terminal (after SIGWINCH)."""
        if self.is_pty and self.read_fd >= 0:
            _copy_window_size(self.stream, self.read_fd)


def open_sources() -> List[Source]:
    """The command's output streams, opened: ``[stdout, stderr]``, or ``[both]`` when our
    stdout and stderr are one terminal — then the command writes both to one pty, as it
    would to that terminal, and what it writes reaches it in the order written.

    Raises:
        OSError: No pipe could be made (the sources opened so far are closed).
    """
    out = Source(1)
    out.open()
    if out.is_pty and _same_terminal(1, 2):
        return [out]
    err = Source(2)
    try:
        err.open()
    except OSError:
        out.close()
        raise
    return [out, err]


def _same_terminal(a: int, b: int) -> bool:
    try:
        return os.isatty(b) and os.fstat(a).st_rdev == os.fstat(b).st_rdev
    except OSError:
        return False


def pump(sources: Sequence[Source], on_data: Callable[[int, bytes], None],
         done: threading.Event) -> None:
    """Pass each chunk on at once (no line buffering), then ``on_data(stream, chunk)``.

    Reads until every source has ended, or, once ``done`` is set (the command
    has ended), until they have been quiet for 0.25 s or for at most 5 s more
    (something the command started may still write).  Closes the sources.
    """
    selector = selectors.DefaultSelector()
    for source in sources:
        selector.register(source.read_fd, selectors.EVENT_READ, source)
    done_at = None
    try:
        while selector.get_map():
            if done_at is None and done.is_set():
                done_at = time.monotonic()
            if done_at is not None and time.monotonic() - done_at > _DRAIN_MAX:
                break  # something the command started still writes: stop here
            events = selector.select(_DRAIN_QUIET)
            if not events and done_at is not None:
                break  # the command has ended and its pipes are quiet
            for key, _ in events:
                source: Source = key.data
                try:
                    data = os.read(source.read_fd, 65536)
                except InterruptedError:
                    continue
                except OSError:  # EIO: a pty whose other end is closed
                    data = b""
                if not data:
                    selector.unregister(source.read_fd)
                    continue
                source.pass_on(data)
                if not source.passing:  # our own end broke: so does the command's
                    selector.unregister(source.read_fd)
                    os.close(source.read_fd)
                    source.read_fd = -1
                on_data(source.stream, data)
    finally:
        selector.close()
        for source in sources:
            source.close()


def _configure_pty(child_fd: int, our_fd: int) -> None:
    """Bytes pass unchanged (no \\n → \\r\\n) and the size is the terminal's."""
    import termios

    attrs = termios.tcgetattr(child_fd)
    attrs[1] &= ~termios.OPOST  # oflag: no output processing
    termios.tcsetattr(child_fd, termios.TCSANOW, attrs)
    _copy_window_size(our_fd, child_fd)


def _copy_window_size(src: int, dst: int) -> None:
    """Give terminal ``dst`` the size (rows, columns) of terminal ``src``; where
    either is no terminal, nothing."""
    try:
        import fcntl
        import termios

        size = fcntl.ioctl(src, termios.TIOCGWINSZ, b"\0" * 8)
        fcntl.ioctl(dst, termios.TIOCSWINSZ, size)
    except (ImportError, OSError):
        pass
