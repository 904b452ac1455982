<CsoundSynthesizer>
<CsOptions>
-d
</CsOptions>
<CsInstruments>
; csws demo: a synth whose parameters come from a web page, and signals that
; go back to it.  `csws demo` runs this piece and serves the page (index.html)
; on the same port; the port comes in as the macro PORT (default 8888).
sr = 48000
ksmps = 128
nchnls = 2
0dbfs = 1

#ifndef PORT
#define PORT #8888#
#end

giFFT = 512   ; spectrum: giFFT/2 + 1 bins, 93.75 Hz apart (hop = ksmps)

instr 1
  ; From the web (sliders); these are the starting values until a page sends others.
  kfreq init 110
  kcutoff init 1600
  kres init 0.4
  kamp init 0.5
  kdetune init 0.7

  ; The synth: two detuned saws through a resonant low-pass whose cutoff an LFO sweeps.
  kf = limit(kfreq, 20, 2000)
  asaw1 vco2 0.5, kf * cent(-kdetune * 10)
  asaw2 vco2 0.5, kf * cent(kdetune * 10), 10, 0.5
  klfo lfo 0.5, 0.25
  kcut = limit(kcutoff * (1 + klfo), 40, 12000)
  afilt moogladder asaw1 + asaw2, kcut, limit(kres, 0, 0.95)
  aout = afilt * port(limit(kamp, 0, 1), 0.02)

  ; The page's microphone (Microphone button): a band-pass that follows the synth's cutoff
  ; and a slow echo, mixed in; its level goes back to the page's meter (kmic).
  amic init 0
  aecho init 0
  kmic = rms(amic)
  avoice butterbp amic, kcut, kcut / 2
  aecho vdelay3 avoice * 0.5 + aecho * 0.4, a(250), 1000
  aout = aout + (avoice + aecho) * 2
  outs aout, aout

  ; To the web: the output (a), both oscillators (a[]), levels (k[]) and a spectrum (k[]).
  aosc[] init 2
  aosc[0] = asaw1
  aosc[1] = asaw2
  klevels[] init 2
  klevels[0] = rms(aout)
  klevels[1] = rms(asaw1 + asaw2)
  fsig pvsanal aout, giFFT, ksmps, giFFT, 1
  kspectrum[] init giFFT / 2 + 1
  kbinfreqs[] init giFFT / 2 + 1
  kframe pvs2array kspectrum, kbinfreqs, fsig

  kfreq, kcutoff, kres, kamp, kdetune websocket $PORT, aout, aosc, klevels, kspectrum
  ; aout is also what the page plays (Listen); amic comes from its microphone.
  amic websocket $PORT, kmic

  ; Say on the Csound side what arrived from the page.
  if changed2(kfreq, kcutoff, kres, kamp, kdetune) == 1 then
    printf "csws demo: freq %.2f Hz, cutoff %.1f Hz, resonance %.3f, amp %.3f, detune %.3f\n", \
           timeinstk(), kfreq, kcutoff, kres, kamp, kdetune
  endif
endin
</CsInstruments>
<CsScore>
i1 0 z
</CsScore>
</CsoundSynthesizer>
