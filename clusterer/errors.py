"""Domain exceptions: a user's mistake is reported in one line, never a traceback."""

RAY_EXTRA_HINT = "pip install -e '.[ray]'"  # what a ClusterError says when Ray is missing


class ClustererError(Exception):
    """Base class for errors a user can act on."""


class CorpusError(ClustererError):
    """The corpus path is missing, empty or unusable as a whole."""


class ModelError(ClustererError):
    """An embedding model cannot be found or loaded."""


class CacheError(ClustererError):
    """The embeddings cache folder cannot be created or used."""


class StateError(ClustererError):
    """The nightly state database is locked, corrupt or from another model."""


class StateLocked(StateError):
    """Another run holds the state's lock: try again later (exit code 75, EX_TEMPFAIL)."""


class ClusterError(ClustererError):
    """A Ray cluster cannot be used: Ray is not installed, no cluster answers at the
    address given, or the cluster failed the work."""


class ServeError(ClustererError):
    """``cluster serve`` cannot start as asked: its extra is not installed, a token
    file cannot be read, or a host other than loopback is given without a token."""


class OutputError(ClustererError):
    """An output cannot be written as asked: a folder holding other files, a file
    where a folder is needed, a format whose library is not installed."""


def is_disk_full(exc: Exception) -> bool:
    """True for SQLite's (or the OS's) report that the disk or the quota is full."""
    import errno
    import sqlite3

    if isinstance(exc, OSError):
        return exc.errno in (errno.ENOSPC, errno.EDQUOT)
    return getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL or "disk is full" in str(exc)


def is_damaged_database(exc: Exception) -> bool:
    """True for SQLite's words for a damaged file (not for a lock or a full disk)."""
    text = str(exc).lower()
    return any(word in text for word in ("malformed", "not a database", "corrupt"))
