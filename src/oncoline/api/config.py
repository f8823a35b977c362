"""Service configuration: one TOML file (``oncoline serve --config FILE``), every key optional.

.. code-block:: toml

    public_url = "https://oncoline.example.org"   # the URL the EHR calls; JWT `aud` = public_url + service path
    max_body_bytes = 2_000_000                     # larger request bodies → 413
    cors_origins = []                              # closed unless listed (e.g. ["https://ehr.example.org"])
    feedback_db = "oncoline-feedback.sqlite"       # CDS Hooks feedback store (append-only SQLite)
    fhir_timeout_seconds = 10                      # fetching from the EHR's fhirServer when prefetch is absent
    clock_skew_seconds = 60                        # tolerance on JWT exp / iat

    [[issuers]]                                    # one table per trusted EHR (JWT `iss`)
    iss = "https://ehr.example.org"
    jwks_file = "keys/ehr.jwks.json"               # a local JWKS file …
    # jwks_url = "https://ehr.example.org/.well-known/jwks.json"   # … or an allow-listed JWKS URL

Relative paths are read relative to the TOML file.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from oncoline.errors import InputError

__all__ = ["Issuer", "ServiceConfig", "load_config"]


@dataclass(frozen=True)
class Issuer:
    """A trusted token issuer (an EHR): its ``iss`` and where its public keys are.

    Attributes
    ----------
    iss
        The exact ``iss`` claim of its tokens.
    jwks_file
        A local JSON Web Key Set file (``{"keys": [...]}``).
    jwks_url
        An allow-listed HTTPS URL of its JWKS (fetched and cached), used when no file is given.
    """

    iss: str
    jwks_file: Path | None = None
    jwks_url: str | None = None


@dataclass(frozen=True)
class ServiceConfig:
    """What ``oncoline serve`` runs with (see the module docstring for the TOML keys).

    Attributes
    ----------
    public_url
        The service's base URL as the EHR calls it, without a trailing slash; tokens must carry
        ``aud = public_url + "/cds-services/<id>"``.
    issuers
        Trusted issuers; an empty tuple refuses every CDS Hooks call unless ``insecure_dev``.
    max_body_bytes
        Largest accepted request body in bytes (413 above it).
    cors_origins
        Origins allowed by CORS; empty = CORS closed.
    feedback_db
        SQLite file for CDS Hooks feedback (created on first use).
    fhir_timeout_seconds
        Timeout for each request to the EHR's ``fhirServer``.
    clock_skew_seconds
        Tolerance on JWT ``exp``, ``iat`` and ``nbf``, seconds.
    insecure_dev
        Authentication off (development only; loopback only; announced in every response).
    """

    public_url: str = "http://127.0.0.1:8000"
    issuers: tuple[Issuer, ...] = ()
    max_body_bytes: int = 2_000_000
    cors_origins: tuple[str, ...] = ()
    feedback_db: Path = field(default_factory=lambda: Path("oncoline-feedback.sqlite"))
    fhir_timeout_seconds: float = 10.0
    clock_skew_seconds: int = 60
    insecure_dev: bool = False

    def issuer(self, iss: str) -> Issuer | None:
        """The trusted issuer with this ``iss``, or None."""
        return next((i for i in self.issuers if i.iss == iss), None)


_KEYS = {
    "public_url",
    "issuers",
    "max_body_bytes",
    "cors_origins",
    "feedback_db",
    "fhir_timeout_seconds",
    "clock_skew_seconds",
}


def _bad(path: Path, key: str, fix: str) -> InputError:
    return InputError(f"{key}: {fix}", source=str(path), field=key)


def _check_jwks(path: Path, where: Path, key: str) -> None:
    """Refuse at start-up a JWKS file that is not JSON, has no usable key, or holds a symmetric (oct) key."""
    import json

    import jwt

    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        keys = jwt.PyJWKSet.from_dict(data).keys
    except (OSError, ValueError, jwt.PyJWTError) as exc:
        raise _bad(where, key, f"{path} is not a usable JWKS ({exc}); give a JSON Web Key Set of public keys") from exc
    bad = [k.key_id or "?" for k in keys if k.key_type == "oct"]
    if bad:
        raise _bad(where, key, f"{path}: symmetric (oct) key(s) {', '.join(bad)} refused; give public keys only")
    unnamed = [i for i, k in enumerate(keys) if not k.key_id]
    if unnamed:
        raise _bad(where, key, f"{path}: key #{unnamed[0]} has no kid; every key needs one (tokens name it)")


def load_config(path: Path | None, /, **overrides: Any) -> ServiceConfig:
    """Read a service configuration file (TOML); defaults for every key left out.

    Parameters
    ----------
    path
        The TOML file, or None for the defaults.
    overrides
        Values that win over the file (e.g. ``public_url`` from ``--host/--port``, ``insecure_dev``).

    Returns
    -------
    ServiceConfig

    Raises
    ------
    InputError
        An unreadable file, TOML syntax error, unknown key, a value of the wrong type, an issuer without
        ``iss`` or without exactly one of ``jwks_file`` / ``jwks_url``, a missing JWKS file, a JWKS URL that is
        not HTTPS — each naming the file, the key and the fix.
    """
    raw: dict[str, Any] = {}
    base = Path(".")
    if path is not None:
        try:
            raw = tomllib.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise InputError(f"cannot read the configuration ({exc.strerror})", source=str(path)) from exc
        except tomllib.TOMLDecodeError as exc:
            raise InputError(f"not valid TOML: {exc}", source=str(path)) from exc
        base = path.parent
        unknown = sorted(set(raw) - _KEYS)
        if unknown:
            raise _bad(path, unknown[0], f"unknown key; the keys are {', '.join(sorted(_KEYS))}")
    where = path or Path("<defaults>")
    values: dict[str, Any] = {}
    if "public_url" in raw:
        if not isinstance(raw["public_url"], str) or not raw["public_url"].startswith(("http://", "https://")):
            raise _bad(where, "public_url", 'give the URL the EHR calls, e.g. "https://oncoline.example.org"')
        values["public_url"] = raw["public_url"].rstrip("/")
    for key, kind in (("max_body_bytes", int), ("clock_skew_seconds", int), ("fhir_timeout_seconds", (int, float))):
        if key in raw:
            if isinstance(raw[key], bool) or not isinstance(raw[key], kind) or raw[key] <= 0:
                raise _bad(where, key, "give a positive number")
            values[key] = raw[key]
    if "cors_origins" in raw:
        origins = raw["cors_origins"]
        if not isinstance(origins, list) or not all(isinstance(o, str) and o != "*" for o in origins):
            raise _bad(
                where, "cors_origins", 'give a list of origins such as ["https://ehr.example.org"] ("*" refused)'
            )
        values["cors_origins"] = tuple(origins)
    if "feedback_db" in raw:
        if not isinstance(raw["feedback_db"], str):
            raise _bad(where, "feedback_db", "give a file path")
        values["feedback_db"] = base / raw["feedback_db"]
    issuers: list[Issuer] = []
    for i, item in enumerate(raw.get("issuers", [])):
        key = f"issuers[{i}]"
        if not isinstance(item, dict) or not isinstance(item.get("iss"), str) or not item["iss"]:
            raise _bad(where, key, 'each [[issuers]] needs iss = "<the EHR\'s issuer URL>"')
        extra = sorted(set(item) - {"iss", "jwks_file", "jwks_url"})
        if extra:
            raise _bad(where, f"{key}.{extra[0]}", "unknown key; use iss, jwks_file or jwks_url")
        has_file, has_url = "jwks_file" in item, "jwks_url" in item
        if has_file == has_url:
            raise _bad(where, key, "give exactly one of jwks_file (a local JWKS file) or jwks_url (HTTPS)")
        if has_file:
            jwks = base / str(item["jwks_file"])
            if not jwks.is_file():
                raise _bad(where, f"{key}.jwks_file", f"{jwks} does not exist; give the path of the issuer's JWKS")
            _check_jwks(jwks, where, f"{key}.jwks_file")
            issuers.append(Issuer(item["iss"], jwks_file=jwks))
        else:
            url = str(item["jwks_url"])
            if not url.startswith("https://"):
                raise _bad(where, f"{key}.jwks_url", "the JWKS URL must be https://")
            issuers.append(Issuer(item["iss"], jwks_url=url))
    if issuers:
        values["issuers"] = tuple(issuers)
    values.update(overrides)
    return ServiceConfig(**values)
