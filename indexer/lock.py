"""One writer per output directory: an advisory lock the OS drops when the writer dies."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from .errors import CoocError

LOCK_FILE = ".lock"
_HELD: set[int] = set()  # descriptors of the locks this process holds


def forget_inherited_locks() -> None:
    """In a forked worker: close its copies of the parent's lock descriptors. A flock lasts while
    any copy is open, so a worker that kept one would hold the lock after its parent died."""
    for fd in list(_HELD):
        try:
            os.close(fd)
        except OSError:
            pass
    _HELD.clear()


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
        _HELD.add(fd)
        return self

    def __exit__(self, *exc) -> None:
        if self._fd is not None:
            _HELD.discard(self._fd)
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None


LEASE_FILE = ".lease"


class ReaderLease:
    """A reader's shared `flock` on gen-N/.lease: the generation it reads is not removed while held.

    A republish removes a superseded generation only when it can lock that file exclusively,
    so an open index keeps its own files (memory maps and `Index.sql`) however often the
    directory is rebuilt; the OS drops the lease when the reader closes or dies.
    """

    def __init__(self, fd: int | None):
        self._fd = fd

    @classmethod
    def acquire(cls, gen_dir: Path) -> ReaderLease | None:
        """The lease, or None when the generation vanished (removed by a republish: read the manifest again)."""
        path = Path(gen_dir) / LEASE_FILE
        try:
            fd = os.open(path, os.O_RDONLY)
        except FileNotFoundError:
            return cls(None) if Path(gen_dir).is_dir() else None  # a generation written before leases
        fcntl.flock(fd, fcntl.LOCK_SH)
        try:
            same = os.stat(path).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if not same:  # removed between our open and our lock
            os.close(fd)
            return None
        return cls(fd)

    _close = staticmethod(os.close)  # bound at class creation: at interpreter exit `os` may already be None

    def release(self) -> None:
        if self._fd is not None:
            self._close(self._fd)
            self._fd = None

    def __del__(self) -> None:
        self.release()


def remove_if_unleased(gen_dir: Path) -> bool:
    """Remove a superseded generation unless a reader holds its lease (then a later publish retries)."""
    import shutil

    path = Path(gen_dir) / LEASE_FILE
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        shutil.rmtree(gen_dir, ignore_errors=True)
        return True
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        path.unlink()  # first: a reader that opened it now sees it gone and reads the manifest again
        shutil.rmtree(gen_dir, ignore_errors=True)
        return True
    finally:
        os.close(fd)
