from pathlib import Path

from fmat import atomic, plot as plot_module
from fmat.plot import line_styles, plot, seed_note
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


def test_legend_follows_the_registry_order_whatever_the_display_names(tmp_path, monkeypatch):
    rows = [{"episode": i, "env_steps": 360 * (i + 1), "wall_seconds": i + 1.0, "delay": 50.0 - i} for i in range(3)]
    runs = []
    for algorithm, name in [("greedy", "greedy"), ("ippo", "ippo (queue)"), ("fmat", "fmat (wait)"), ("fmat", "fmat (queue)")]:
        for seed in (0, 1):
            run = Run(algorithm, "rush-4x4", seed, tmp_path, name=name)
            run.curve = lambda: rows
            runs.append(run)
    monkeypatch.setitem(plot_module.LABELS, "ippo", "IPPO (independent)")  # a display name with " (" in it
    figures = []
    monkeypatch.setattr(atomic, "save_figure", lambda fig, out: figures.append(fig) or Path(out))
    plot(runs, str(tmp_path / "curves.png"))
    texts = [t.get_text() for t in figures[0].legends[0].get_texts()]
    assert sorted(texts[:2]) == ["f-MAT (queue)", "f-MAT (wait)"]
    assert texts[2:] == ["IPPO (independent) (queue)", "greedy"]


def test_runs_of_one_episode_are_points_not_a_line_through_the_seeds(tmp_path, monkeypatch):
    runs = []
    for seed, (seconds, delay) in enumerate([(500.0, 1283.0), (540.0, 1282.0), (700.0, 1262.0)]):
        run = Run("fmat", "rush-32x32", seed, tmp_path)
        run.curve = lambda row={"episode": 0, "env_steps": 360, "wall_seconds": seconds, "delay": delay}: [row]
        runs.append(run)
    learning = Run("ippo", "rush-32x32", 0, tmp_path)
    learning.curve = lambda: [{"episode": i, "env_steps": 360 * (i + 1), "wall_seconds": 500.0 * (i + 1), "delay": 1280.0 - i}
                              for i in range(2)]
    figures = []
    monkeypatch.setattr(atomic, "save_figure", lambda fig, out: figures.append(fig) or Path(out))
    plot(runs + [learning], str(tmp_path / "curves.png"), x="seconds")
    lines = figures[0].axes[0].get_lines()
    points = [line for line in lines if line.get_linestyle() == "None"]
    assert len(points) == 1 and list(points[0].get_xdata()) == [500.0, 540.0, 700.0]
    assert list(points[0].get_ydata()) == [1283.0, 1282.0, 1262.0]
    assert sum(line.get_linestyle() == "-" for line in lines) == 1  # IPPO's two episodes stay a curve
    assert "one per seed" in figures[0]._suptitle.get_text().replace("\n", " ")  # the title does not call them a mean

    curve = Run("fmat", "rush-4x4", 0, tmp_path)  # a panel before, where f-MAT learns: its legend entry is a line
    curve.curve = learning.curve
    plot([curve] + runs, str(tmp_path / "curves.png"), x="seconds")
    handles = {text.get_text(): handle for text, handle in zip(figures[1].legends[0].get_texts(), figures[1].legends[0].legend_handles)}
    assert handles["f-MAT"].get_linestyle() == "-"

    plot([curve, learning], str(tmp_path / "curves.png"), x="seconds")  # no one-episode runs: the plain title
    assert "one per seed" not in figures[2]._suptitle.get_text().replace("\n", " ")

    trained = Run("fmat", "rush-32x32", 3, tmp_path)  # a seed that trained on beside the stopped ones
    trained.curve = learning.curve
    plot(runs + [trained], str(tmp_path / "curves.png"), x="seconds")
    lines = figures[3].axes[0].get_lines()
    assert [list(line.get_xdata()) for line in lines if line.get_linestyle() == "None"] == [[500.0, 540.0, 700.0]]
    curve, = [line for line in lines if line.get_linestyle() == "-"]
    assert list(curve.get_ydata()) == [1280.0, 1279.0]  # that seed alone, not averaged with the stopped ones
    assert "one per seed" in figures[3]._suptitle.get_text().replace("\n", " ")
    assert "4 seeds each" in figures[3].axes[0].texts[0].get_text()
