"""The ACME adapter uses only acme's public API, but for the one documented place (issue 14.2)."""

from __future__ import annotations

import ast
import json

from acme import messages
from certrotate.adapters.acme.authority import NewOrderReplacing

from tests.paths import ROOT

LAYER = ROOT / "layers" / "certrotate" / "certrotate"
ALLOWED: set[tuple[str, str, str]] = set()  # private names of acme allowed in production code: none
PRIVATE_NAMES_OF_ACME = (
    "._post",
    "._check_response",
    "._authzr_from_response",
    "._send_request",
    "._wrap_in_jws",
)


def _acme_aliases(tree: ast.Module) -> set[str]:
    aliases: set[str] = set()
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.ImportFrom)
            and node.module
            and node.module.split(".")[0] in ("acme", "josepy")
        ):
            aliases.update(a.asname or a.name for a in node.names)
        elif isinstance(node, ast.Import):
            aliases.update(
                a.asname or a.name for a in node.names if a.name.split(".")[0] in ("acme", "josepy")
            )
    return aliases


def test_no_private_attribute_of_acme_outside_the_one_documented_place() -> None:
    found = set()
    for path in LAYER.rglob("*.py"):
        text = path.read_text()
        for name in PRIVATE_NAMES_OF_ACME:
            assert name not in text, f"{path.name} uses acme's private {name}"
        tree = ast.parse(text)
        aliases = _acme_aliases(tree)
        for function in [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)]:
            for node in ast.walk(function):
                if (
                    isinstance(node, ast.Attribute)
                    and node.attr.startswith("_")
                    and not node.attr.startswith("__")
                    and isinstance(node.value, ast.Name)
                    and node.value.id in aliases
                ):
                    found.add((path.name, function.name, node.attr))
    assert found == ALLOWED


def test_a_new_order_names_the_certificate_it_replaces_and_its_profile() -> None:
    identifiers = [messages.Identifier(typ=messages.IDENTIFIER_FQDN, value="site.example.com")]
    payload = NewOrderReplacing(
        identifiers=identifiers, profile="shortlived", replaces="aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE"
    )
    assert json.loads(payload.json_dumps()) == {
        "identifiers": [{"type": "dns", "value": "site.example.com"}],
        "profile": "shortlived",
        "replaces": "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE",
    }


def test_without_replaces_or_profile_the_payload_is_acmes_own() -> None:
    identifiers = [messages.Identifier(typ=messages.IDENTIFIER_FQDN, value="site.example.com")]
    ours = NewOrderReplacing(identifiers=identifiers, profile="", replaces="")
    theirs = messages.NewOrder(identifiers=identifiers, profile="")
    assert (
        json.loads(ours.json_dumps())
        == json.loads(theirs.json_dumps())
        == {"identifiers": [{"type": "dns", "value": "site.example.com"}]}
    )


def test_our_ari_certificate_id_is_the_one_acme_computes_for_renewal_time() -> None:
    from acme import client as acme_client
    from certrotate.check.certificates import ari_certificate_id
    from cryptography import x509

    from devstack.fixtures import LocalCA, make_certificate

    for _ in range(20):  # serials of every length and sign bit
        made = make_certificate(["a.example.com"], 30, ca=LocalCA("ari"))
        leaf = x509.load_pem_x509_certificate(made.cert_pem.encode())
        assert ari_certificate_id(leaf) == acme_client._renewal_info_path_component(leaf)
