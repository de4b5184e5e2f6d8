"""The services this package can run, by name: `parley serve <name>`."""

from __future__ import annotations

# name -> "module:target"; each service's issue adds its line when the service exists. The target
# is an ASGI app factory run under uvicorn, or for the services in OWN_SERVER a `main(host, port)`
# that runs a server of its own.
SERVICES: dict[str, str] = {
    "auth": "parley.auth.app:create_app",
    "api": "parley.api.app:create_app",
    "presence": "parley.presence.app:create_app",
    "consumer": "parley.consumer.app:create_app",
    "socket": "parley.socket.server:main",
    "web": "parley.web.app:create_app",
    "search": "parley.search.app:create_app",
    "storage": "parley.storage.app:create_app",
    "notification": "parley.notification.app:create_app",
}

# The socket holds tens of thousands of idle WebSocket connections; it runs its own small server
# (parley.socket.wsserver) to keep each one cheap.
OWN_SERVER: frozenset[str] = frozenset({"socket"})
