"""The one error type for problems the person running fengqiao must fix.

Bad input, settings or arguments raise `UsageError` (or a type of their own); the command line
says its message and exits with 2. Any other exception is a bug: the command line says so, writes
the traceback to a log file and exits with 1.
"""

from __future__ import annotations


class UsageError(ValueError):
    """A problem with the input, the settings or the arguments, said so that a person can fix it."""
