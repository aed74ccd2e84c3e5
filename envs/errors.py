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
