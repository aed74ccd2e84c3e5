"""Episode metrics from SUMO's output files: the numbers every fmat table reports."""
from __future__ import annotations

import math
import xml.etree.ElementTree as ET

METRICS = ("delay", "travel_time", "waiting_time", "throughput", "queue", "teleports", "trips")


def tripinfo_metrics(path: str) -> dict[str, float]:
    """Summarise a tripinfo file written with write-unfinished and write-undeparted.

    - delay: RESCO's average delay, the mean over every trip scheduled in the window of
      timeLoss + departDelay. A vehicle still waiting to enter at the end has depart="-1" and
      SUMO sets its departDelay to end - scheduled depart, which is RESCO's term for such trips.
    - travel_time: mean duration of the trips that arrived.
    - waiting_time: mean accumulated waiting time (speed < 0.1 m/s) over all trips.
    - throughput: number of vehicles that arrived.
    - trips: number of trips counted in the delay.
    """
    delay = waiting = travel = 0.0
    trips = arrived = 0
    for _, elem in ET.iterparse(path, events=("end",)):
        if elem.tag != "tripinfo":
            continue
        trips += 1
        delay += float(elem.get("timeLoss", 0)) + float(elem.get("departDelay", 0))
        waiting += float(elem.get("waitingTime", 0))
        if float(elem.get("arrival", -1)) >= 0:
            arrived += 1
            travel += float(elem.get("duration", 0))
        elem.clear()
    return {
        "delay": delay / trips if trips else math.nan,
        "travel_time": travel / arrived if arrived else math.nan,
        "waiting_time": waiting / trips if trips else math.nan,
        "throughput": float(arrived),
        "trips": float(trips),
    }


def teleports(statistics_path: str) -> float:
    """Total teleports from SUMO's --statistic-output file."""
    for _, elem in ET.iterparse(statistics_path, events=("end",)):
        if elem.tag == "teleports":
            return float(elem.get("total", 0))
    return 0.0
