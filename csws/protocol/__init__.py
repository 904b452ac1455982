"""The wire protocol without sockets: variables and their messages, client
options, who may connect (policy), settings, and a piece's page.  Pure
logic: nothing here opens a socket or needs Csound."""
