"""One writer per output directory: an advisory lock the OS drops when the writer dies."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from .errors import CoocError

LOCK_FILE = ".lock"


class DirectoryLock:
    """Non-blocking `flock` on OUTPUT/.lock; a crashed writer never leaves it stuck.

    shared=True is for rank builds (`--world-size` > 1), which only add their own parts and
    may run side by side; a build that publishes an index, or a merge, takes it exclusively.
    """

    def __init__(self, directory: Path, shared: bool = False):
        self.path = Path(directory) / LOCK_FILE
        self.shared = shared
        self._fd: int | None = None

    def __enter__(self) -> DirectoryLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, (fcntl.LOCK_SH if self.shared else fcntl.LOCK_EX) | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "of a rank build"
            os.close(fd)
            raise CoocError(f"{self.path.parent}: another cooc process (pid {holder}) is writing here; wait for it "
                            "or choose another --output") from None
        if not self.shared:
            os.ftruncate(fd, 0)
            os.pwrite(fd, str(os.getpid()).encode(), 0)
        self._fd = fd
        return self

    def __exit__(self, *exc) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None
