from fmat.plot import seed_note


def test_seed_note_is_short_when_counts_agree_and_wraps_when_they_differ():
    assert seed_note({"f-MAT": 3, "MAT": 3, "fixed-time": 3}) == "3 seeds each"
    assert seed_note({"f-MAT": 1}) == "1 seed each"
    note = seed_note({"f-MAT": 3, "MAT": 1, "MAPPO": 1, "IPPO": 1, "fixed-time": 1}, per_line=4)
    assert note.splitlines() == ["seeds: f-MAT 3, MAT 1, MAPPO 1, IPPO 1,", "fixed-time 1"]
