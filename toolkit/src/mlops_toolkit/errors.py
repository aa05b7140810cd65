"""Expected failures of a local run: each carries one message meant for a person."""

from __future__ import annotations


class LocalRunError(Exception):
    """A local run cannot start or go on; the message says what to change."""


class UnsupportedStepError(LocalRunError):
    """The definition holds a step type (or a step feature) the local runner cannot execute."""


class ResolutionError(LocalRunError):
    """A ``Get``/``Std:Join``/``Std:JsonGet`` expression cannot be resolved."""


class StepFailed(LocalRunError):
    """A step ran and failed (bad input data, a script error, a rejected AWS call)."""
