"""The control socket's messages without Csound or a server (csws.protocol.control),
and the orchestra's ranges for variables (csws.protocol.settings).  Run once, not per
Csound major; test_channels.py speaks the same to a real Csound.
"""
from __future__ import annotations

import json
from dataclasses import dataclass

import pytest

from csws.protocol import control
from csws.protocol.control import BadRequest
from csws.protocol.settings import Settings


@dataclass
class Channel:
    name: str
    type: str


def test_a_request_is_a_json_object_with_a_known_op_and_an_optional_id():
    req = control.parse('{"op": "get", "names": ["freq"], "id": "a1"}')
    assert (req.op, req.rid, control.names(req)) == ("get", "a1", ["freq"])
    assert control.names(control.parse('{"op": "watch", "names": "*"}'), wildcard=True) is None
    for bad, why in (("[1]", "JSON object"), ("{", "not JSON"), ('{"op": "rm"}', "unknown op 'rm'"),
                     ('{"op": "get", "id": [1]}', "id"), ('{"op": "get", "id": true}', "id")):
        with pytest.raises(BadRequest, match=why):
            control.parse(bad)
    with pytest.raises(BadRequest, match="text messages"):
        control.parse(b"{}")
    with pytest.raises(BadRequest, match="list of channel names") as e:
        control.names(control.parse('{"op": "get", "names": 3, "id": 7}'))
    assert e.value.rid == 7, "the answer carries the request's id"


def test_values_are_checked_against_the_channels_type():
    assert control.check_value(Channel("f", "control"), 3) == 3.0
    assert control.check_value(Channel("s", "string"), "héllo") == "héllo"
    for value in ("3", True, None, float("nan"), float("inf"), [1]):
        with pytest.raises(BadRequest, match="finite number"):
            control.check_value(Channel("f", "control"), value)
    for value in (3, None):
        with pytest.raises(BadRequest, match="send a string"):
            control.check_value(Channel("s", "string"), value)
    with pytest.raises(BadRequest, match="NUL"):
        control.check_value(Channel("s", "string"), "a\0b")


def test_score_lines_pages_may_send():
    assert control.check_score("i 1 0 3") == "i 1 0 3\n"
    assert control.check_score("  i1 0 1 ; note\n\nf 1 0 1024 10 1\nd 1 0 1\nq 1 0 0").count("\n") == 5
    for refused, why in (("e", "e ends the performance"), ("i 1 0 1\ne", "line 2"),
                         ('#include "x"', "preprocessor"), ("s", "not a score statement"),
                         ("{ 4 CNT", "not a score statement"), (" ; only\n", "empty")):
        with pytest.raises(BadRequest, match=why):
            control.check_score(refused)


def test_answers_and_pushes_are_json():
    assert json.loads(control.answer(3, {"f": 1.5})) == {"id": 3, "ok": {"f": 1.5}}
    assert json.loads(control.error(3, "no")) == {"id": 3, "error": "no"}
    assert json.loads(control.error(None, "no", "set")) == {"op": "error", "error": "no", "request": "set"}
    assert json.loads(control.push("values", values={"f": 2})) == {"op": "values", "values": {"f": 2}}


def test_a_variables_range_from_the_orchestra():
    s = Settings.from_env({"range.kfreq": "20 20000 exponential", "range.kvoices": "1 16 integer",
                           "range.kamp": "0 1"})
    assert s.range_of("kfreq") == {"min": 20, "max": 20000, "behaviour": "exponential"}
    assert s.range_of("kvoices")["behaviour"] == "integer"
    assert s.range_of("kamp") == {"min": 0, "max": 1, "behaviour": "linear"}
    assert s.range_of("kother") is None
    Settings.check("range.kx", "-1 1")
    for bad, why in (("1", "min max"), ("5 1", "below max"), ("0 10 exponential", "not 0"),
                     ("-1 1 exponential", "sign"), ("0 1 log", "optionally one of"), ("0 nan", "optionally")):
        with pytest.raises(ValueError, match=why):
            Settings.check("range.kx", bad)
    with pytest.raises(ValueError, match="range.NAME"):
        Settings.check("ranges", "x")


def test_code_is_a_setting_of_zero_or_one():
    assert Settings.from_env({"allow_code": "1"}).allow_code == 1
    assert Settings.from_env({}).allow_code == 0
    with pytest.raises(ValueError, match="from 0 to 1"):
        Settings.check("allow_code", "2")
