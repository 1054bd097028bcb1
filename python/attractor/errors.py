"""The exceptions the engine's errors are raised as.

Each carries the engine's message unchanged: for a bad experiment it names
the key, the value and what is allowed, e.g.
``key `network.n` = 0: a positive integer``.
"""

from __future__ import annotations

from typing import Any, Optional


class AttractorError(Exception):
    """Any error of the attractor engine."""


class ExperimentError(AttractorError, ValueError):
    """An experiment (file, dict or override) that is not valid: the message
    names the key, the value and what is allowed."""


class DivergenceError(AttractorError, ArithmeticError):
    """The state became NaN or infinite. ``result`` holds the records up to
    the last finite one."""

    def __init__(self, message: str, result: Optional[Any] = None) -> None:
        super().__init__(message)
        self.result = result


class BackendError(AttractorError, RuntimeError):
    """A backend that is not available here, or a GPU that failed during the
    run (``result``, when set, holds the records made before)."""

    def __init__(self, message: str, result: Optional[Any] = None) -> None:
        super().__init__(message)
        self.result = result


class OutputError(AttractorError, OSError):
    """An output folder or file that cannot be written."""
