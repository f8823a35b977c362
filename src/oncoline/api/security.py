"""CDS Hooks authentication: the EHR's JWT bearer token, checked as CDS Hooks 2.0 §Trusting CDS Clients asks.

A token is accepted only when all of these hold (anything else → :class:`AuthError`, answered 401 with
``WWW-Authenticate: Bearer error="invalid_token"``):

- the header names an asymmetric algorithm (RS*, PS*, ES*, EdDSA) — ``none`` and HMAC (HS*) are refused — and a
  ``kid``;
- ``iss`` is a configured issuer, and its JWKS (file, or allow-listed URL) holds the ``kid``;
- the signature verifies with that key;
- ``aud`` equals this service's URL (``public_url`` + the service path);
- ``exp``, ``iat`` and ``jti`` are present; ``exp`` not passed and ``iat`` not in the future (with
  ``clock_skew_seconds``), the lifetime at most :data:`MAX_LIFETIME_SECONDS`;
- the ``jti`` was not seen before from that issuer (replay).

References
----------
HL7 CDS Hooks 2.0, "Trusting CDS Clients": https://cds-hooks.hl7.org/2.0/#trusting-cds-clients ;
RFC 7519 (JWT), RFC 7517 (JWK), RFC 6750 §3 (WWW-Authenticate).
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import jwt

from oncoline.api.config import Issuer, ServiceConfig

__all__ = ["ALGORITHMS", "MAX_LIFETIME_SECONDS", "AuthError", "TokenVerifier"]

ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA")
"""Asymmetric signature algorithms accepted (``none`` and ``HS*`` never)."""

MAX_LIFETIME_SECONDS = 3600
"""Longest accepted ``exp - iat`` (CDS Hooks recommends five minutes; the replay cache is kept this long)."""


class AuthError(Exception):
    """A CDS Hooks call whose token is absent or not acceptable; ``str()`` says why (never the token)."""


class _Keys:
    """An issuer's JWKS: a file re-read when it changes, or an allow-listed URL via PyJWKClient."""

    def __init__(self, issuer: Issuer) -> None:
        self.issuer = issuer
        self._mtime = -1.0
        self._set: jwt.PyJWKSet | None = None
        self._client = jwt.PyJWKClient(issuer.jwks_url, cache_keys=True, timeout=5) if issuer.jwks_url else None

    def key(self, kid: str) -> jwt.PyJWK:
        if self._client is not None:
            try:
                return self._client.get_signing_key(kid)
            except jwt.PyJWKClientError as exc:
                raise AuthError(f"no key {kid!r} in the JWKS of issuer {self.issuer.iss!r}") from exc
        path = self.issuer.jwks_file
        assert path is not None
        mtime = Path(path).stat().st_mtime
        if self._set is None or mtime != self._mtime:
            self._set = jwt.PyJWKSet.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))
            self._mtime = mtime
        try:
            return self._set[kid]
        except KeyError:
            raise AuthError(f"no key {kid!r} in the JWKS of issuer {self.issuer.iss!r}") from None


def _declared_alg(key: jwt.PyJWK) -> str | None:
    """The ``alg`` written in the JWK itself (PyJWT keeps the JWK's data; absent → None)."""
    data = getattr(key, "_jwk_data", None)
    alg = data.get("alg") if isinstance(data, dict) else None
    return alg if isinstance(alg, str) else None


class TokenVerifier:
    """Checks CDS Hooks bearer tokens against a :class:`~oncoline.api.config.ServiceConfig`.

    Thread-safe; keeps seen ``jti`` values until their token expires.
    """

    def __init__(self, config: ServiceConfig) -> None:
        self.config = config
        self._keys = {i.iss: _Keys(i) for i in config.issuers}
        self._seen: dict[tuple[str, str], float] = {}
        self._lock = threading.Lock()

    def verify(self, authorization: str | None, /, *, audience: str, now: float | None = None) -> dict[str, Any]:
        """The verified claims of the ``Authorization: Bearer <jwt>`` header.

        Parameters
        ----------
        authorization
            The header value, or None when absent.
        audience
            The URL the token must be addressed to (``aud``).
        now
            Seconds since the epoch (default: the clock).

        Returns
        -------
        dict
            The token's claims.

        Raises
        ------
        AuthError
            Whenever the token is absent or any check of the module docstring fails.
        """
        if not authorization:
            raise AuthError("a bearer token is required (CDS Hooks: Authorization: Bearer <JWT>)")
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise AuthError("the Authorization header must be 'Bearer <JWT>'")
        token = token.strip()
        try:
            header = jwt.get_unverified_header(token)
            unverified = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError as exc:
            raise AuthError(f"not a JWT ({exc})") from None
        alg = header.get("alg")
        if alg not in ALGORITHMS:
            raise AuthError(f"algorithm {alg!r} refused; use an asymmetric algorithm ({', '.join(ALGORITHMS)})")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise AuthError("the token header has no kid")
        iss = unverified.get("iss")
        keys = self._keys.get(iss) if isinstance(iss, str) else None
        if keys is None or not isinstance(iss, str):
            raise AuthError(f"issuer {iss!r} is not trusted by this service")
        key = keys.key(kid)
        pinned = _declared_alg(key)
        if pinned is not None and pinned != alg:  # a key pinned to one algorithm is used with that one only
            raise AuthError(f"key {kid!r} is for {pinned}, the token says {alg}")
        clock = time.time() if now is None else now
        skew = self.config.clock_skew_seconds
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key.key,
                algorithms=[alg],
                audience=audience,
                issuer=iss,
                leeway=skew,
                options={"require": ["exp", "iat", "iss", "aud", "jti"]},
            )
        except jwt.InvalidAudienceError:
            raise AuthError(f"the token's aud is not this service ({audience})") from None
        except jwt.ExpiredSignatureError:
            raise AuthError("the token has expired") from None
        except jwt.ImmatureSignatureError:
            raise AuthError("the token's iat or nbf lies in the future") from None
        except jwt.PyJWTError as exc:
            raise AuthError(f"the token is not valid: {exc}") from None
        iat, exp = claims["iat"], claims["exp"]
        if not isinstance(iat, (int, float)) or not isinstance(exp, (int, float)):
            raise AuthError("iat and exp must be numbers (seconds since 1970)")
        if iat > clock + skew:
            raise AuthError("the token's iat lies in the future")
        if exp - iat > MAX_LIFETIME_SECONDS:
            raise AuthError(f"the token lives longer than {MAX_LIFETIME_SECONDS} s; issue short-lived tokens")
        jti = claims["jti"]
        if not isinstance(jti, str) or not jti:
            raise AuthError("the token's jti must be a non-empty string")
        with self._lock:
            if len(self._seen) > 4096:  # forget tokens that can no longer be replayed (expired)
                self._seen = {k: v for k, v in self._seen.items() if v + skew >= clock}
            if (iss, jti) in self._seen:
                raise AuthError("the token was already used (jti replay)")
            self._seen[(iss, jti)] = float(exp)
        return claims
