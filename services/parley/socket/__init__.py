"""The socket service: clients' WebSocket connections, their commands to Kafka, live delivery from
Redis. See docs/protocol.md for the protocol and server.py for how the parts fit."""
