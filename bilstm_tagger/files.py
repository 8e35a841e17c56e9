"""Files on disk: atomic writes of files and of whole directories, and sha256 digests.

A file is written to a temporary file beside it, then renamed over it; a directory (a model directory) is built
whole beside it, then swapped with it in one step (``renameat2(RENAME_EXCHANGE)`` on Linux). An interrupted run
therefore leaves the old version or the complete new one, never a mix. Failures of the operating system become a
:class:`~bilstm_tagger.errors.FileError` naming the path the user gave.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import errno
import functools
import glob
import hashlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import IO, Callable, Iterator, Mapping, Optional, Union

from .errors import FileError

#: Called with a label after each step of :func:`write_directory` (tests kill the process there); None in use.
_after_step: Optional[Callable[[str], None]] = None


def _step(label: str) -> None:
    if _after_step is not None:
        _after_step(label)


def _plain_permissions(path: Union[str, Path], mode: int) -> None:
    # mkstemp/mkdtemp make private files (0600/0700): give what a plain open()/mkdir() would
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(path, mode & ~umask)


@contextlib.contextmanager
def atomic_open(path: Union[str, Path], mode: str = "w", encoding: str = "utf-8") -> Iterator[IO]:
    """Open a temporary file that replaces ``path`` only when the block exits without error.

    Args:
        path: the final file.
        mode: "w" for text or "wb" for bytes.
        encoding: text encoding (ignored in binary mode).

    Raises:
        FileError: for an operating-system error (missing directory, permission denied, disk full, ...).
    """
    path = Path(path)
    if path.is_dir():
        raise FileError(IsADirectoryError(21, "Is a directory"), path, "write")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise FileError(exc, path, "write") from None
    try:
        _plain_permissions(tmp, 0o666)
        kwargs = {} if "b" in mode else {"encoding": encoding, "newline": ""}
        with os.fdopen(fd, mode, **kwargs) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        if isinstance(exc, OSError) and not isinstance(exc, BrokenPipeError):
            raise FileError(exc, path, "write") from None
        raise


def atomic_write_text(path: Union[str, Path], text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    with atomic_open(path, "w") as handle:
        handle.write(text)


@functools.lru_cache(maxsize=None)
def _renameat2() -> Optional[Callable]:
    libc_name = ctypes.util.find_library("c")
    return getattr(ctypes.CDLL(libc_name, use_errno=True), "renameat2", None) if libc_name else None


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths in one step (Linux ``renameat2(RENAME_EXCHANGE)``); False where that is not available."""
    renameat2 = _renameat2()
    if renameat2 is None:
        return False
    at_fdcwd, rename_exchange = -100, 2
    if renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):  # not on this system or file system
        return False
    raise OSError(code, os.strerror(code), str(b))


def _fsync_tree(directory: Path) -> None:
    for path in directory.iterdir():
        with open(path, "rb") as handle:
            os.fsync(handle.fileno())
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_directory(directory: Union[str, Path], files: Mapping[str, bytes]) -> Path:
    """Replace ``directory`` as a whole by one holding exactly ``files`` (name -> content).

    Missing parent directories are created (``train --output models/ewt``). The new version is written to a
    hidden sibling (``.NAME.XXXX.new``) and swapped with the old one in one rename, so a reader, or a crash at any instant, sees the complete old directory or the complete new one.
    Where the system cannot swap two directories in one step (not Linux), the old one is first renamed to a
    sibling ``.NAME.XXXX.old``, which leaves an instant without ``directory``. Such siblings left by a process
    killed while saving are removed by the next save.

    Raises:
        FileError: for an operating-system error, or a path that exists and is not a directory.
    """
    directory = Path(directory)
    if directory.exists() and not directory.is_dir():
        raise FileError(NotADirectoryError(20, "Not a directory"), directory, "write a model directory at")
    name = glob.escape(directory.name)
    for pattern in (f".{name}.*.new", f".{name}.*.old"):
        for leftover in directory.parent.glob(pattern):
            shutil.rmtree(leftover, ignore_errors=True)
    try:
        directory.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{directory.name}.", suffix=".new", dir=directory.parent))
    except OSError as exc:
        raise FileError(exc, directory, "write") from None
    try:
        _plain_permissions(tmp, 0o777)
        for name, content in files.items():
            (tmp / name).write_bytes(content)
            _step(f"wrote {name}")
        _fsync_tree(tmp)
        if not directory.exists():
            os.rename(tmp, directory)
            _step("renamed")
        elif _exchange(tmp, directory):
            _step("exchanged")
            shutil.rmtree(tmp)  # now the old version
        else:
            old = Path(tempfile.mkdtemp(prefix=f".{directory.name}.", suffix=".old", dir=directory.parent))
            os.rename(directory, old / "x")
            os.rename(tmp, directory)
            _step("renamed")
            shutil.rmtree(old)
    except BaseException as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        if isinstance(exc, OSError):
            raise FileError(exc, directory, "write") from None
        raise
    return directory


def sha256_file(path: Union[str, Path]) -> str:
    """Hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
