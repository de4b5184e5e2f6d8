"""Settings of the web client's static server (on top of what every service has)."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from pydantic import Field

from parley.common.settings import BaseServiceSettings

# services/parley/web/settings.py -> the repository's frontend/dist (a source checkout; an image
# copies the build elsewhere and sets PARLEY_WEB_DIST_DIR).
DEFAULT_DIST = Path(__file__).resolve().parents[3] / "frontend" / "dist"


class WebSettings(BaseServiceSettings):
    # Static files only: no server to point at. The image sets the build's path (PARLEY_WEB_DIST_DIR).
    deploy_required: ClassVar[frozenset[str]] = frozenset({"service_name"})

    service_name: str = "web"

    web_dist_dir: Path = Field(default=DEFAULT_DIST, description="The built client (`vite build` output).")
    web_asset_max_age_seconds: int = Field(
        default=365 * 86400,
        ge=0,
        description="Cache lifetime of content-hashed files under assets/ (their names change with them).",
    )
    web_content_security_policy: str = Field(
        default=(
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
            "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
            "form-action 'self'; frame-ancestors 'none'"
        ),
        description="Sent with the app's HTML page.",
    )
