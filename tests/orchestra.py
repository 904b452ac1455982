"""Orchestra snippets the tests share: values Csound computes from a k-cycle counter."""

KSMPS = 32  # conftest.make_csd's default

COUNTER = """
  kcount init 0
  kcount += 1
"""

# An a-rate signal whose samples number themselves: count * ksmps + index.
RAMP = """
opcode ramp, a, k
  kbase xin
  asig init 0
  kS = 0
  while kS < ksmps do
    vaset kbase * ksmps + kS, kS, asig
    kS += 1
  od
  xout asig
endop
"""

# Fills an a-rate variable with count*1000 + offset + sample index.
FILL_AUDIO = """
opcode fill, a, kk
  kbase, koff xin
  asig init 0
  kS = 0
  while kS < ksmps do
    vaset kbase * 1000 + koff + kS, kS, asig
    kS += 1
  od
  xout asig
endop
"""

# kArr, a 2 x 3 array: count*10 + row*3 + column (row-major order on the wire).
KARRAY_2X3 = """  kArr[] init 2, 3
  kI = 0
  while kI < 2 do
    kJ = 0
    while kJ < 3 do
      kArr[kI][kJ] = kcount * 10 + kI * 3 + kJ
      kJ += 1
    od
    kI += 1
  od
"""
