"""The crowd's arithmetic without Csound or sockets: csws.protocol.combine.Crowd, and the
messages for bad `combine.NAME` / `combine_window.NAME` settings.  Run once, not per major;
test_crowd.py shows the same through a real Csound and real clients."""
from __future__ import annotations

import math
import re

import pytest

from csws.protocol.combine import RULES, Crowd, Tally, exact_sum, parse_rule, parse_window
from csws.protocol.settings import Settings


def crowd_of(rule: str, values: dict[str, list[float]], window: float = 0.0, now: float = 0.0) -> Crowd:
    crowd = Crowd(rule, window)
    for client, v in values.items():
        crowd.update(client, v, now)
    return crowd


FIFTY = {f"c{i}": [float(i)] for i in range(1, 51)}


@pytest.mark.parametrize("rule, expected", [
    ("mean", 25.5), ("sum", 1275.0), ("min", 1.0), ("max", 50.0), ("count", 50.0)])
def test_fifty_clients_combine_exactly(rule, expected):
    assert crowd_of(rule, FIFTY).combine(1) == [expected]


def test_the_mean_is_exact_whatever_the_order_clients_came_in():
    values = [0.1, 1e16, 0.2, -1e16, 0.3]  # naive left-to-right addition loses the small ones
    forward = crowd_of("mean", {str(i): [v] for i, v in enumerate(values)}).combine(1)
    backward = crowd_of("mean", {str(i): [v] for i, v in enumerate(reversed(values))}).combine(1)
    assert forward == backward == [math.fsum([0.1, 0.2, 0.3]) / 5]
    assert sum(values) / 5 != forward[0]  # what a plain sum would have read


def test_a_client_that_sends_again_counts_once_with_its_newest_value():
    crowd = crowd_of("mean", {"a": [10.0], "b": [20.0]})
    for v in range(1000):
        crowd.update("a", [float(v)], 1.0)
    assert len(crowd) == 2
    assert crowd.combine(1) == [(999.0 + 20.0) / 2]
    assert crowd_of("count", {"a": [1.0], "b": [2.0]}).combine(1) == [2.0]


def test_a_client_that_leaves_stops_counting():
    crowd = crowd_of("sum", {"a": [1.0], "b": [2.0], "c": [4.0]})
    crowd.leave("b")
    assert crowd.combine(1) == [5.0]
    crowd.leave("nobody")  # leaving twice, or never having sent, is no error
    assert crowd.combine(1) == [5.0]


def test_arrays_combine_element_by_element():
    crowd = crowd_of("max", {"a": [1.0, 5.0, -3.0], "b": [4.0, 2.0, -7.0]})
    assert crowd.combine(3) == [4.0, 5.0, -3.0]
    crowd.rule = "mean"
    assert crowd.combine(3) == [2.5, 3.5, -5.0]
    crowd.rule = "count"
    assert crowd.combine(3) == [2.0, 2.0, 2.0]


def test_values_of_another_size_do_not_count():
    """The orchestra resized the array: a client's older values count again once it sends the new size."""
    crowd = crowd_of("sum", {"a": [1.0, 2.0], "b": [10.0, 20.0, 30.0]})
    assert crowd.combine(3) == [10.0, 20.0, 30.0]
    assert crowd.combine(2) == [1.0, 2.0]
    assert len(crowd.counted(4)) == 0


@pytest.mark.parametrize("rule, expected", [
    ("count", [0.0, 0.0]), ("sum", [0.0, 0.0]), ("mean", None), ("min", None), ("max", None)])
def test_with_nobody_counting_count_and_sum_are_zero_the_rest_keep_the_value(rule, expected):
    crowd = crowd_of(rule, {"a": [3.0, 4.0]})
    crowd.leave("a")
    assert crowd.combine(2) == expected


def test_the_window_expires_silent_clients_oldest_first():
    crowd = Crowd("count", window=10.0)
    crowd.update("early", [1.0], 0.0)
    crowd.update("late", [1.0], 5.0)
    crowd.update("early", [1.0], 6.0)  # speaking again keeps it in: now the later one to expire
    assert crowd.expire(14.9) == 15.0  # "late" goes first, at 5 + 10
    assert crowd.combine(1) == [2.0]
    assert crowd.expire(15.0) == 16.0
    assert crowd.combine(1) == [1.0]
    assert crowd.expire(16.0) is None
    assert crowd.combine(1) == [0.0]


def test_without_a_window_silence_never_expires():
    crowd = crowd_of("count", {"a": [1.0]})
    assert crowd.expire(1e9) is None
    assert crowd.combine(1) == [1.0]


def test_the_rules_are_spelt_as_documented():
    assert RULES == ("latest", "mean", "sum", "min", "max", "count")
    for rule in RULES:
        assert parse_rule("kvote", rule) == rule
        Settings.check("combine.kvote", rule)


@pytest.mark.parametrize("name, value, says", [
    ("combine.kvote", "median",
     "combine.kvote = 'median': give a variable's name and one of latest, mean, sum, min, max, count"),
    ("combine.kvote", "Mean",
     "combine.kvote = 'Mean': give a variable's name and one of latest, mean, sum, min, max, count"),
    ("combine.", "mean", "combine. = 'mean': give a variable's name and one of latest, mean, sum, min, max, count"),
    ("combine_window.kvote", "-1",
     "combine_window.kvote = '-1': give a variable's name and seconds from 0 "
     "(as long as the client stays connected) to 86400"),
    ("combine_window.kvote", "soon",
     "combine_window.kvote = 'soon': give a variable's name and seconds from 0 "
     "(as long as the client stays connected) to 86400"),
    ("combine_window.kvote", "nan",
     "combine_window.kvote = 'nan': give a variable's name and seconds from 0 "
     "(as long as the client stays connected) to 86400"),
])
def test_bad_values_say_what_is_wrong(name, value, says):
    with pytest.raises(ValueError, match=f"^{re.escape(says)}$"):
        Settings.check(name, value)


def test_windows_from_zero_to_a_day_are_accepted():
    assert parse_window("kvote", "0") == 0.0
    assert parse_window("kvote", "2.5") == 2.5
    assert parse_window("kvote", "86400") == 86400.0


def test_the_settings_list_names_the_combine_settings():
    with pytest.raises(ValueError, match=r"range\.NAME, combine\.NAME, combine_window\.NAME$"):
        Settings.check("combien.kvote", "mean")


@pytest.mark.parametrize("rule", ["mean", "sum", "min", "max", "count"])
def test_groups_tallied_apart_combine_as_one_crowd(rule):
    """Edges tally their own clients; Csound, counting the tallies, reads what one port would."""
    values = [0.1, 1e16, 0.2, -1e16, 0.3, 7.0, -2.5, 1e-300]
    whole = crowd_of(rule, {str(i): [v, -v] for i, v in enumerate(values)}).combine(2)
    groups = [values[:3], values[3:4], values[4:]]
    top = Crowd(rule)
    for g, part in enumerate(groups):
        edge = crowd_of(rule, {str(i): [v, -v] for i, v in enumerate(part)})
        top.update(f"edge{g}", Tally.from_json(edge.tally(2).to_json(), 2), 0.0)
    top.update("local", [5.0, -5.0], 0.0)  # a client on Csound's own port counts beside the edges
    alone = crowd_of(rule, {**{str(i): [v, -v] for i, v in enumerate(values)}, "local": [5.0, -5.0]}).combine(2)
    assert top.combine(2) == alone
    assert top.count(2) == len(values) + 1
    assert whole is not None


def test_exact_sum_keeps_every_bit_of_the_sum():
    values = [1e16, 1.0, -1e16, 1e-16, 3.0]
    assert math.fsum(exact_sum(values)) == math.fsum(values) == 4.0 + 1e-16
    assert exact_sum([1.0, math.inf]) == [math.inf]


def test_a_tally_of_the_wrong_size_is_refused():
    with pytest.raises(ValueError, match="wrong sizes"):
        Tally.from_json({"count": 2, "sums": [[1.0]], "mins": [1.0], "maxs": [1.0]}, 2)
    with pytest.raises(ValueError, match="not a tally"):
        Tally.from_json({"count": "x"}, 1)
    assert Tally.from_json({"count": 0, "sums": [], "mins": [], "maxs": []}, 3).count == 0
