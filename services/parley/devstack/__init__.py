"""The dev stack: real backing servers fetched or built into ~/.cache/parley and run on loopback."""
