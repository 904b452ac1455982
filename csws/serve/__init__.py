"""The asyncio serving layer, started at a port's first client: the websocket
server, fan-out to clients, plain HTTP (pages, /csws.json, csws.js) and TLS."""
