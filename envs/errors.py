"""Typed errors of the environment layer.

Every error a user can cause with bad input is a subclass of `FmatError`, so the CLI can print its
message as one line and exit with code 2 instead of showing a traceback.
"""


class FmatError(Exception):
    """Base class for user-facing errors: the message names the thing and says what to do instead."""


class UnknownScenarioError(FmatError, KeyError):
    """A scenario name that is neither built in nor a synthetic grid pattern."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


class ScenarioFileError(FmatError, ValueError):
    """A net, route or config file that is missing, not SUMO XML, or unusable."""


class NoTrafficLightsError(FmatError, ValueError):
    """A network with no signalised intersection, so there is no agent to control."""


class InvalidOptionError(FmatError, ValueError):
    """An environment option with a value outside its allowed range."""


def first_line(exc: BaseException, limit: int = 120) -> str:
    """The start of an exception's message, for a one-line error."""
    lines = [line.strip() for line in str(exc).strip().splitlines()] or [type(exc).__name__]
    text = " ".join(lines[:2]) if lines[0].endswith(":") and len(lines) > 1 else lines[0]  # torch's "Error(s) in ...:"
    text = text.split(". ")[0]
    return text if len(text) <= limit else text[: limit - 3] + "..."
