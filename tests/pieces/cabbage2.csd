<Cabbage>
; A Cabbage 2 panel (the text syntax) with every widget type csws reads.  Each control's
; channel is printed by instr 2 when it changes; the keyboard plays instr 1.
form caption("Cabbage 2 panel") size(460, 400), colour(40, 44, 52), pluginid("cws2")
label bounds(10, 6, 300, 16), text("csws: a Cabbage 2 panel"), fontcolour(230, 230, 230), align("left")
rslider bounds(10, 30, 70, 70), channel("gain"), range(0, 1, 0.5, 1, 0.01), text("Gain"), trackercolour("lime")
hslider bounds(90, 30, 250, 40), channel("freq"), range(20, 20000, 1000, 0.5, 1), text("Freq"),
        colour("#3366cc")  // a declaration may go on over several lines
vslider bounds(350, 30, 40, 150), channel("level"), range(0, 10, 5, 1, 0.1), text("Level")
nslider bounds(90, 80, 60, 24), channel("steps"), range(0, 100, 10, 1, 1), text("Steps")
button bounds(160, 80, 80, 24), channel("play"), text("Play", "Stop"), colour:0(80, 80, 80), colour:1(0, 160, 60)
button bounds(250, 80, 80, 24), channel("hold"), text("Hold", "Held"), latched(0)
checkbox bounds(10, 110, 100, 20), channel("mute"), text("Mute"), colour:1(255, 80, 0)
combobox bounds(120, 110, 100, 22), channel("wave"), text("Saw", "Square", "Triangle"), value(1)
/* A group box whose children sit relative to it (plant) */
groupbox bounds(10, 140, 330, 120), text("Filter"), outlinecolour(200, 200, 200), plant("filter") {
    rslider bounds(10, 30, 70, 70), channel("cutoff"), range(100, 10000, 1000, 0.3, 1), text("Cutoff")
    image bounds(100, 30, 200, 70), colour(20, 20, 20), shape("rounded") {
        label bounds(10, 10, 180, 16), text("inside the image"), fontcolour("white")
    }
}
keyboard bounds(10, 280, 440, 100), value(48)
</Cabbage>
<CsoundSynthesizer>
<CsOptions>
-odac -+rtaudio=null -d
</CsOptions>
<CsInstruments>
sr = 48000
ksmps = 32
nchnls = 2
0dbfs = 1

; The keyboard: each key is a note of instr 1 (p4 the MIDI note, p5 its velocity).
instr 1
  inote = p4
  ivel = p5
  prints "cabbage: note on %d velocity %d\n", inote, ivel
  xtratim 0.01
  krel release
  printf "cabbage: note off %d\n", krel, inote
  aenv linsegr 0, 0.01, ivel / 127 * 0.2, 0.1, 0
  asig = vco2(1, cpsmidinn(inote)) * aenv
  outs asig, asig
endin

; Every control's channel, printed when it changes (a count of changes as printf's trigger,
; so that two changes in a row both print).
opcode watch, 0, S
  Sname xin
  kval chnget Sname
  kcount init 0
  kcount += changed(kval)
  printf "cabbage: %s=%g\n", kcount, Sname, kval
endop

instr 2
  watch "gain"
  watch "freq"
  watch "level"
  watch "steps"
  watch "play"
  watch "hold"
  watch "mute"
  watch "wave"
  watch "cutoff"
endin

</CsInstruments>
<CsScore>
i 2 0 3600
</CsScore>
</CsoundSynthesizer>
