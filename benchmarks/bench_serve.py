"""Load benchmark of ``oncoline serve`` (issue 9 item 7): the CDS Hooks ``patient-view`` hook under load.

The service runs on loopback in its own process with a trusted issuer (every call carries a fresh ES256 token,
verified as in production); 16 concurrent clients (httpx, asyncio) send a patient-view hook whose prefetch holds
about 150 FHIR resources (a HER2-positive patient after THP and T-DXd with brain metastases: Patient, Conditions,
Observations and the MedicationAdministration history, plus routine laboratory Observations) for a fixed time.

Each request carries a different chart (one laboratory Observation id differs), so the service's outcome cache
(same chart again → same answer) never answers; ``--repeat-body`` measures that cached path instead.

Reported: requests/s, latency p50/p95/p99 (ms) and errors, next to a **floor** measured in the same run — the same
server process and middleware answering a route that only parses the same JSON body (``json.loads``) and
returns no card. Goals: 0 errors, p95 ≤ 100 ms, at least half the floor's requests/s.

Run: ``python -m benchmarks serve [--seconds 60] [--clients 16] [--json FILE]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BUNDLE = ROOT / "tests" / "data" / "her2pos-thp-tdxd-brain.fhir.json"
ISS = "https://ehr.bench"
SERVICE = "oncoline-next-line"


def prefetch(target: int = 150) -> dict[str, Any]:
    """Prefetch of about ``target`` resources: the test bundle plus routine lab Observations (haemoglobin,
    neutrophils, ALT, creatinine) the reader meets and leaves aside, as a real chart has them."""
    from oncoline.api.cds.services import PREFETCH_KEY_BY_TYPE as KEYS

    bundle = json.loads(BUNDLE.read_text())
    out: dict[str, Any] = {k: {"resourceType": "Bundle", "type": "searchset", "entry": []} for k in KEYS.values()}
    pid = "patient"
    for e in bundle["entry"]:
        res = e["resource"]
        key = KEYS.get(res["resourceType"])
        if key == "patient":
            out["patient"], pid = res, res["id"]
        elif key:
            out[key]["entry"].append({"resource": res})
    labs = [
        ("718-7", "Hemoglobin", "g/dL", 12.1),
        ("751-8", "Neutrophils", "10*3/uL", 3.4),
        ("1742-6", "ALT", "U/L", 24.0),
        ("2160-0", "Creatinine", "mg/dL", 0.8),
    ]
    n = len(bundle["entry"])
    i = 0
    while n < target:
        code, name, unit, value = labs[i % len(labs)]
        day = 1 + (i * 7) % 28
        month = 1 + (i // 4) % 12
        out["observations"]["entry"].append(
            {
                "resource": {
                    "resourceType": "Observation",
                    "id": f"lab-{i}",
                    "status": "final",
                    "category": [
                        {
                            "coding": [
                                {
                                    "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                                    "code": "laboratory",
                                }
                            ]
                        }
                    ],
                    "code": {"coding": [{"system": "http://loinc.org", "code": code, "display": name}]},
                    "subject": {"reference": f"Patient/{pid}"},
                    "effectiveDateTime": f"2025-{month:02d}-{day:02d}",
                    "valueQuantity": {
                        "value": value,
                        "unit": unit,
                        "system": "http://unitsofmeasure.org",
                        "code": unit,
                    },
                }
            }
        )
        n += 1
        i += 1
    return out


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def serve_child(port: int, config_path: str) -> None:
    """The server process: the real app plus one floor route that only parses the body."""
    import uvicorn
    from fastapi.responses import JSONResponse
    from starlette.requests import Request

    from oncoline.api import create_app, load_config
    from oncoline.knowledge.loader import load_knowledge

    app = create_app(load_config(Path(config_path)))

    async def floor(request: Request) -> JSONResponse:
        json.loads(await request.body())
        return JSONResponse({"cards": []})

    # a plain Starlette route (FastAPI would read the string annotation as a query parameter)
    app.router.add_route("/bench/floor", floor, methods=["POST"])

    load_knowledge()  # warm, as a long-running service is
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


async def _drive(url: str, make_body: Any, seconds: float, clients: int, sign: Any) -> dict[str, Any]:
    import httpx

    latencies: list[float] = []
    errors: dict[str, int] = {}
    deadline = time.perf_counter() + seconds
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(limits=limits, timeout=30) as client:

        async def worker() -> None:
            while time.perf_counter() < deadline:
                headers = {"Content-Type": "application/json"}
                if sign is not None:
                    headers["Authorization"] = f"Bearer {sign()}"
                t0 = time.perf_counter()
                try:
                    r = await client.post(url, content=make_body(), headers=headers)
                    ok = r.status_code == 200 and r.json().get("cards") is not None
                    key = "" if ok else f"HTTP {r.status_code}"
                except httpx.HTTPError as exc:
                    key = type(exc).__name__
                latencies.append((time.perf_counter() - t0) * 1000)
                if key:
                    errors[key] = errors.get(key, 0) + 1

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(clients)))
        elapsed = time.perf_counter() - started
    q = statistics.quantiles(latencies, n=100) if len(latencies) > 1 else [latencies[0]] * 99
    return {
        "requests": len(latencies),
        "seconds": round(elapsed, 1),
        "rps": round(len(latencies) / elapsed, 1),
        "p50_ms": round(q[49], 1),
        "p95_ms": round(q[94], 1),
        "p99_ms": round(q[98], 1),
        "errors": sum(errors.values()),
        "error_kinds": errors,
    }


def main(argv: list[str]) -> int:
    """Run the benchmark; print a table (and write JSON with ``--json``)."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks serve", description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="duration of each phase (default 60)")
    parser.add_argument("--clients", type=int, default=16, help="concurrent clients (default 16)")
    parser.add_argument("--resources", type=int, default=150, help="FHIR resources in the prefetch (default 150)")
    parser.add_argument(
        "--repeat-body",
        action="store_true",
        help="send the same chart every time (answers then come from the service's outcome cache)",
    )
    parser.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    parser.add_argument("--serve-child", nargs=2, metavar=("PORT", "CONFIG"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve_child:
        serve_child(int(args.serve_child[0]), args.serve_child[1])
        return 0

    import jwt
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(key.public_key()))
    jwk.update(kid="bench-1", alg="ES256")
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "jwks.json").write_text(json.dumps({"keys": [jwk]}))
        config = Path(tmp) / "serve.toml"
        config.write_text(
            f'public_url = "{base}"\nfeedback_db = "feedback.sqlite"\nmax_body_bytes = 5000000\n'
            f'[[issuers]]\niss = "{ISS}"\njwks_file = "jwks.json"\n'
        )
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        proc = subprocess.Popen(
            [sys.executable, "-m", "benchmarks", "serve", "--serve-child", str(port), str(config)], env=env, cwd=ROOT
        )
        try:
            import httpx

            for _ in range(300):
                try:
                    if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    time.sleep(0.1)
            else:
                print("the server did not start", file=sys.stderr)
                return 1
            pre = prefetch(args.resources)
            n_resources = 1 + sum(len(v["entry"]) for k, v in pre.items() if k != "patient")
            hook = {
                "hook": "patient-view",
                "hookInstance": str(uuid.uuid4()),
                "context": {"userId": "Practitioner/bench", "patientId": pre["patient"]["id"]},
                "prefetch": pre,
            }
            body = json.dumps(hook).encode()
            marker = b'"id": "lab-0"'
            assert marker in body
            counter = iter(range(10**9))

            def make_body() -> bytes:
                """Each call a different chart (one lab id differs), so no answer is served from the cache —
                unless --repeat-body asks to measure the same chart sent again."""
                if args.repeat_body:
                    return body
                return body.replace(marker, f'"id": "lab-0-{next(counter):09d}"'.encode(), 1)

            def sign() -> str:
                now = int(time.time())
                claims = {
                    "iss": ISS,
                    "sub": "bench",
                    "aud": f"{base}/cds-services/{SERVICE}",
                    "iat": now,
                    "exp": now + 300,
                    "jti": uuid.uuid4().hex,
                }
                return jwt.encode(claims, key, algorithm="ES256", headers={"kid": "bench-1"})

            # warm-up (imports, FHIR models, first connections), not counted
            asyncio.run(_drive(f"{base}/cds-services/{SERVICE}", make_body, min(3.0, args.seconds), 2, sign))
            print(
                f"prefetch: {n_resources} FHIR resources, {len(body) / 1024:.0f} KiB; {args.clients} clients, "
                f"{args.seconds:g} s per phase",
                file=sys.stderr,
            )
            floor = asyncio.run(_drive(f"{base}/bench/floor", make_body, args.seconds, args.clients, None))
            hookr = asyncio.run(_drive(f"{base}/cds-services/{SERVICE}", make_body, args.seconds, args.clients, sign))
        finally:
            proc.terminate()
            proc.wait(10)
    ratio = hookr["rps"] / floor["rps"] if floor["rps"] else 0.0
    result = {
        "resources": n_resources,
        "body_bytes": len(body),
        "clients": args.clients,
        "same_chart_every_time": args.repeat_body,
        "floor": floor,
        "patient_view": hookr,
        "rps_vs_floor": round(ratio, 3),
        "goals": {
            "zero_errors": hookr["errors"] == 0,
            "p95_le_100ms": hookr["p95_ms"] <= 100,
            "half_floor_rps": ratio >= 0.5,
        },
    }
    print(f"{'':14} {'req/s':>8} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'errors':>7}")
    for name, r in (("floor (parse)", floor), ("patient-view", hookr)):
        print(f"{name:14} {r['rps']:8.1f} {r['p50_ms']:8.1f} {r['p95_ms']:8.1f} {r['p99_ms']:8.1f} {r['errors']:7d}")
    print(
        f"patient-view / floor requests/s: {ratio:.2f} (goal ≥ 0.5); goals met: "
        f"{', '.join(k for k, v in result['goals'].items() if v) or 'none'}"
    )
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
