"""The ring's memory order on a weakly ordered CPU (ARM64: the Raspberry Pi), read off the
machine code the cross compiler makes of csws/ringbuf.h: publishing a frame must keep the
next frame's writes behind the new head, or a reader could accept a torn frame."""
from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from conftest import SOURCE

PRODUCER = r"""
#include "ringbuf.h"
/* Two frames in a row, as the perf routine writes them. */
void two_frames(csws_ring *r, double a, double b)
{
    *(double *)csws_ring_write_slot(r) = a;
    csws_ring_commit(r);
    *(double *)csws_ring_write_slot(r) = b;
    csws_ring_commit(r);
}
"""


def test_publishing_a_frame_fences_the_next_frames_writes_on_arm64(tmp_path):
    cc = shutil.which("aarch64-linux-gnu-gcc")
    if cc is None:
        pytest.fail("no aarch64-linux-gnu-gcc (Debian: gcc-aarch64-linux-gnu libc6-dev-arm64-cross; "
                    "tools/quickstart.sh test installs them)")
    (tmp_path / "producer.c").write_text(PRODUCER)
    asm = subprocess.run([cc, "-O2", "-S", "-o", "-", f"-I{SOURCE / 'csws'}", str(tmp_path / "producer.c")],
                         capture_output=True, text=True, check=True).stdout
    body = asm[asm.index("two_frames:"):]
    ops = re.findall(r"^\s+(stlr|dmb|str|stp)\b", body, re.MULTILINE)
    first = ops.index("stlr")  # the first frame's head, published
    assert "str" in ops[first:] or "stp" in ops[first:], asm
    after = ops[first + 1:]
    next_write = min(after.index(op) for op in ("str", "stp") if op in after)
    assert "dmb" in after[:next_write], f"the second frame's write may pass the first head:\n{body}"
