"""Sealed messages: only the right sender, for the right purpose, once, in time."""

import json
import stat
import threading

import pytest

from agent import signing
from agent.signing import Opener, SealRefused, seal


@pytest.fixture
def key(tmp_path):
    return signing.load_or_create_key(tmp_path / "host.key")


def sealed(key, payload=None, **overrides):
    options = {"signer": "host-1", "purpose": "report:host-1", "payload": payload or {"a": 1}}
    return seal(key, **{**options, **overrides})


def test_a_sealed_message_opens_once_with_its_signers_key(key):
    message = sealed(key)
    public = signing.public_text(key)
    opener = Opener()
    assert opener.open(message, public, signer="host-1", purpose="report:host-1") == {"a": 1}
    with pytest.raises(SealRefused, match="replayed"):
        opener.open(message, public, signer="host-1", purpose="report:host-1")


def test_it_survives_the_broker_as_json(key):
    message = json.loads(json.dumps(sealed(key, {"addresses": ["10.0.0.1"]})))
    opened = Opener().open(
        message, signing.public_text(key), signer="host-1", purpose="report:host-1"
    )
    assert opened == {"addresses": ["10.0.0.1"]}


@pytest.mark.parametrize(
    "change, reason",
    [
        (lambda m: m.update(payload={"a": 2}), "signature"),
        (lambda m: m.update(purpose="report:host-2"), "not for 'report:host-1'"),
        (lambda m: m.update(signer="host-2"), "not by 'host-1'"),
        (lambda m: m.pop("signature"), "not sealed"),
        (lambda m: m.update(extra=1), "fields"),
        (lambda m: m.update(seal=2), "seal version"),
    ],
)
def test_a_changed_or_misdirected_message_is_refused(key, change, reason):
    message = sealed(key)
    change(message)
    with pytest.raises(SealRefused, match=reason):
        Opener().open(message, signing.public_text(key), signer="host-1", purpose="report:host-1")


def test_a_message_past_its_time_is_refused(key):
    message = sealed(key, ttl=-3600)
    with pytest.raises(SealRefused, match="check both clocks"):
        Opener().open(message, signing.public_text(key), signer="host-1", purpose="report:host-1")


def test_another_hosts_key_does_not_open_it(key, tmp_path):
    other = signing.load_or_create_key(tmp_path / "other.key")
    with pytest.raises(SealRefused, match="signature is not host-1's"):
        Opener().open(
            sealed(key), signing.public_text(other), signer="host-1", purpose="report:host-1"
        )


def test_the_private_key_is_kept_for_its_owner_only_and_reused(key, tmp_path):
    path = tmp_path / "host.key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert signing.public_text(signing.load_or_create_key(path)) == signing.public_text(key)


def test_hosts_starting_at_once_keep_one_key(tmp_path):
    path, keys = tmp_path / "etc" / "host.key", []
    threads = [
        threading.Thread(target=lambda: keys.append(signing.load_or_create_key(path)))
        for _ in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len({signing.public_text(k) for k in keys}) == 1
    assert [p.name for p in path.parent.iterdir()] == ["host.key"]


def test_a_shared_memory_of_nonces_refuses_a_copy_opened_elsewhere(key):
    held = set()

    def remember(nonce, seconds):
        if nonce in held:
            return False
        held.add(nonce)
        return True

    message, public = sealed(key), signing.public_text(key)
    Opener(remember).open(message, public, signer="host-1", purpose="report:host-1")
    with pytest.raises(SealRefused, match="replayed"):
        Opener(remember).open(message, public, signer="host-1", purpose="report:host-1")


def test_fingerprints_read_like_ssh_keygen(key):
    print_ = signing.fingerprint(signing.public_text(key))
    assert print_.startswith("SHA256:") and len(print_) == 50
    with pytest.raises(SealRefused, match="not a public key"):
        signing.parse_public("ssh-rsa AAAA")
