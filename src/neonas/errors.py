"""User-facing errors.

Anything a user can cause (a bad file, a wrong config key) raises `NeonasError`. The CLI prints its
message on one line, without a traceback, and exits with status 2. Programming errors keep their
tracebacks.
"""

from __future__ import annotations

import os


class NeonasError(Exception):
    """An error caused by the user's input. The message names the file/field and what was expected."""

    def __init__(self, message: str, path: str | os.PathLike | None = None):
        self.path = None if path is None else str(path)
        super().__init__(f"{self.path}: {message}" if self.path else message)
