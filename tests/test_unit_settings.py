"""Settings without Csound: csws.protocol.settings.Settings as the environment and
`websocket_config` give them, and the messages for bad ones.  Run once, not
per Csound major; test_config_opcode.py shows the same through an orchestra.
"""
from __future__ import annotations

import re
from dataclasses import fields

import pytest

from csws.protocol.settings import Settings


@pytest.fixture(autouse=True)
def no_csws_environment(monkeypatch):
    """Settings read CSWS_* variables: none of the caller's."""
    for f in fields(Settings):
        monkeypatch.delenv("CSWS_" + f.name.upper(), raising=False)


def test_nothing_set_means_the_documented_defaults():
    settings = Settings.from_env()
    assert settings == Settings()
    assert (settings.host, settings.max_clients, settings.max_string, settings.origins, settings.token) == \
        ("127.0.0.1", 64, 4096, (), "")


def test_environment_values_are_typed(monkeypatch):
    monkeypatch.setenv("CSWS_MAX_CLIENTS", "3")
    monkeypatch.setenv("CSWS_BUFFER_SECONDS", "0.5")
    monkeypatch.setenv("CSWS_ORIGINS", " http://a.example, ,null ")
    settings = Settings.from_env()
    assert (settings.max_clients, settings.buffer_seconds, settings.origins) == (3, 0.5, ("http://a.example", "null"))


def test_the_orchestra_wins_over_the_environment(monkeypatch):
    monkeypatch.setenv("CSWS_TOKEN", "from-env")
    monkeypatch.setenv("CSWS_MAX_CLIENTS", "3")
    settings = Settings.from_env({"token": "from-orchestra"})
    assert (settings.token, settings.max_clients) == ("from-orchestra", 3)


def test_an_unknown_name_lists_the_settings():
    with pytest.raises(ValueError, match=r"^no setting named 'colour'; the settings are: host, buffer_seconds, "):
        Settings.check("colour", "blue")


@pytest.mark.parametrize("name, value", [("max_clients", "many"), ("max_clients", "1.5"), ("buffer_seconds", "")])
def test_a_value_that_is_not_a_number_says_so(name, value):
    with pytest.raises(ValueError, match=f"^{re.escape(f'{name} = {value!r}: not a number')}$"):
        Settings.check(name, value)


@pytest.mark.parametrize("name, value, says", [
    ("max_clients", "0", "max_clients (CSWS_MAX_CLIENTS) = '0': must be from 1 to 10000"),
    ("max_clients", "10001", "max_clients (CSWS_MAX_CLIENTS) = '10001': must be from 1 to 10000"),
    ("max_string", "4097", "max_string (CSWS_MAX_STRING) = '4097': must be from 1 to 4096 bytes"),
    ("buffer_seconds", "nan", "buffer_seconds (CSWS_BUFFER_SECONDS) = 'nan': must be from 0.001 to 60 seconds"),
    ("handshake_timeout", "inf",
     "handshake_timeout (CSWS_HANDSHAKE_TIMEOUT) = 'inf': must be from 0.01 to 3600 seconds"),
])
def test_a_number_out_of_range_names_the_range(name, value, says):
    with pytest.raises(ValueError, match=f"^{re.escape(says)}$"):
        Settings.check(name, value)


@pytest.mark.parametrize("name, value", [("max_clients", "1"), ("max_clients", "10000"), ("max_string", "4096"),
                                         ("buffer_seconds", "0.001"), ("handshake_timeout", "3600"),
                                         ("token", ""), ("origins", "*")])
def test_the_ends_of_each_range_and_any_text_are_accepted(name, value):
    Settings.check(name, value)
