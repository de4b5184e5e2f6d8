"""The services this package can run, by name: `parley serve <name>`."""

from __future__ import annotations

# name -> "module:app_factory"; each service's issue adds its line when the service exists.
SERVICES: dict[str, str] = {
    "auth": "parley.auth.app:create_app",
    "api": "parley.api.app:create_app",
    "presence": "parley.presence.app:create_app",
}
