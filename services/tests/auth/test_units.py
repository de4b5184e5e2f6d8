"""Pure parts of the auth service: names, passwords, key files, the keygen command."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from parley import cli
from parley.auth.identity import InvalidIdentity, normalize_email, normalize_phone, normalize_username
from parley.auth.keys import ACTIVE_KID_FILE, KeyError_, KeyStore, load_pem, public_pem
from parley.auth.passwords import check_policy
from typer.testing import CliRunner


@pytest.mark.parametrize(
    ("name", "key"),
    [
        ("Ada", "ada"),
        ("\uff21\uff24\uff21", "ada"),  # fullwidth
        ("\u0410\u0501\u0430", "ada"),  # Cyrillic capital A, Komi de, small a
        ("Stra\u00dfe", "strasse"),  # case folding expands
        ("\u03bf\u03c1\u03b1", "opa"),  # Greek omicron rho alpha (after Greek, alpha maps to a)
        ("\u5f20\u4f1f\u660e", "\u5f20\u4f1f\u660e"),  # Han stays itself
        ("jo\u0301se", "j\u00f3se"),  # NFKC composes the combining accent
        ("user\u0661", "user1"),  # an Arabic-Indic digit compares as 1 (digits belong to no script)
    ],
)
def test_username_keys(name: str, key: str) -> None:
    assert normalize_username(name).key == key


@pytest.mark.parametrize(
    ("name", "code"),
    [
        ("ab", "invalid_username"),
        ("a" * 33, "invalid_username"),
        ("ada lovelace", "invalid_username"),
        ("ada\u200bx", "invalid_username"),  # zero-width space
        (".ada", "invalid_username"),
        ("p\u0430ypal", "mixed_scripts"),  # one Cyrillic a in Latin
        ("\u0430\u03b1a", "mixed_scripts"),
    ],
)
def test_usernames_refused(name: str, code: str) -> None:
    with pytest.raises(InvalidIdentity) as caught:
        normalize_username(name)
    assert caught.value.code == code


def test_emails_and_phones() -> None:
    assert normalize_email(" Ada@Example.ORG ").key == "ada@example.org"
    assert normalize_email(" Ada@Example.ORG ").display == "Ada@Example.ORG"
    for bad in (
        "ada",
        "ada@",
        "@example.org",
        "ada@example",
        "a b@example.org",
        "a..b@example.org",
        "ada@-x.org",
    ):
        with pytest.raises(InvalidIdentity):
            normalize_email(bad)
    assert normalize_phone("+1 (415) 555-0100") == "+14155550100"
    for bad in ("4155550100", "+0123456789", "+1 415", "+1234567890123456"):
        with pytest.raises(InvalidIdentity):
            normalize_phone(bad)


def test_password_policy_messages() -> None:
    assert check_policy("correct horse battery") == []
    rules = {p.rule for p in check_policy("short")}
    assert rules == {"min_length"}
    assert {p.rule for p in check_policy("password123")} == {"common"}
    assert {p.rule for p in check_policy("abcdefghijkl")} == {"sequence"}
    assert {p.rule for p in check_policy("zzzzzzzzzzzz")} == {"sequence"}
    assert {p.rule for p in check_policy("abababababab")} == {"too_few_characters"}
    assert {p.rule for p in check_policy("my name is grace!", username="Grace")} == {"contains_identity"}
    assert {p.rule for p in check_policy("x" * 129)} == {"max_length", "sequence"}
    for problem in check_policy("ab"):
        assert problem.message.endswith(".")


def test_key_files(tmp_path: Path) -> None:
    weak = rsa.generate_private_key(public_exponent=65537, key_size=1024)  # noqa: S505  (must be refused)
    small = weak.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    with pytest.raises(KeyError_, match="at least 2048"):
        load_pem("small", small, "small.pem")
    with pytest.raises(KeyError_, match="not a PEM key"):
        load_pem("bad", b"-----BEGIN PRIVATE KEY-----\nxx\n-----END PRIVATE KEY-----\n", "bad.pem")
    with pytest.raises(KeyError_, match="kid"):
        load_pem("bad kid/", small, "x")


def test_keystore_needs_a_signer(tmp_path: Path, pems: list[bytes]) -> None:
    (tmp_path / "old.pem").write_bytes(public_pem(pems[0]))
    with pytest.raises(KeyError_, match="no private key"):
        KeyStore.from_directory(tmp_path)
    (tmp_path / "new.pem").write_bytes(pems[1])
    (tmp_path / ACTIVE_KID_FILE).write_text("old")
    with pytest.raises(KeyError_, match="has no private key"):
        KeyStore.from_directory(tmp_path)
    store = KeyStore.from_directory(tmp_path, active_kid="new")
    assert store.active.kid == "new"
    assert [key["kid"] for key in store.jwks()["keys"]] == ["new", "old"]


def test_single_pem_kid_is_its_thumbprint(pems: list[bytes]) -> None:
    first, again = KeyStore.from_pem(pems[0]), KeyStore.from_pem(pems[0])
    assert first.active.kid == again.active.kid
    assert first.active.kid != KeyStore.from_pem(pems[1]).active.kid


def test_keygen_command(tmp_path: Path) -> None:
    directory = tmp_path / "keys"
    args = ["auth", "keygen", str(directory), "--kid", "k7", "--activate"]
    result = CliRunner().invoke(cli.app, args)
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == "k7"
    assert (directory / "k7.pem").stat().st_mode & 0o777 == 0o600
    assert (directory / ACTIVE_KID_FILE).read_text().strip() == "k7"
    assert KeyStore.from_directory(directory).active.kid == "k7"
    assert CliRunner().invoke(cli.app, args).exit_code == 1  # never overwrites a key
