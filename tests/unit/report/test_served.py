"""The pure comparison of what an endpoint serves with what IAM says it should: names, selection, verdicts."""

from __future__ import annotations

import pytest
from certrotate.report.served import (
    CheckResult,
    CheckStatus,
    ExpectedCertificate,
    Presented,
    candidates,
    compare,
    covers,
    server_names,
)
from certrotate.report.verify import summarize
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from devstack.fixtures import IssuedCertificate, LocalCA, make_certificate


@pytest.fixture(scope="module")
def ca() -> LocalCA:
    return LocalCA("served test")


def expected(name: str, made: IssuedCertificate) -> ExpectedCertificate:
    return ExpectedCertificate.from_pem(
        name, f"arn:aws:iam::1:server-certificate/{name}", made.cert_pem, made.chain_pem
    )


def presented(made: IssuedCertificate, *, chain: bool = True) -> Presented:
    pems = [made.cert_pem] + ([made.chain_pem] if chain else [])
    ders = [x509.load_pem_x509_certificate(p.encode()).public_bytes(Encoding.DER) for p in pems]
    return Presented.from_der(ders)


def judge(want: ExpectedCertificate, got: Presented | None, **kwargs: object) -> CheckStatus:
    allowed = kwargs.pop("allowed", [want])
    result = compare(
        endpoint="alb x",
        address="x:443",
        server_name="example.com",
        expected=want,
        allowed=allowed,  # type: ignore[arg-type]
        presented=got,
        **kwargs,  # type: ignore[arg-type]
    )
    return result.status


def test_server_names_ask_each_name_once_and_a_wildcard_as_one_label() -> None:
    assert server_names(["example.com", "*.example.com", "EXAMPLE.com."]) == [
        "example.com",
        "certrotate-verify.example.com",
    ]


@pytest.mark.parametrize(
    ("names", "host", "covered"),
    [
        (["example.com"], "example.com", True),
        (["example.com"], "www.example.com", False),
        (["*.example.com"], "www.example.com", True),
        (["*.example.com"], "example.com", False),  # a wildcard never covers the apex
        (["*.example.com"], "a.b.example.com", False),  # nor two labels
        (["Shop.Example.com"], "shop.example.com.", True),
    ],
)
def test_covers_follows_rfc_6125(names: list[str], host: str, covered: bool) -> None:
    assert covers(names, host) is covered


def test_the_endpoint_may_serve_any_listed_certificate_that_covers_the_name_else_its_default(
    ca: LocalCA,
) -> None:
    default = expected("default", make_certificate(["default.example.org"], ca=ca))
    apex = expected("apex", make_certificate(["example.com"], ca=ca))
    wildcard = expected("wild", make_certificate(["*.example.com", "example.com"], ca=ca))
    assert candidates("example.com", default, [apex, wildcard]) == [apex, wildcard]
    assert candidates("www.example.com", default, [apex, wildcard]) == [wildcard]
    assert candidates("nothing.example.net", default, [apex, wildcard]) == [default]
    assert candidates("default.example.org", default, []) == [default]


def test_the_right_leaf_and_chain_is_ok(ca: LocalCA) -> None:
    made = make_certificate(["example.com"], ca=ca)
    assert judge(expected("shop", made), presented(made)) is CheckStatus.OK


def test_the_old_certificate_still_served_is_a_mismatch_that_names_it(ca: LocalCA) -> None:
    old, new = make_certificate(["example.com"], ca=ca), make_certificate(["example.com"], ca=ca)
    want, was = expected("shop-new", new), expected("shop", old)
    result = compare(
        endpoint="alb x",
        address="x:443",
        server_name="example.com",
        expected=want,
        allowed=[want],
        presented=presented(old),
        known=[was],
    )
    assert result.status is CheckStatus.WRONG_CERTIFICATE
    assert result.served_name == "shop"
    assert "serves shop " in result.detail and "IAM says shop-new" in result.detail
    assert result.served_serial == was.leaf.serial


def test_a_certificate_unknown_to_iam_is_a_mismatch(ca: LocalCA) -> None:
    made, stranger = make_certificate(["example.com"], ca=ca), make_certificate(["example.com"], ca=ca)
    assert judge(expected("shop", made), presented(stranger)) is CheckStatus.WRONG_CERTIFICATE


def test_a_missing_or_different_chain_is_a_mismatch(ca: LocalCA) -> None:
    made = make_certificate(["example.com"], ca=ca)
    assert judge(expected("shop", made), presented(made, chain=False)) is CheckStatus.WRONG_CHAIN


def test_another_listed_certificate_covering_the_name_is_acceptable(ca: LocalCA) -> None:
    mine, other = (
        make_certificate(["example.com"], ca=ca),
        make_certificate(["*.example.com", "example.com"], ca=ca),
    )
    want, also = expected("shop", mine), expected("wild", other)
    assert judge(want, presented(other), allowed=[want, also]) is CheckStatus.OTHER_MATCH


def test_no_handshake_is_unreachable_not_a_mismatch(ca: LocalCA) -> None:
    want = expected("shop", make_certificate(["example.com"], ca=ca))
    result = compare(
        endpoint="alb x",
        address="x:443",
        server_name="example.com",
        expected=want,
        allowed=[want],
        presented=None,
        error="TimeoutError: timed out",
    )
    assert result.status is CheckStatus.UNREACHABLE and not result.status.is_mismatch
    assert result.detail == "TimeoutError: timed out"


def test_summary_counts_endpoints_not_handshakes(ca: LocalCA) -> None:
    made, old = make_certificate(["example.com"], ca=ca), make_certificate(["example.com"], ca=ca)
    want = expected("shop", made)

    def at(endpoint: str, got: Presented | None) -> CheckResult:
        return compare(
            endpoint=endpoint,
            address="x:443",
            server_name="example.com",
            expected=want,
            allowed=[want],
            presented=got,
        )

    report = summarize(
        [
            at("a", presented(made)),
            at("a", presented(made)),
            at("b", presented(made)),
            at("b", presented(old)),
            at("c", None),
        ]
    )
    assert (report.verified, report.mismatches, report.unreachable) == (1, 1, 1)
    assert len(report.problems) == 2
