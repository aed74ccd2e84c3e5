"""Can a worker process run a second libsumo simulation and get what a fresh process gets?

Usage: PYTHONHASHSEED=H python results/perf/libsumo_reuse.py SCENARIO fresh|reuse|reuse_start

One episode with SUMO seed 7 under a greedy-like controller (each decision, the phase whose served
incoming lanes hold the most halted vehicles), run three ways: in a fresh process ("fresh"); after
an episode with seed 3 in the same process, loaded with `libsumo.load` ("reuse"); or after that
episode, closed and started again ("reuse_start"). Prints the episode's mean delay and throughput.
fmat's environment starts every episode in a fresh child process because the last two ways
sometimes differ from the first, intermittently (issue "Training at the speed of SUMO";
results/perf/libsumo_reuse.txt).
"""
import os, sys, tempfile, json
import libsumo
from fmat.envs import get_scenario, make_env
from fmat.envs.sumo import binary
from fmat.envs.metrics import tripinfo_metrics

name = sys.argv[1]; mode = sys.argv[2]  # fresh | reuse | reuse_start
sc = get_scenario(name)
env = make_env(name); sigs = env.signals; env.close()
d = tempfile.mkdtemp()
def args(seed, tag):
    return ["-n", sc.net, "-r", ",".join(sc.routes), "-b", f"{sc.begin:g}", "-e", f"{sc.end:g}", "--seed", str(seed),
            "--time-to-teleport", "-1", "--no-step-log", "--no-warnings", "--duration-log.disable",
            "--tripinfo-output", os.path.join(d, f"t{tag}.xml"), "--tripinfo-output.write-unfinished", "--tripinfo-output.write-undeparted"]
def episode():
    # a greedy-like controller: each decision, the green phase whose served in-lanes hold most halted vehicles
    t = sc.begin
    while t < sc.end:
        for s in sigs:
            lanes = [[s.in_lanes[i] for i, _ in moves] for moves in s.phase_movements]
            best = max(range(s.n_phases), key=lambda p: sum(libsumo.lane.getLastStepHaltingNumber(l) for l in lanes[p]))
            libsumo.trafficlight.setRedYellowGreenState(s.id, s.green_phases[best])
        t = min(t + sc.delta, sc.end); libsumo.simulationStep(t)
if mode == "fresh":
    libsumo.start([binary("sumo")] + args(7, "b")); episode(); libsumo.close()
else:
    libsumo.start([binary("sumo")] + args(3, "a")); episode()
    if mode == "reuse":
        libsumo.load(args(7, "b"))
    else:
        libsumo.close(); libsumo.start([binary("sumo")] + args(7, "b"))
    episode(); libsumo.close()
m = tripinfo_metrics(os.path.join(d, "tb.xml"))
print(mode, os.environ.get("PYTHONHASHSEED"), round(m["delay"], 4), m["throughput"])
