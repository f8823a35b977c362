"""oncoline's HTTP door: REST API, CDS Hooks 2.0 services and the clinician page (``oncoline serve``).

Thin over :mod:`oncoline.app` (house style S25): nothing here decides anything clinical. Needs the ``api`` extra
(FastAPI, uvicorn, PyJWT with cryptography, Jinja2, httpx).
"""

from __future__ import annotations

from oncoline.api.app import create_app
from oncoline.api.config import ServiceConfig, load_config

__all__ = ["ServiceConfig", "create_app", "load_config"]
