"""What the plugin calls (through csws._bridge, at init and deinit time): the
registry of Csounds, ports and notes, a port and its variables, and the I/O
thread that serves them.  The rings and shared records are the compiled
modules beside this package (csws._ring, csws._shared)."""
