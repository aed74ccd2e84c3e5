from pathlib import Path

from fmat.plot import line_styles, seed_note
from fmat.report import Run


def test_seed_note_names_only_the_algorithms_off_the_common_count():
    assert seed_note({"f-MAT": 3, "MAT": 3, "fixed-time": 3}) == "3 seeds each"
    assert seed_note({"f-MAT": 1}) == "1 seed each"
    assert seed_note({"f-MAT": 3, "MAT": 1, "MAPPO": 1, "IPPO": 1, "fixed-time": 1}) == "1 seed each, except f-MAT 3"
    assert seed_note({"IDQN": 2, "IPPO": 3}) == "3 seeds each, except IDQN 2"
    note = seed_note({"a": 3, "b": 3, "c": 3, "d": 1, "e": 2, "f": 1, "g": 2, "h": 1}, per_line=2)
    assert note.splitlines() == ["3 seeds each, except d 1, e 2,", "f 1, g 2,", "h 1"]


def test_each_setting_of_one_learner_gets_its_own_line_style():
    def run(algorithm, name):
        return Run(algorithm, "rush-4x4", 0, Path("."), name=name)

    runs = [run("fmat", "fmat (wait)"), run("fmat", "fmat (queue)"), run("ippo", "ippo (wait)"), run("ippo", "ippo (queue)"),
            run("idqn", "idqn"), run("greedy", "greedy")]
    styles = line_styles(runs)
    assert styles["fmat (queue)"] != styles["fmat (wait)"] and styles["ippo (queue)"] != styles["ippo (wait)"]
    assert styles["fmat (queue)"] == styles["ippo (queue)"] == styles["idqn"] == "-"  # the first setting is solid
    assert "--" not in styles.values()  # dashed stays the controllers' mark (their level lines)
