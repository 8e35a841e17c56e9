"""Exception types the library raises for problems a user can fix.

The CLI turns every :class:`BilstmTaggerError` into a one-line message and a non-zero exit,
so anything raised with one of these types must already say what is wrong and where.
"""

from __future__ import annotations

import errno
from pathlib import Path
from typing import Optional, Union


class BilstmTaggerError(Exception):
    """Base class of all errors meant to be shown to the user as they are."""


class CorpusError(BilstmTaggerError):
    """A CoNLL-U file that cannot be read: missing, undecodable or malformed.

    Args:
        path: the file.
        line: 1-based line number of the problem, or None for whole-file problems.
        problem: what is wrong, in words.
    """

    def __init__(self, path: Union[str, Path], line: Optional[int], problem: str) -> None:
        self.path = str(path)
        self.line = line
        self.problem = problem
        where = f"{self.path}:{line}" if line is not None else self.path
        super().__init__(f"{where}: {problem}")

    def __reduce__(self):  # picklable, so that it reaches the caller from a worker process or a Ray actor
        return type(self), (self.path, self.line, self.problem)


class ModelDirError(BilstmTaggerError):
    """A model directory with a missing, corrupt or inconsistent part."""


class ConfigError(BilstmTaggerError):
    """A training config that cannot be read or resolved."""


#: what to do about an OS error, by errno
_OS_ERROR_HINTS = {
    errno.ENOENT: "check the path; an output's directory must already exist",
    errno.EACCES: "check its permissions, or choose another path",
    errno.EPERM: "check its permissions, or choose another path",
    errno.EROFS: "the file system is read-only: choose another path",
    errno.ENOSPC: "the disk is full: free some space, or write elsewhere",
    errno.EDQUOT: "the disk quota is exhausted: free some space, or write elsewhere",
    errno.EISDIR: "it is a directory: give a file path",
    errno.ENOTDIR: "a part of the path is a file, not a directory",
    errno.ENAMETOOLONG: "the path is too long",
    errno.EPIPE: "the reader of the output went away",
}


class FileError(BilstmTaggerError):
    """An operating-system error on a file the user named (missing directory, permission denied, full disk, ...).

    Args:
        error: the ``OSError``.
        path: the file the user named (default: the error's own ``filename``).
        action: what was being done ("read", "write", ...).
    """

    def __init__(self, error: OSError, path: Union[str, Path, None] = None, action: str = "use") -> None:
        self.error = error
        self.action = action
        self.path = str(path if path is not None else (error.filename or "?"))
        reason = error.strerror or str(error) or type(error).__name__
        hint = _OS_ERROR_HINTS.get(error.errno)
        super().__init__(f"{self.path}: cannot {action} it: {reason}" + (f" ({hint})" if hint else ""))

    def __reduce__(self):
        return type(self), (self.error, self.path, self.action)


def config_error_text(error: Exception) -> str:
    """One line for an error confection raised about a config (its own errors list several lines and the config)."""
    from confection import ConfigValidationError

    if isinstance(error, ConfigValidationError) and error.errors:
        parts = []
        for item in error.errors:
            location = " -> ".join(str(part) for part in item.get("loc", ()) if part != "__root__")
            parts.append(f"{location}: {item.get('msg')}" if location else str(item.get("msg")))
        return "; ".join(parts)
    return " ".join(str(error).split())
