"""Domain exceptions: a user's mistake is reported in one line, never a traceback."""


class ClustererError(Exception):
    """Base class for errors a user can act on."""


class CorpusError(ClustererError):
    """The corpus path is missing, empty or unusable as a whole."""


class ModelError(ClustererError):
    """An embedding model cannot be found or loaded."""


class StateError(ClustererError):
    """The nightly state database is locked, corrupt or from another model."""


class StateLocked(StateError):
    """Another run holds the state's lock: try again later (exit code 75, EX_TEMPFAIL)."""


def is_damaged_database(exc: Exception) -> bool:
    """True for SQLite's words for a damaged file (not for a lock or a full disk)."""
    text = str(exc).lower()
    return any(word in text for word in ("malformed", "not a database", "corrupt"))
