"""The `csws` command line: run and demo (csws.hosting), clients of a running
piece (ls, tail, send), install/uninstall, doctor."""
