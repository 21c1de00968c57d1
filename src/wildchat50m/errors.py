"""The base class of the package's own errors.

Library code raises a subclass of :class:`WildChat50mError` for every failure a user can cause
or fix (bad input, a wrong option, a missing extra, an interrupted job). The command line turns
exactly these into a one-line message at its root; any other exception is a bug and keeps its
traceback.
"""

from __future__ import annotations


class WildChat50mError(Exception):
    """A failure the user can act on; its message says what went wrong and what to do."""


class MissingExtraError(WildChat50mError, ImportError):
    """An optional dependency is not installed; the message names the extra to install."""


class InvalidSettingError(WildChat50mError, ValueError):
    """A setting (an option or a keyword argument) has a value that cannot work."""
