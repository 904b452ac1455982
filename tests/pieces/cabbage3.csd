<Cabbage>
{"widgets": [
  {"type": "form", "caption": "Cabbage 3 panel", "size": {"width": 460, "height": 400}, "pluginId": "cws3", "style": {"backgroundColor": "#282c34"}},
  {"type": "label", "bounds": {"left": 10, "top": 6, "width": 300, "height": 16}, "label": {"text": "csws: a Cabbage 3 panel"}, "style": {"fontColor": "#e6e6e6", "textAlign": "left"}},
  {"type": "rotarySlider", "bounds": {"left": 10, "top": 30, "width": 70, "height": 70}, "label": {"text": "Gain"}, "channels": [{"id": "gain", "event": "valueChanged", "range": {"min": 0, "max": 1, "defaultValue": 0.5, "skew": 1, "increment": 0.01}}]},
  {"type": "horizontalSlider", "bounds": {"left": 90, "top": 30, "width": 250, "height": 40}, "label": {"text": "Freq"}, "channels": [{"id": "freq", "event": "valueChanged", "range": {"min": 20, "max": 20000, "defaultValue": 1000, "skew": 0.5, "increment": 1}}]},
  {"type": "verticalSlider", "bounds": {"left": 350, "top": 30, "width": 40, "height": 150}, "label": {"text": "Level"}, "channels": [{"id": "level", "event": "valueChanged", "range": {"min": 0, "max": 10, "defaultValue": 5, "skew": 1, "increment": 0.1}}]},
  {"type": "numberSlider", "bounds": {"left": 90, "top": 80, "width": 60, "height": 24}, "channels": [{"id": "steps", "event": "valueChanged", "range": {"min": 0, "max": 100, "defaultValue": 10, "skew": 1, "increment": 1}}]},
  {"type": "button", "bounds": {"left": 160, "top": 80, "width": 80, "height": 24}, "channels": [{"id": "play", "event": "valueChanged", "range": {"min": 0, "max": 1, "defaultValue": 0, "skew": 1, "increment": 1}}], "label": {"text": {"off": "Play", "on": "Stop"}}, "style": {"off": {"backgroundColor": "#505050", "textColor": "#ffffff"}, "on": {"backgroundColor": "#00a03c", "textColor": "#ffffff"}}},
  {"type": "button", "bounds": {"left": 250, "top": 80, "width": 80, "height": 24}, "channels": [{"id": "hold", "event": "valueChanged", "range": {"min": 0, "max": 1, "defaultValue": 0, "skew": 1, "increment": 1}}], "label": {"text": {"off": "Hold", "on": "Held"}}},
  {"type": "checkBox", "bounds": {"left": 10, "top": 110, "width": 100, "height": 20}, "channels": [{"id": "mute", "event": "valueChanged", "range": {"min": 0, "max": 1, "defaultValue": 0, "skew": 1, "increment": 1}}], "label": {"text": "Mute"}},
  {"type": "comboBox", "bounds": {"left": 120, "top": 110, "width": 100, "height": 22}, "channels": [{"id": "wave", "event": "valueChanged"}], "items": ["Saw", "Square", "Triangle"], "indexOffset": false},
  {"type": "groupBox", "bounds": {"left": 10, "top": 140, "width": 330, "height": 120}, "label": {"text": "Filter"}, "channels": [{"id": "filterbox"}], "style": {"borderColor": "#c8c8c8", "borderWidth": 1}, "children": [{"type": "rotarySlider", "bounds": {"left": 10, "top": 30, "width": 70, "height": 70}, "label": {"text": "Cutoff"}, "channels": [{"id": "cutoff", "event": "valueChanged", "range": {"min": 100, "max": 10000, "defaultValue": 1000, "skew": 0.3, "increment": 1}}]}, {"type": "image", "bounds": {"left": 100, "top": 30, "width": 200, "height": 70}, "channels": [{"id": "pic"}], "style": {"backgroundColor": "#141414", "borderRadius": 5}, "children": [{"type": "label", "bounds": {"left": 10, "top": 10, "width": 180, "height": 16}, "label": {"text": "inside the image"}, "style": {"fontColor": "white"}}]}]},
  {"type": "keyboard", "bounds": {"left": 10, "top": 280, "width": 440, "height": 100}, "channels": [{"id": "keyboard"}], "value": 48}
]}
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
