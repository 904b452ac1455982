"""Hosting Csound in this process (`csws run`, `csws demo`): finding and
loading a Csound library of either major, and running a piece with the plugin."""
