"""Settings from the orchestra: `websocket_config "name", "value"`."""
from __future__ import annotations

import asyncio

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from wsclient import f64, frames


def orc(port: int, config: str) -> str:
    return f"""{config}
instr 1
  kcount init 0
  kcount += 1
  kd websocket {port}, kcount
endin"""


def test_token_from_the_orchestra(perform, port):
    p = perform(orc(port, 'websocket_config "token", "s3cret"'), "i1 0 60")
    p.wait_for(rf"csws: websocket server on ws://127\.0\.0\.1:{port}/")

    async def main():
        with pytest.raises(InvalidStatus) as refused:
            await connect(f"ws://127.0.0.1:{port}/", subprotocols=["kcount"])
        ws = await connect(f"ws://127.0.0.1:{port}/?token=s3cret", subprotocols=["kcount"])
        return refused.value.response.status_code, await frames(ws, 3)

    status, got = asyncio.run(main())
    assert status == 401
    assert all(f64(m)[0] > 0 for m in got)


def test_orchestra_wins_over_the_environment(perform, port):
    p = perform(orc(port, 'websocket_config "token", "from-orc"'), "i1 0 60", env={"CSWS_TOKEN": "from-env"})
    p.wait_for(rf"csws: websocket server on ws://127\.0\.0\.1:{port}/")

    async def main():
        ws = await connect(f"ws://127.0.0.1:{port}/?token=from-orc", subprotocols=["kcount"])
        return await frames(ws, 1)

    assert asyncio.run(main())


@pytest.mark.parametrize(
    "config, message",
    [
        ('websocket_config "colour", "blue"', "no setting named 'colour'; the settings are: host"),
        ('websocket_config "max_clients", "many"', "max_clients = 'many': not a number"),
    ],
)
def test_bad_setting_is_a_clear_init_error(perform, port, config, message):
    p = perform(orc(port, config), "i1 0 1", options=["-n", "-d"])
    p.wait(30)
    assert "websocket_config: " + message in p.output


@pytest.mark.parametrize(
    "config, env, message",
    [
        ("", {"CSWS_HANDSHAKE_TIMEOUT": "nan"},
         "handshake_timeout (CSWS_HANDSHAKE_TIMEOUT) = 'nan': must be from 0.01 to 3600 seconds"),
        ("", {"CSWS_MAX_CLIENTS": "-5"}, "max_clients (CSWS_MAX_CLIENTS) = '-5': must be from 1 to 10000"),
        ("", {"CSWS_MAX_STRING": "5000"}, "max_string (CSWS_MAX_STRING) = '5000': must be from 1 to 4096 bytes"),
        ("", {"CSWS_BUFFER_SECONDS": "inf"},
         "buffer_seconds (CSWS_BUFFER_SECONDS) = 'inf': must be from 0.001 to 60 seconds"),
        ('websocket_config "handshake_timeout", "0"', {},
         "handshake_timeout (CSWS_HANDSHAKE_TIMEOUT) = '0': must be from 0.01 to 3600 seconds"),
    ],
)
def test_setting_out_of_range_is_refused(perform, port, config, env, message):
    """A number outside its setting's range stops the port from opening, naming the setting and the range."""
    p = perform(orc(port, config), "i1 0 1", options=["-n", "-d"], env=env)
    p.wait(30)
    assert message in p.output
    assert "websocket server on" not in p.output
