"""The wire, without Csound: what the server makes of a client's message and
options, and what csws.client makes of the server's frames.

Unit tests of pure functions, run once (not per Csound major); the
integration tests show the same rules on a real port.
"""
from __future__ import annotations

import json
import re

import numpy as np
import pytest

from csws import client
from csws.protocol.options import MAX_FRAMES, BadOption, Options, WrongWay, convert, parse
from csws.protocol.variables import MAX_STRING, BadMessage, Direction, Kind, VarSpec, decode

KSMPS = 4


def spec(kind: Kind, shape: tuple[int, ...] = (), direction: Direction = Direction.FROM_WEB,
         name: str = "v", init: bytes | None = None) -> VarSpec:
    """A variable as the plugin registers it: a-rate frames hold KSMPS samples per element."""
    values = int(np.prod(shape)) * (KSMPS if kind.is_audio else 1)
    return VarSpec(name, kind, direction, shape, MAX_STRING if kind is Kind.S else 8 * values, init, KSMPS)


K = spec(Kind.K)
KARR = spec(Kind.KARR, (2, 2), name="kArr")
S = spec(Kind.S, name="Sin")

# ---------------------------------------------------------------- a client's message to Csound


def test_float64_frame_passes_bit_exact():
    values = np.array([1 / 3, -0.0, 1e300, 5e-324])
    assert decode(KARR, values.tobytes()) == values.tobytes()


def test_float32_frame_of_the_same_count_is_widened():
    values = np.array([0.1, 2.5, -3, 4], dtype=np.float32)
    assert decode(KARR, values.tobytes()) == values.astype(np.float64).tobytes()


def test_json_number_and_nested_array_read_row_major():
    assert decode(K, "2.5") == np.float64(2.5).tobytes()
    assert decode(KARR, "[[1, 2], [3, 4]]") == np.arange(1.0, 5.0).tobytes()


def test_wrong_binary_size_names_both_sizes_it_takes():
    with pytest.raises(BadMessage, match=r"kArr: a binary message of 12 bytes; expected 32 \(4 float64\) "
                                         r"or 16 \(4 float32\)"):
        decode(KARR, bytes(12))


@pytest.mark.parametrize("text", ["[1, 2, 3]", "[1, 2, 3, true]", "[1, 2, 3, NaN]", "[1, 2, 3, Infinity]",
                                  '{"a": 1}', "[1, 2, 3, " + "9" * 400 + "]"])
def test_json_of_the_wrong_count_or_not_finite_numbers_is_refused(text):
    with pytest.raises(BadMessage, match=r"kArr: expected a JSON array of 4 numbers"):
        decode(KARR, text)


def test_text_that_is_not_json_is_refused():
    with pytest.raises(BadMessage, match="kArr: text that is not a JSON number or array"):
        decode(KARR, "one, two")


def test_strings_pass_as_utf8_up_to_the_limit():
    assert decode(S, "été") == "été".encode()
    assert decode(S, "é" * 50, max_string=100) == ("é" * 50).encode()
    with pytest.raises(BadMessage, match="Sin: a string of 101 bytes, at most 100"):
        decode(S, "x" * 101, max_string=100)


def test_binary_string_that_is_not_utf8_is_refused():
    with pytest.raises(BadMessage, match="Sin: not UTF-8"):
        decode(S, b"ok \xff")


def test_a_new_client_gets_the_init_value_of_what_csound_sends_only():
    to_web = spec(Kind.S, direction=Direction.TO_WEB, init="héllo".encode())
    assert to_web.initial_message() == "héllo"
    half = np.float64(0.5).tobytes()
    assert spec(Kind.I, direction=Direction.TO_WEB, init=half).initial_message() == half
    assert spec(Kind.S, init=b"typed in").initial_message() is None  # from the web: nothing to echo


# ---------------------------------------------------------------- a client's options (?dtype=, frames=, direction=)

AUDIO_OUT = spec(Kind.AARR, (3,), Direction.TO_WEB, "aArr")
K_OUT = spec(Kind.K, direction=Direction.TO_WEB, name="kv")


def test_no_options_and_foreign_parameters_mean_the_defaults():
    assert parse("/", K_OUT) == parse("/?token=s3cret&x=1", K_OUT) == Options("float64", 1)


def test_dtype_and_frames_are_read_loosely_and_the_last_one_counts():
    assert parse("/?dtype= Float32 &frames=8", AUDIO_OUT) == Options("float32", 8)
    assert parse("/?dtype=float32&dtype=float64", AUDIO_OUT) == Options("float64", 1)


def test_unknown_dtype_says_which_there_are():
    with pytest.raises(BadOption, match="dtype='int16': use float64 or float32"):
        parse("/?dtype=int16", K_OUT)


@pytest.mark.parametrize("frames", ["0", "-1", "1.5", "abc", "", str(MAX_FRAMES + 1)])
def test_frames_outside_1_to_4096_are_refused(frames):
    with pytest.raises(BadOption, match=f"a whole number from 1 to {MAX_FRAMES}"):
        parse(f"/?frames={frames}", AUDIO_OUT)


@pytest.mark.parametrize("var", [K_OUT, spec(Kind.A, name="ain")], ids=["k-rate", "a-rate-from-web"])
def test_frames_above_1_only_for_audio_to_the_web(var):
    assert parse("/?frames=1", var) == Options()
    with pytest.raises(BadOption, match=f"frames= is for a-rate variables sent to the web; {var.name} is not one"):
        parse("/?frames=2", var)


def test_frames_capped_by_the_message_size():
    wide = spec(Kind.AARR, (1024,), Direction.TO_WEB)  # 32 KiB a frame
    assert parse("/?frames=512", wide).frames == 512  # 16 MiB
    with pytest.raises(BadOption, match="frames=513: messages of more than 16 MiB"):
        parse("/?frames=513", wide)


def test_direction_the_variable_goes_is_accepted():
    assert parse("/?direction=TO_WEB", K_OUT) == Options()
    assert parse("/?direction=from_web", K) == Options()


@pytest.mark.parametrize("var, expected, says", [
    (K_OUT, "from_web", "kv goes from Csound to the web (to_web): receive it, it takes no messages"),
    (spec(Kind.K, name="kin"), "to_web", "kin goes from the web to Csound (from_web): send to it, it sends nothing"),
])
def test_the_other_direction_is_wrong_way_with_what_to_do(var, expected, says):
    with pytest.raises(WrongWay, match=f"^{re.escape(says)}$"):
        parse(f"/?direction={expected}", var)


def test_unknown_direction_names_both():
    with pytest.raises(BadOption, match=r"direction='up': use to_web \(to receive\) or from_web \(to send\)"):
        parse("/?direction=up", K_OUT)


def test_float32_clients_get_numbers_narrowed_and_strings_unchanged():
    frame = np.array([0.1, 1 / 3, -2.0, 1e6]).tobytes()
    assert convert(KARR, frame, "float64") is frame
    assert convert(KARR, frame, "float32") == np.array([0.1, 1 / 3, -2.0, 1e6], dtype=np.float32).tobytes()
    assert convert(S, "text", "float32") == "text"


# ---------------------------------------------------------------- csws.client: what /csws.json says, frames as arrays


def described(var: VarSpec) -> client.Variable:
    """The client's Variable for `var`, through the server's /csws.json description of it."""
    return client.Variable.from_json(json.loads(json.dumps(var.describe())))


def test_client_shapes_frames_as_csound_holds_them():
    assert described(K_OUT).frame_shape() == ()
    assert described(spec(Kind.A, direction=Direction.TO_WEB)).frame_shape(frames=3) == (3 * KSMPS,)
    assert described(KARR).frame_shape() == (2, 2)
    assert described(AUDIO_OUT).frame_shape() == (3, KSMPS)


def test_client_decodes_a_number_and_a_row_major_array():
    assert client.decode(described(K_OUT), np.float64(0.25).tobytes()) == 0.25
    got = client.decode(described(KARR), np.arange(4.0).tobytes())
    np.testing.assert_array_equal(got, [[0, 1], [2, 3]])
    assert got.flags.writeable, "an array of its own, not a read-only view of the message"
    narrow = np.arange(4.0, dtype="<f4").tobytes()
    np.testing.assert_array_equal(client.decode(described(KARR), narrow, "float32"), [[0, 1], [2, 3]])


def test_client_deinterleaves_audio_arrays_and_joins_frames():
    var = described(AUDIO_OUT)
    planar = np.arange(3)[:, None] * 100.0 + np.arange(2 * KSMPS)[None, :]  # 2 k-cycles of 3 channels
    wire = planar.T.tobytes()  # interleaved: sample by sample, each with its 3 channels
    np.testing.assert_array_equal(client.decode(var, wire, frames=2), planar)


def test_client_refuses_a_frame_of_the_wrong_size_or_kind():
    with pytest.raises(client.CswsError, match="kArr: a message of 24 bytes; expected 4 float64 values"):
        client.decode(described(KARR), bytes(24))
    with pytest.raises(client.CswsError, match="kArr: a text message on a numeric variable"):
        client.decode(described(KARR), "[1, 2, 3, 4]")
    with pytest.raises(client.CswsError, match="Sin: a binary message on a string variable"):
        client.decode(described(S), b"abc")


def test_client_encodes_what_the_server_decodes():
    assert decode(K, client.encode(described(K), 0.5)) == np.float64(0.5).tobytes()
    assert client.encode(described(K), [0.5]) == np.float64(0.5).tobytes()  # one number, as a 1-element list
    planar = np.arange(3 * KSMPS, dtype=np.float64).reshape(3, KSMPS)
    audio_in = spec(Kind.AARR, (3,))
    wire = decode(audio_in, client.encode(described(audio_in), planar))
    np.testing.assert_array_equal(np.frombuffer(wire).reshape(KSMPS, 3), planar.T)  # interleaved, as Csound wants
    assert client.encode(described(S), "hi") == "hi"


@pytest.mark.parametrize("var, value, says", [
    (KARR, [1, 2, 3], r"kArr \(k\[\]\) takes an array of shape \(2, 2\); got shape \(3,\)"),
    (KARR, "1 2 3 4", r"kArr \(k\[\]\) takes an array of shape \(2, 2\), not str"),
    (K, ["x"], r"v \(k\) takes a number; got \['x'\]"),
    (S, 5, r"Sin \(S\) takes a str, not int"),
])
def test_client_refuses_a_value_of_the_wrong_shape_before_sending(var, value, says):
    with pytest.raises(ValueError, match=says):
        client.encode(described(var), value)


@pytest.mark.parametrize("typed, url", [
    ("9000", "ws://127.0.0.1:9000"), ("box.local:9000", "ws://box.local:9000"),
    ("http://box:9000/", "ws://box:9000/"), ("HTTPS://box:9000", "wss://box:9000"), (" ws://h:1 ", "ws://h:1"),
])
def test_client_takes_the_addresses_people_type(typed, url):
    assert client.Client(typed).url == url


def test_client_refuses_options_the_server_would():
    with pytest.raises(ValueError, match="dtype='int8': use float64 or float32"):
        client.Client(dtype="int8")
    cs = client.Client()
    with pytest.raises(ValueError, match=f"frames=0: a whole number from 1 to {MAX_FRAMES}"):
        cs.subscribe("aArr", frames=0)
    cs.variables["kv"] = described(K_OUT)
    with pytest.raises(ValueError, match="frames=2 is for a-rate variables; kv is k"):
        cs.subscribe("kv", frames=2)
    cs.variables["kin"] = described(K)
    with pytest.raises(ValueError, match="goes from the web to Csound: send"):
        cs.subscribe("kin")
