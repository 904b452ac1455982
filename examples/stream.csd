<CsoundSynthesizer>
<CsOptions>
-odac -+rtaudio=null -b32 -B64 -d
</CsOptions>
<CsInstruments>
; Streaming audio to a web page: Csound sends an a-rate signal, ksmps samples
; per message, and the page draws it and plays it (client.play() in csws.js).
;
;   csws run --static examples examples/stream.csd
;   then open http://127.0.0.1:8888/stream.html
sr = 48000
ksmps = 256
nchnls = 1
0dbfs = 1

instr 1
  ; A slow FM bell pattern, so that there is something to hear and see.
  kndx  = 2 + 1.5 * lfo:k(1, 0.1)
  ktrig metro 2
  knote = 0
  if ktrig == 1 then
    knote = int(random:k(0, 8))
    event "i", 2, 0, 1.2, 220 * 2 ^ (knote / 8), kndx
  endif
endin

instr 2
  aenv expon 0.3, p3, 0.001
  asig foscili aenv, p4, 1, 1.4, p5
  chnmix asig, "mix"
endin

instr 10
  amix chnget "mix"
  chnclear "mix"
  kcount init 0
  kcount += 1
  kdummy websocket 8888, amix     ; the page subscribes to "amix"
  out amix
endin
</CsInstruments>
<CsScore>
i1  0 3600
i10 0 3600
</CsScore>
</CsoundSynthesizer>
