"""Unit: what an edge makes of Csound's description (csws/serve/edge.py, VarSpec.from_json)."""
from __future__ import annotations

import pytest

from csws.protocol.variables import MAX_STRING, Direction, Kind, VarSpec

KSMPS = 32
SPECS = [
    VarSpec("kx", Kind.K, Direction.TO_WEB, (), 8, None, KSMPS),
    VarSpec("ain", Kind.A, Direction.FROM_WEB, (), 16 * 8, None, 16),  # a local ksmps of 16
    VarSpec("ival", Kind.I, Direction.TO_WEB, (), 8, None, KSMPS),
    VarSpec("Sname", Kind.S, Direction.FROM_WEB, (), MAX_STRING, None, KSMPS),
    VarSpec("kArr", Kind.KARR, Direction.TO_WEB, (3, 4), 12 * 8, None, KSMPS),
    VarSpec("aArr", Kind.AARR, Direction.TO_WEB, (2,), 2 * KSMPS * 8, None, KSMPS),
    VarSpec("iArr", Kind.IARR, Direction.TO_WEB, (5,), 5 * 8, None, KSMPS),
]


@pytest.mark.parametrize("spec", SPECS, ids=[s.name for s in SPECS])
def test_a_description_makes_the_same_variable(spec):
    again = VarSpec.from_json(spec.describe(), KSMPS)
    assert again == spec
    assert again.describe() == spec.describe()


@pytest.mark.parametrize("broken", [
    {},
    {**SPECS[0].describe(), "type": "f"},
    {**SPECS[0].describe(), "direction": "sideways"},
    {**SPECS[0].describe(), "shape": "3"},
    {**SPECS[0].describe(), "values": -1},
    {**SPECS[0].describe(), "frame_samples": 0},
])
def test_a_broken_description_is_refused_saying_so(broken):
    with pytest.raises(ValueError, match="description"):
        VarSpec.from_json(broken, KSMPS)
