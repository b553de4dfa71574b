"""The console's Celery app for bench/io_rounds_scale.py's rounds workers: the real app
and tasks, with one change, the transport that reaches the agents.

Instead of a sandbox agent per host (1,000 agents would eat the 2 cores being measured),
`RecordedTransport` answers `io_probe` with the probe recorded for the host
(BENCH_PROBES, written by the benchmark from the real multipathd and bonding parsers).
It still does everything the console does with a real answer: the request is sealed with
the console's key, the answer comes back sealed by the host's own key for that request,
as JSON text, and the console parses it, opens the seal (signature, purpose, nonce
remembered in Redis) and decodes it against the contract. The agent's own sealing runs
here too, made cheap (the probe is serialized once, each answer is a signature and a
concatenation), so it costs the worker little.
What is left out: the trip through Redis to the host's queue and back, and the agent's
own probe.

    celery -A _rounds_worker worker -Q <queue> ...   (from bench/, the project on PYTHONPATH)
"""

import base64
import hashlib
import json
import os
import secrets
import time

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "console.settings")

import django  # noqa: E402

django.setup()

from agent import contract, signing  # noqa: E402
from clusters import agents  # noqa: E402
from console.celery import app  # noqa: E402, F401 - what `celery -A` loads

# Every FLAP_EVERY-th host loses a path in alternate windows of FLAP_SECONDS: its alerts
# open and clear as rounds go by.
FLAP_EVERY = 4
FLAP_SECONDS = float(os.environ.get("BENCH_FLAP_SECONDS", "5"))


def bench_host_key(host_uuid) -> Ed25519PrivateKey:
    """The key a bench host seals its answers with, the same in every process."""
    return Ed25519PrivateKey.from_private_bytes(
        hashlib.sha256(f"bench host {host_uuid}".encode()).digest()
    )


class RecordedTransport:
    """Answers each host's io_probe with its recorded probe, sealed as its agent would."""

    def __init__(self, probes_file: str):
        with open(probes_file) as recorded:
            probes = json.load(recorded)
        # Each envelope in canonical JSON once: the agent's sealing then costs a signature
        # and a concatenation here, not a serialization of the whole probe per call.
        self.payloads = {
            name: _canonical_text(
                {"contract": contract.CONTRACT_VERSION, "agent_version": "bench", "answer": probe}
            )
            for name, probe in probes.items()
        }
        self.keys: dict[str, Ed25519PrivateKey] = {}

    def send(self, host, call, kwargs, timeout):
        if call != contract.IO_PROBE.name:
            raise agents.HostUnreachable(f"{host.hostname}: the bench answers io_probe only")
        # The console's part, as CeleryTransport does it.
        request = signing.seal(
            agents.console_key(),
            signer=contract.CONSOLE_SIGNER,
            purpose=contract.call_purpose(call, host.uuid),
            payload=kwargs,
            ttl=timeout,
        )
        # The agent's part: its envelope sealed for this very request, as JSON text.
        flapping = host.pk % FLAP_EVERY == 0 and int(time.time() / FLAP_SECONDS) % 2
        payload = self.payloads["one_path_down" if flapping else "healthy"]
        uuid = str(host.uuid)
        key = self.keys.get(uuid) or self.keys.setdefault(uuid, bench_host_key(uuid))
        wire = _sealed_text(key, uuid, contract.answer_purpose(request["nonce"]), payload)
        # The console's part again: read the answer off the wire and open it.
        return agents.open_answer(host, call, request["nonce"], json.loads(wire))


def _canonical_text(value) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def _sealed_text(key: Ed25519PrivateKey, signer: str, purpose: str, payload: str) -> str:
    """What signing.seal makes, as JSON text, around a payload already in canonical JSON
    (the seal's fields sort around "payload" as signing's canonical form puts them)."""
    now = time.time()
    head = _canonical_text(
        {"expires": round(now + signing.DEFAULT_TTL, 3), "issued": round(now, 3)}
    )
    head = head[:-1] + ',"nonce":' + _canonical_text(secrets.token_hex(16))
    tail = _canonical_text({"purpose": purpose, "seal": signing.SEAL_VERSION, "signer": signer})
    canonical = f'{head},"payload":{payload},{tail[1:]}'
    signature = base64.b64encode(key.sign(canonical.encode())).decode()
    return f'{canonical[:-1]},"signature":"{signature}"}}'


if os.environ.get("BENCH_PROBES"):
    agents.TRANSPORT = RecordedTransport(os.environ["BENCH_PROBES"])
