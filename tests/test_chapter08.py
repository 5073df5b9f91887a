"""Chapter 8's exercises: the measured categories it states, computed by the same function the book uses."""

import labsupport as ls


def measured(r_true, r_proxy, pi0):
    table = ls.categorize(ls.Bandit(r_true=r_true, r_proxy=r_proxy, init_probs=pi0), steps=20_000)
    return dict(zip(table.output, zip(table.predicted, table.measured)))


def test_exercise_8_1_errors_interact():
    assert measured([1, .6, 0, -1], [1, -.5, .7, -1], [.1, .4, .4, .1]) == {
        "y1": ("beneficial", "harmful"), "y2": ("harmful", "harmful")}
    assert measured([1, .6, 0, -1], [1, -.5, 0, -1], [.1, .4, .4, .1]) == {"y1": ("beneficial", "beneficial")}


def test_exercise_8_3_silent_rules():
    assert measured([1, .8, -1], [1, .95, -1], [.1, .6, .3]) == {"y1": ("unclassified", "harmful")}
    assert measured([1, .8, -1], [1.5, .8, -1], [.1, .6, .3]) == {"y0": ("unclassified", "beneficial")}
