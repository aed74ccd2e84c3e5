"""fmat: multi-agent RL benchmark suite for traffic signal control on SUMO."""

__version__ = "0.1.0"
