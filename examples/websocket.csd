<CsoundSynthesizer>
<CsOptions>
-odac -+rtaudio=null -b32 -B64 -d
</CsOptions>
<CsInstruments>
; The websocket opcode's manual example: a k-rate LFO goes to a web page and a
; slider on the page comes back into Csound, on port 8888.
;
;   csws run --static examples examples/websocket.csd
;   then open http://127.0.0.1:8888/websocket.html
;
; With the stock csound command, the same:
;   CSWS_STATIC_DIR=examples csound --opcode-lib="$(csws plugin-path)" examples/websocket.csd
; Each variable is its own websocket: the page connects with the variable's
; name as the subprotocol ("klfo", "kslider").
sr = 48000
ksmps = 64
nchnls = 1
0dbfs = 1

instr 1
  klfo lfo 1, 0.5                     ; to the page: one number per k-cycle
  kslider init 0.5
  kslider websocket 8888, klfo        ; from the page: the newest value wins
  printk2 kslider                     ; prints whenever the page moves the slider
  asig oscili 0.2, 220 + 220 * kslider
  out asig
endin
</CsInstruments>
<CsScore>
i1 0 3600
</CsScore>
</CsoundSynthesizer>
