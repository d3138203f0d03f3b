r"""In-process patches that make moto behave like real AWS where certrotate depends on it.

Each patch closes a gap measured against moto 5.2 (FIELD-NOTES.md, tests/integration/test_moto_fixes.py):

IAM server certificates
  * `Expiration`/`UploadDate` come from the certificate and the upload time (moto: fixed 2010/2012 dates),
    every certificate gets its own `ServerCertificateId` (moto: one constant for all);
  * upload rejects unparsable PEM (`MalformedCertificate`), a key that does not match (`KeyPairMismatch`),
    a duplicate name (`EntityAlreadyExists`) and uploads beyond the quota (`LimitExceeded`);
  * `ListServerCertificates` honours `PathPrefix`, `Marker` and `MaxItems` (default page 100);
  * tags: `Tags` on upload, `TagServerCertificate`, `UntagServerCertificate`, `ListServerCertificateTags`
    (moto: not implemented, the server answered HTML 500) and `Tags` in `GetServerCertificate`;
  * tag keys (1-128) and values (0-256) must match IAM's `[\p{L}\p{Z}\p{N}_.:/=+\-@]`, else `ValidationError`
    as IAM words it (moto: no check on values, `\s` and `\w` for keys): a certificate name may hold `,`,
    a tag value may not;
  * `DeleteServerCertificate` of a certificate an ELBv2 listener (default or SNI), a Classic ELB listener or a
    CloudFront distribution still uses fails with `DeleteConflict` (409); `set_iam_delete_conflict(False)`
    turns that check off, for the case the API reference warns about: "If Elastic Load Balancing doesn't
    detect the deletion of bound certificates, it may continue to use the certificates" (the delete succeeds);
  * `GetAccountSummary` reports a settable `ServerCertificatesQuota` (`set_server_certificate_quota`).
ELBv2
  * a listener keeps its default certificate and its SNI list apart: `ModifyListener(Certificates)`
    replaces only the default (also on NLB TLS listeners, which moto ignored), `DescribeListeners` shows
    only the default, `DescribeListenerCertificates` flags them, `RemoveListenerCertificates` cannot
    remove the default;
  * `AddListenerCertificates`/`ModifyListener` with an unknown certificate -> `CertificateNotFound`;
  * at most 25 certificates per load balancer besides each listener's default, counted over all its
    listeners (moto: 25 per listener, the default included); beyond -> `TooManyCertificates`;
  * listener rules: at most 100 per load balancer besides the defaults (`TooManyRules`), a taken priority
    is `PriorityInUse`, deleting an unknown rule is `RuleNotFound`; a rule takes effect for the requests
    the load balancer answers (devstack.alb_front) only `set_alb_rule_delay` seconds after it is created,
    and keeps answering as long after it is deleted, as the ALB guide warns (moto: at once).
CloudFront
  * `CreateDistribution`/`UpdateDistribution` with an IAM certificate that does not cover every alias
    (a wildcard covers one label) -> `InvalidViewerCertificate` (moto accepted any certificate);
    likewise with a key CloudFront does not serve (only RSA 1024-4096 and ECDSA P-256: no P-384).
Classic ELB
  * `SetLoadBalancerListenerSSLCertificate`: unknown load balancer -> `LoadBalancerNotFound`, no listener
    on the port -> `ListenerNotFound`, unknown IAM certificate -> `CertificateNotFound` (moto: did nothing).
Route 53
  * a change batch holds at most 32,000 characters in its Value elements, an UPSERT's counted twice, else
    `InvalidChangeBatch` (moto checked only the 1,000 ResourceRecord elements);
  * a change batch is validated as a whole against the zone, then applied in order: CREATE of an existing
    name+type, DELETE of a missing record set or with values/TTL that differ, and unquoted TXT values
    fail with `InvalidChangeBatch`;
  * a CNAME stands alone: a CNAME beside another type at one name, or another type beside a CNAME, fails
    with `InvalidChangeBatch` (moto accepted both; `_acme-challenge` names are often delegated by CNAME);
  * a batch is atomic for readers too: `ListResourceRecordSets` never sees it half applied (moto: a reader
    could see a DELETE + CREATE swap between its two steps, the set missing);
  * names are stored in lower case, and `ListResourceRecordSets` starts at `StartRecordName` whatever its
    case (moto: stored as given and compared case-sensitively, so an upper-case name was skipped);
  * changes get their own IDs and are `PENDING` until polled: `GetChange` answers `PENDING` for the first
    `set_route53_pending_polls(n)` polls (default 1), then `INSYNC`; unknown IDs -> `NoSuchChange`. With
    `set_route53_insync_after(seconds)` a change also stays `PENDING` until that long after it was submitted
    (Route 53 says changes propagate "generally within 60 seconds"; default 0: polls alone decide).
CloudFront
  * a distribution is `InProgress` after it is created or updated, for the first
    `set_cloudfront_deploy_polls(n)` reads of its status (`GetDistribution`, `ListDistributions`; default 1),
    then `Deployed` (moto: `Deployed` at once, and an update never went back to `InProgress`).
EC2 regions
  * `DescribeRegions` lists only the regions enabled for the account, in the caller's partition, unless
    `AllRegions` is true (moto: every region of every partition, opted in or not); `Filters` on
    `opt-in-status` and `region-name` work; `set_enabled_regions([...])` says which regions are enabled
    (default: moto's, those needing no opt-in).
SQS
  * FIFO deduplication lasts the 5-minute interval even after the first message was received and deleted
    (moto only compared with messages still in the queue), per queue or per message group.
CloudFront
  * a cache behaviour keeps its `LambdaFunctionAssociations` and `FunctionAssociations` (moto: always
    `Quantity` 0), so an update that re-sends a distribution's Lambda@Edge associations is seen to keep them.
STS
  * `AssumeRole` of a role that does not exist, or whose trust policy names no principal of the caller's
    account, fails with `AccessDenied` (moto: any ARN was assumed, the role need not exist); conditions are
    not evaluated (tests/unit/project/test_member_role.py checks them in the member role's template). moto
    routes AssumeRoleWithWebIdentity/SAML through the same method: they are checked alike (nothing here uses
    them).
Secrets Manager
  * moto already refuses a `ClientRequestToken` reused with different content (`ResourceExistsException`) and
    is idempotent for the same content, except for versions staged `AWSPENDING`, which it overwrote;
  * check-then-write is made atomic, so concurrent writers really get compare-and-swap semantics.
ACM imported certificates
  * re-import (`ImportCertificate` with `CertificateArn`) keeps the ARN, the tags and the associations
    (moto: a fresh certificate under the old ARN, tags lost); it refuses a changed key type or size, removed
    Key Usage/Extended Key Usage values (but Client Authentication, and keyEncipherment on ECDSA) and tags in
    the same call (`ValidationException`), as the ACM user guide's "Reimport a certificate" says;
  * `DescribeCertificate`'s `InUseBy` names the ELBv2 load balancers serving it now (moto: listener ARNs,
    kept after the listener left);
  * `ListCertificates` without `Includes.keyTypes` lists RSA_1024/RSA_2048 certificates only (moto: all);
  * imports, re-imports included, count against a quota per account and region over 365 days
    (`set_acm_import_quota`, default 5,000 as on AWS): beyond it `LimitExceededException` (moto: none).
DynamoDB
  * a conditional write (PutItem, UpdateItem, DeleteItem, TransactWriteItems) checks its condition and
    writes as one step, as DynamoDB does: moto checked, then wrote, and two writers that read the same item
    could both succeed (tests/integration/test_moto_fixes.py shows the lost update).

IAM policy simulator
  * `SimulatePrincipalPolicy` of a role's identity policies (moto: not implemented), devstack.iam_simulation.

Patched exceptions subclass moto's own service exceptions, so the server serialises them as AWS errors.
"""

from __future__ import annotations

import base64
import copy
import datetime as dt
import json
import re
import secrets
import string
import threading
import time
import unicodedata
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID

_MARKER = "_devstack_patched"
_apply_lock = threading.Lock()
# moto's server handles requests in threads and its backends do check-then-write without locks; real AWS is
# atomic per call, and certrotate's races (leases, duplicate names) are only tested honestly if moto is too.
STATE_LOCK = threading.RLock()

DEFAULT_SERVER_CERTIFICATE_QUOTA = 20
# "Certificates per Application (or Network) Load Balancer: 25", the default certificates not counted
# (Elastic Load Balancing quotas); an SNI certificate counts once for each listener that holds it.
CERTIFICATES_PER_LOAD_BALANCER = 25
# "Rules per Application Load Balancer: 100", default rules not counted (Elastic Load Balancing quotas).
RULES_PER_LOAD_BALANCER = 100
# FixedResponseActionConfig.MessageBody: "Length Constraints: Minimum length of 0. Maximum length of 1024."
FIXED_RESPONSE_BODY_LIMIT = 1024
DEFAULT_ROUTE53_PENDING_POLLS = 1
# "Imported certificates in last 365 days: 5,000" (ACM quotas), counted per account and region; a re-import
# counts as an import.
DEFAULT_ACM_IMPORT_QUOTA = 5000
ACM_IMPORT_WINDOW_SECONDS = 365 * 86_400
_acm_imports: dict[tuple[str, str], list[float]] = {}  # (account, region) -> when each import happened
# How long AWS takes to apply a change, where the devstack models it: "alb_rules", "route53_insync_after".
_delays: dict[str, float] = {}
# ALB rules as their load balancer applies them (rules_in_effect): when each was created (monotonic), and the
# rules deleted from each listener, as DescribeRules showed them, with when.
_rule_created: dict[str, float] = {}
_rules_deleted: dict[str, list[tuple[float, dict[str, Any]]]] = {}
DEFAULT_CLOUDFRONT_DEPLOY_POLLS = 1
_settings: dict[str, int] = {}
_enabled_regions: list[frozenset[str] | None] = [None]  # one slot: None = moto's default


def set_server_certificate_quota(quota: int) -> None:
    """`ServerCertificatesQuota` as IAM reports and enforces it (default 20)."""
    if quota < 0:
        raise ValueError("quota must be >= 0")
    _settings["server_certificate_quota"] = quota


def server_certificate_quota() -> int:
    return _settings.get("server_certificate_quota", DEFAULT_SERVER_CERTIFICATE_QUOTA)


def set_route53_pending_polls(polls: int) -> None:
    """How many `GetChange` calls still answer `PENDING` for a change before it is `INSYNC` (default 1)."""
    if polls < 0:
        raise ValueError("polls must be >= 0")
    _settings["route53_pending_polls"] = polls


def route53_pending_polls() -> int:
    return _settings.get("route53_pending_polls", DEFAULT_ROUTE53_PENDING_POLLS)


def set_route53_insync_after(seconds: float) -> None:
    """A change answers `PENDING` until `seconds` after it was submitted (and its pending polls are spent)."""
    if seconds < 0:
        raise ValueError("seconds must be >= 0")
    _delays["route53_insync_after"] = seconds


def route53_insync_after() -> float:
    return _delays.get("route53_insync_after", 0.0)


def set_iam_delete_conflict(enabled: bool) -> None:
    """Whether `DeleteServerCertificate` refuses a certificate that is still bound (`DeleteConflict`, the
    default). With False the delete succeeds while listeners and distributions still serve it, as the API
    reference warns Elastic Load Balancing may let happen: callers must not rely on IAM to protect them."""
    _settings["iam_delete_conflict"] = int(enabled)


def iam_delete_conflict() -> bool:
    return bool(_settings.get("iam_delete_conflict", 1))


def set_cloudfront_deploy_polls(polls: int) -> None:
    """How many reads of a distribution's status still answer `InProgress` after it was created or
    updated, before it is `Deployed` (default 1; real CloudFront takes minutes)."""
    if polls < 0:
        raise ValueError("polls must be >= 0")
    _settings["cloudfront_deploy_polls"] = polls


def cloudfront_deploy_polls() -> int:
    return _settings.get("cloudfront_deploy_polls", DEFAULT_CLOUDFRONT_DEPLOY_POLLS)


def set_enabled_regions(regions: Iterable[str] | None) -> None:
    """The regions enabled for the account, as `DescribeRegions` reports them (None: moto's default, every
    region that needs no opt-in). Real accounts have opt-in regions disabled until someone enables them."""
    _enabled_regions[0] = None if regions is None else frozenset(regions)


def enabled_regions() -> frozenset[str] | None:
    return _enabled_regions[0]


def set_acm_import_quota(imports: int) -> None:
    """How many certificates ACM imports (new ones and re-imports alike) per account and region within 365
    days before it answers `LimitExceededException` (AWS's default quota: 5,000). The count starts at the
    last AWS reset."""
    if imports < 0:
        raise ValueError("imports must be >= 0")
    _settings["acm_import_quota"] = imports


def acm_import_quota() -> int:
    return _settings.get("acm_import_quota", DEFAULT_ACM_IMPORT_QUOTA)


def acm_imports(account_id: str, region: str) -> int:
    """The imports ACM counted against the quota for an account and region (within 365 days)."""
    window_start = time.time() - ACM_IMPORT_WINDOW_SECONDS
    with STATE_LOCK:
        return sum(1 for at in _acm_imports.get((account_id, region), []) if at > window_start)


def set_alb_rule_delay(seconds: float) -> None:
    """How long an ALB listener rule takes to take effect once created, and to stop once deleted, for the
    requests a load balancer answers (devstack.alb_front; the API shows the change at once). AWS: "rule
    updates do not take effect immediately, so requests could be routed using the previous rule
    configuration for a short time" (ALB guide, edit rules). Default 0."""
    if seconds < 0:
        raise ValueError("seconds must be >= 0")
    _delays["alb_rules"] = float(seconds)


def alb_rule_delay() -> float:
    return _delays.get("alb_rules", 0.0)


def rules_in_effect(listener_arn: str, listed: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rules a listener applies now, from those DescribeRules lists (`listed`): a rule created less than
    the delay ago is not applied yet, a rule deleted less than the delay ago still is."""
    delay = alb_rule_delay()
    now = time.monotonic()
    with STATE_LOCK:
        applied = [r for r in listed if _rule_created.get(r.get("RuleArn", ""), 0.0) + delay <= now]
        lingering = [
            rule for deleted_at, rule in _rules_deleted.get(listener_arn, []) if deleted_at + delay > now
        ]
    return applied + lingering


def reset_settings() -> None:
    """Back to the defaults above (the stack calls this with every AWS reset)."""
    _settings.clear()
    _delays.clear()
    _enabled_regions[0] = None
    with STATE_LOCK:
        _acm_imports.clear()
        _rule_created.clear()
        _rules_deleted.clear()


def apply() -> None:
    """Patches moto in this process; idempotent (a marker on moto's IAM backend class records it)."""
    from moto.iam.models import IAMBackend

    with _apply_lock:
        if getattr(IAMBackend, _MARKER, False):
            return
        _patch_iam()
        _patch_elbv2()
        _patch_elb()
        _patch_cloudfront()
        _patch_route53()
        _patch_cloudfront_status()
        _patch_ec2_regions()
        _patch_sqs()
        _patch_secretsmanager()
        _patch_dynamodb()
        _patch_cloudfront_edge_associations()
        _patch_sts()
        _patch_acm()
        from devstack import iam_simulation

        iam_simulation.install()  # moto has no SimulatePrincipalPolicy
        setattr(IAMBackend, _MARKER, True)


def is_applied() -> bool:
    from moto.iam.models import IAMBackend

    return bool(getattr(IAMBackend, _MARKER, False))


def _locked(func: Callable[..., Any]) -> Callable[..., Any]:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with STATE_LOCK:
            return func(*args, **kwargs)

    wrapper.__name__ = func.__name__
    wrapper.__qualname__ = func.__qualname__
    wrapper.__doc__ = func.__doc__
    return wrapper


def _patch(cls: type, name: str, func: Callable[..., Any]) -> None:
    """Replaces (or adds) a method on one of moto's classes."""
    setattr(cls, name, func)


def _random_id(prefix: str, length: int) -> str:
    alphabet = string.ascii_uppercase + string.digits
    return prefix + "".join(secrets.choice(alphabet) for _ in range(length))


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


# ------------------------------------------------------------------------------------------------
# IAM server certificates
# ------------------------------------------------------------------------------------------------

_CERT_NAME = re.compile(r"^[\w+=,.@-]{1,128}$")
_DEFAULT_PAGE = 100


def _iam_exceptions() -> dict[str, type[Exception]]:
    from moto.iam import exceptions as iam_exc

    class KeyPairMismatch(iam_exc.IAMException):
        code = "KeyPairMismatch"

    class MalformedCertificate(iam_exc.IAMException):
        # moto's own MalformedCertificate puts the whole PEM into the message; AWS says what failed.
        code = "MalformedCertificate"

    for cls in (KeyPairMismatch, MalformedCertificate):
        cls.__module__ = iam_exc.__name__  # claim moto.iam so any serializer path finds the IAM error model
    return {"KeyPairMismatch": KeyPairMismatch, "MalformedCertificate": MalformedCertificate}


def _load_single_certificate(pem: str, what: str, malformed: type[Exception]) -> x509.Certificate:
    try:
        certs = x509.load_pem_x509_certificates(pem.strip().encode())
    except ValueError as error:
        raise malformed(f"Unable to parse {what}. Please ensure the {what} is in PEM format.") from error
    if len(certs) != 1:
        raise malformed(f"The {what} must contain exactly one PEM certificate, found {len(certs)}.")
    return certs[0]


def _spki(key: Any) -> bytes:
    der: bytes = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return der


def _validate_upload(
    cert_body: str, private_key: str, cert_chain: str | None, errors: dict[str, type[Exception]]
) -> x509.Certificate:
    malformed = errors["MalformedCertificate"]
    cert = _load_single_certificate(cert_body or "", "certificate", malformed)
    if cert_chain:
        try:
            x509.load_pem_x509_certificates(cert_chain.strip().encode())
        except ValueError as error:
            raise malformed(
                "Unable to parse certificate chain. Please ensure it is in PEM format."
            ) from error
    try:
        key = serialization.load_pem_private_key((private_key or "").strip().encode(), password=None)
    except (ValueError, TypeError) as error:
        # TypeError: an encrypted key; IAM wants it unencrypted.
        raise malformed("Unable to parse private key. Please ensure it is unencrypted PEM.") from error
    if _spki(key.public_key()) != _spki(cert.public_key()):
        raise errors["KeyPairMismatch"]("The private key did not match the public key in the certificate.")
    return cert


def _cert_meta(cert: Any) -> Any:
    """Fills the attributes the patches add, for certificates moto created some other way."""
    if not hasattr(cert, "devstack_id"):
        cert.devstack_id = _random_id("ASCA", 17)
        cert.upload_date = _utcnow()
        try:
            parsed = x509.load_pem_x509_certificate(cert.cert_body.encode())
            cert.expiration = parsed.not_valid_after_utc
        except (ValueError, AttributeError):
            cert.expiration = _utcnow()
        cert.tags = []
    return cert


def _metadata(cert: Any) -> dict[str, Any]:
    cert = _cert_meta(cert)
    return {
        "Path": cert.path,
        "ServerCertificateName": cert.cert_name,
        "ServerCertificateId": cert.devstack_id,
        "Arn": cert.arn,
        "UploadDate": cert.upload_date,
        "Expiration": cert.expiration,
    }


def _encode_marker(value: str) -> str:
    return base64.urlsafe_b64encode(value.encode()).decode()


def _decode_marker(marker: str, invalid: type[Exception]) -> str:
    try:
        return base64.urlsafe_b64decode(marker.encode()).decode()
    except (ValueError, UnicodeDecodeError) as error:
        raise invalid("Invalid Marker.") from error


def _page(
    items: list[Any], key: Callable[[Any], str], marker: str | None, max_items: Any, invalid: type[Exception]
) -> tuple[list[Any], str | None]:
    """IAM-style pagination over items sorted by `key`: the marker is the last key returned (opaque)."""
    limit = int(max_items) if max_items is not None else _DEFAULT_PAGE
    if not 1 <= limit <= 1000:
        raise invalid("MaxItems must be between 1 and 1000.")
    ordered = sorted(items, key=key)
    if marker:
        after = _decode_marker(marker, invalid)
        ordered = [item for item in ordered if key(item) > after]
    page = ordered[:limit]
    next_marker = _encode_marker(key(page[-1])) if len(ordered) > limit else None
    return page, next_marker


def _elbv2_users(account_id: str, arn: str) -> Iterator[str]:
    from moto.elbv2.models import elbv2_backends

    for backend in dict.values(elbv2_backends.get(account_id) or {}):
        for lb in backend.load_balancers.values():
            for listener in lb.listeners.values():
                if arn == listener.certificate or arn in listener.certificates or arn in _sni(listener):
                    yield lb.arn


def _elb_users(account_id: str, arn: str) -> Iterator[str]:
    from moto.elb.models import elb_backends

    for backend in dict.values(elb_backends.get(account_id) or {}):
        for lb in backend.load_balancers.values():
            if any(listener.ssl_certificate_id == arn for listener in lb.listeners):
                yield (
                    f"arn:aws:elasticloadbalancing:{backend.region_name}:{account_id}:loadbalancer/{lb.name}"
                )


def _cloudfront_users(account_id: str, certificate_id: str) -> Iterator[str]:
    from moto.cloudfront.models import cloudfront_backends

    for backend in dict.values(cloudfront_backends.get(account_id) or {}):
        for distribution in backend.distributions.values():
            viewer = getattr(distribution.distribution_config, "ViewerCertificate", None)
            if getattr(viewer, "iam_certificate_id", None) == certificate_id:
                yield distribution.arn


def _certificate_users(account_id: str, cert: Any) -> list[str]:
    cert = _cert_meta(cert)
    return [
        *_elbv2_users(account_id, cert.arn),
        *_elb_users(account_id, cert.arn),
        *_cloudfront_users(account_id, cert.devstack_id),
    ]


# IAM tag keys and values: [\p{L}\p{Z}\p{N}_.:/=+\-@] (letters, separators, numbers and these marks).
_TAG_MARKS = frozenset("_.:/=+-@")
_TAG_PATTERN = "[\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]"


def _iam_tag_text(text: str) -> bool:
    return all(unicodedata.category(char)[0] in "LZN" or char in _TAG_MARKS for char in text)


def _check_iam_tags(
    tags: Iterable[dict[str, str]], invalid: type[Exception], field: str = "tags", keys_only: bool = False
) -> None:
    """IAM's own validation of tag keys and values, worded as IAM words it (1-based member positions)."""

    def fail(value: str, where: str, constraint: str) -> None:
        raise invalid(
            f"1 validation error detected: Value '{value}' at '{where}' failed to satisfy constraint: "
            f"Member {constraint}"
        )

    for position, tag in enumerate(tags, start=1):
        key = tag["Key"]
        where = f"{field}.{position}.member" + ("" if keys_only else ".key")
        if not key:
            fail(key, where, "must have length greater than or equal to 1")
        if len(key) > 128:
            fail(key, where, "must have length less than or equal to 128")
        if not _iam_tag_text(key):
            fail(key, where, f"must satisfy regular expression pattern: {_TAG_PATTERN}+")
        if keys_only:
            continue
        value = tag.get("Value", "")
        where = f"{field}.{position}.member.value"
        if len(value) > 256:
            fail(value, where, "must have length less than or equal to 256")
        if not _iam_tag_text(value):
            fail(value, where, f"must satisfy regular expression pattern: {_TAG_PATTERN}*")


def _merge_tags(existing: list[dict[str, str]], new: Iterable[dict[str, str]]) -> list[dict[str, str]]:
    # IAM tag keys are unique case-insensitively; a new value replaces the old one (and its spelling).
    merged = {tag["Key"].lower(): tag for tag in existing}
    for tag in new:
        merged[tag["Key"].lower()] = {"Key": tag["Key"], "Value": tag["Value"]}
    return list(merged.values())


def _patch_iam() -> None:
    from moto.core.responses import ActionResult, EmptyResult
    from moto.iam import exceptions as iam_exc
    from moto.iam.models import Certificate, IAMBackend
    from moto.iam.responses import IamResponse

    errors = _iam_exceptions()
    original_delete = IAMBackend.delete_server_certificate
    original_summary = IAMBackend.get_account_summary

    def upload_server_certificate(
        self: Any,
        cert_name: str,
        cert_body: str,
        private_key: str,
        cert_chain: str | None = None,
        path: str | None = None,
        tags: list[dict[str, str]] | None = None,
    ) -> Any:
        if not cert_name or not _CERT_NAME.match(cert_name):
            raise iam_exc.ValidationError(
                f"The specified value for serverCertificateName is invalid: {cert_name!r} must be 1-128 "
                "characters of [\\w+=,.@-]."
            )
        path = path or "/"
        if not (path.startswith("/") and path.endswith("/")):
            raise iam_exc.ValidationError(
                "The specified value for path is invalid. It must begin and end with /."
            )
        tags = list(tags or [])
        _check_iam_tags(tags, iam_exc.ValidationError)  # request validation: before the certificate is read
        parsed = _validate_upload(cert_body, private_key, cert_chain, errors)
        self._tag_verification(tags)
        if any(existing.cert_name == cert_name for existing in self.certificates.values()):
            raise iam_exc.EntityAlreadyExists(f"The Server Certificate with name {cert_name} already exists.")
        quota = server_certificate_quota()
        if len(self.certificates) >= quota:
            raise iam_exc.LimitExceededException(
                f"Cannot exceed quota for ServerCertificatesPerAccount: {quota}"
            )
        cert: Any = Certificate(
            account_id=self.account_id,
            region_name=self.region_name,
            cert_name=cert_name,
            cert_body=cert_body,
            private_key=private_key,
            cert_chain=cert_chain,
            path=path,
        )
        cert.devstack_id = _random_id("ASCA", 17)
        cert.upload_date = _utcnow().replace(microsecond=0)
        cert.expiration = parsed.not_valid_after_utc
        cert.tags = _merge_tags([], tags)
        self.certificates[cert.devstack_id] = cert
        return cert

    def list_server_certificates_page(
        self: Any, path_prefix: str | None, marker: str | None, max_items: Any
    ) -> tuple[list[Any], str | None]:
        prefix = path_prefix or "/"
        matching = [c for c in self.certificates.values() if c.path.startswith(prefix)]
        return _page(matching, lambda c: str(c.cert_name), marker, max_items, iam_exc.ValidationError)

    def delete_server_certificate(self: Any, name: str) -> None:
        cert = self.get_server_certificate(name)
        users = _certificate_users(self.account_id, cert) if iam_delete_conflict() else []
        if users:
            raise iam_exc.DeleteConflictException(
                f"Certificate: {cert.devstack_id} is currently in use by {users[0]}. "
                "Please remove it first before deleting it from IAM."
            )
        original_delete(self, name)

    def tag_server_certificate(self: Any, name: str, tags: list[dict[str, str]]) -> None:
        _check_iam_tags(tags, iam_exc.ValidationError)
        self._tag_verification(tags)
        cert = _cert_meta(self.get_server_certificate(name))
        merged = _merge_tags(cert.tags, tags)
        if len(merged) > 50:
            raise iam_exc.LimitExceededException("A server certificate can have at most 50 tags.")
        cert.tags = merged

    def untag_server_certificate(self: Any, name: str, tag_keys: list[str]) -> None:
        cert = _cert_meta(self.get_server_certificate(name))
        _check_iam_tags(
            [{"Key": key} for key in tag_keys], iam_exc.ValidationError, "tagKeys", keys_only=True
        )
        drop = {key.lower() for key in tag_keys}
        cert.tags = [tag for tag in cert.tags if tag["Key"].lower() not in drop]

    def get_account_summary(self: Any) -> Any:
        summary = original_summary(self)
        summary._server_certificates_quota = server_certificate_quota()
        return summary

    _patch(IAMBackend, "upload_server_certificate", _locked(upload_server_certificate))
    _patch(IAMBackend, "list_server_certificates_page", list_server_certificates_page)
    _patch(IAMBackend, "delete_server_certificate", _locked(delete_server_certificate))
    _patch(IAMBackend, "tag_server_certificate", _locked(tag_server_certificate))
    _patch(IAMBackend, "untag_server_certificate", _locked(untag_server_certificate))
    _patch(IAMBackend, "get_account_summary", get_account_summary)

    # Response side: real metadata, the parameters moto ignored, and the tag actions it lacks.
    def r_upload(self: Any) -> Any:
        cert = self.backend.upload_server_certificate(
            self._get_param("ServerCertificateName"),
            self._get_param("CertificateBody"),
            self._get_param("PrivateKey"),
            cert_chain=self._get_param("CertificateChain"),
            path=self._get_param("Path"),
            tags=self._get_param("Tags", []),
        )
        result: dict[str, Any] = {"ServerCertificateMetadata": _metadata(cert)}
        if cert.tags:
            result["Tags"] = cert.tags
        return ActionResult(result)

    def r_list(self: Any) -> Any:
        certs, marker = self.backend.list_server_certificates_page(
            self._get_param("PathPrefix"), self._get_param("Marker"), self._get_param("MaxItems")
        )
        result: dict[str, Any] = {
            "ServerCertificateMetadataList": [_metadata(c) for c in certs],
            "IsTruncated": marker is not None,
        }
        if marker is not None:
            result["Marker"] = marker
        return ActionResult(result)

    def r_get(self: Any) -> Any:
        cert = self.backend.get_server_certificate(self._get_param("ServerCertificateName"))
        server_cert: dict[str, Any] = {
            "ServerCertificateMetadata": _metadata(cert),
            "CertificateBody": cert.cert_body,
        }
        if cert.cert_chain:
            server_cert["CertificateChain"] = cert.cert_chain
        if cert.tags:
            server_cert["Tags"] = cert.tags
        return ActionResult({"ServerCertificate": server_cert})

    def r_tag(self: Any) -> Any:
        self.backend.tag_server_certificate(
            self._get_param("ServerCertificateName"), self._get_param("Tags", [])
        )
        return EmptyResult()

    def r_untag(self: Any) -> Any:
        self.backend.untag_server_certificate(
            self._get_param("ServerCertificateName"), self._get_param("TagKeys", [])
        )
        return EmptyResult()

    def r_list_tags(self: Any) -> Any:
        cert = _cert_meta(self.backend.get_server_certificate(self._get_param("ServerCertificateName")))
        tags, marker = _page(
            cert.tags,
            lambda t: str(t["Key"]),
            self._get_param("Marker"),
            self._get_param("MaxItems"),
            iam_exc.ValidationError,
        )
        result: dict[str, Any] = {"Tags": tags, "IsTruncated": marker is not None}
        if marker is not None:
            result["Marker"] = marker
        return ActionResult(result)

    _patch(IamResponse, "upload_server_certificate", r_upload)
    _patch(IamResponse, "list_server_certificates", r_list)
    _patch(IamResponse, "get_server_certificate", r_get)
    _patch(IamResponse, "tag_server_certificate", r_tag)
    _patch(IamResponse, "untag_server_certificate", r_untag)
    _patch(IamResponse, "list_server_certificate_tags", r_list_tags)


# ------------------------------------------------------------------------------------------------
# ELBv2: the default certificate and the SNI list are kept apart
# ------------------------------------------------------------------------------------------------


def _sni(listener: Any) -> list[str]:
    """The listener's SNI list. moto's `certificates` is narrowed to `[default]`, which is all that
    `DescribeListeners` may show; SNI certificates live beside it."""
    sni: list[str] | None = getattr(listener, "devstack_sni", None)
    if sni is None:
        sni = list(listener.certificates[1:])
        listener.certificates = listener.certificates[:1]
        listener.devstack_sni = sni
    return sni


def _patch_elbv2() -> None:
    from moto.elbv2.exceptions import ELBClientError, TooManyCertificatesError
    from moto.elbv2.models import ELBv2Backend

    original_modify = ELBv2Backend.modify_listener

    def _listener(backend: Any, arn: str) -> Any:
        return backend.describe_listeners(load_balancer_arn=None, listener_arns=[arn])[0]

    def _require_certificates(backend: Any, certificates: Iterable[dict[str, Any]]) -> list[str]:
        arns = [c["CertificateArn"] for c in certificates]
        for arn in arns:
            if not backend._certificate_exists(certificate_arn=arn):
                raise ELBClientError("CertificateNotFound", f"Certificate '{arn}' not found")
        return arns

    def modify_listener(
        self: Any,
        arn: str,
        port: str | None = None,
        protocol: str | None = None,
        ssl_policy: str | None = None,
        certificates: list[dict[str, Any]] | None = None,
        actions: list[dict[str, Any]] | None = None,
    ) -> Any:
        listener = _listener(self, arn)
        new_default: str | None = None
        if certificates:
            if len(certificates) != 1:
                raise ELBClientError(
                    "InvalidConfigurationRequest",
                    "You must provide a list containing exactly one certificate if the listener protocol is "
                    "HTTPS or TLS.",
                )
            new_default = _require_certificates(self, certificates)[0]
        sni = _sni(listener)
        # moto would replace the whole list (dropping SNI) and ignores TLS listeners; it only gets the rest.
        result = original_modify(self, arn, port, protocol, ssl_policy, [], actions or [])
        if new_default is not None:
            listener.certificate = new_default
            listener.certificates = [new_default]
        listener.devstack_sni = sni
        return result

    def add_listener_certificates(self: Any, arn: str, certificates: list[dict[str, Any]]) -> list[str]:
        listener = _listener(self, arn)
        arns = _require_certificates(self, certificates)
        sni = _sni(listener)
        new = [a for a in dict.fromkeys(arns) if a not in sni]
        balancer = self.load_balancers.get(listener.load_balancer_arn)
        siblings = list(balancer.listeners.values()) if balancer is not None else [listener]
        in_use = sum(len(_sni(sibling)) for sibling in siblings)
        if new and in_use + len(new) > CERTIFICATES_PER_LOAD_BALANCER:
            raise TooManyCertificatesError()
        sni.extend(new)
        return list(sni)

    def describe_listener_certificates(self: Any, arn: str) -> list[str]:
        # moto's response flags index 0 as the default and the rest as SNI.
        listener = _listener(self, arn)
        return [*listener.certificates[:1], *_sni(listener)]

    def remove_listener_certificates(self: Any, arn: str, certificates: list[dict[str, Any]]) -> None:
        listener = _listener(self, arn)
        sni = _sni(listener)
        arns = [c["CertificateArn"] for c in certificates]
        for cert_arn in arns:
            if cert_arn == listener.certificate and cert_arn not in sni:
                raise ELBClientError(
                    "OperationNotPermitted",
                    "You cannot remove the default certificate of a listener; replace it with "
                    "ModifyListener.",
                )
        listener.devstack_sni = [a for a in sni if a not in arns]

    original_create_rule = ELBv2Backend.create_rule
    original_delete_rule = ELBv2Backend.delete_rule

    def create_rule(
        self: Any,
        listener_arn: str,
        conditions: list[dict[str, Any]],
        priority: int,
        actions: list[dict[str, Any]],
        tags: list[dict[str, str]] | None = None,
    ) -> Any:
        for index, action in enumerate(actions, start=1):
            body = action.get("FixedResponseConfig", {}).get("MessageBody") or ""
            if len(body) > FIXED_RESPONSE_BODY_LIMIT:
                raise ELBClientError(
                    "ValidationError",
                    f"1 validation error detected: Value at 'actions.{index}.member.fixedResponseConfig."
                    "messageBody' failed to satisfy constraint: Member must have length less than or equal "
                    f"to {FIXED_RESPONSE_BODY_LIMIT}",
                )
        listener = _listener(self, listener_arn)
        balancer = self.load_balancers.get(listener.load_balancer_arn)
        siblings = list(balancer.listeners.values()) if balancer is not None else [listener]
        rules = sum(1 for sibling in siblings for rule in sibling.rules.values() if not rule.is_default)
        if rules >= RULES_PER_LOAD_BALANCER:
            raise ELBClientError(
                "TooManyRules", "You've reached the limit on the number of rules per load balancer"
            )
        # moto compares priorities as sent: make "5" and 5 the same priority (PriorityInUse either way).
        for rule in listener.rules.values():
            if not rule.is_default and str(rule.priority) == str(priority):
                raise ELBClientError("PriorityInUse", "The specified priority is in use.")
        created = original_create_rule(self, listener_arn, conditions, priority, actions, tags)
        _rule_created[created.arn] = time.monotonic()
        return created

    def delete_rule(self: Any, arn: str) -> None:
        # moto ignores an unknown rule; AWS answers RuleNotFound. A deleted rule's tags go with it.
        found = [
            listener.rules[arn]
            for balancer in self.load_balancers.values()
            for listener in balancer.listeners.values()
            if arn in listener.rules
        ]
        if not found:
            raise ELBClientError("RuleNotFound", "One or more rules not found")
        rule = found[0]
        shown = {
            "RuleArn": arn,
            "Priority": str(rule.priority),
            "Conditions": copy.deepcopy(rule.conditions),
            "Actions": [copy.deepcopy(action.data) for action in rule.actions],
            "IsDefault": False,
        }
        _rules_deleted.setdefault(rule.listener_arn, []).append((time.monotonic(), shown))
        original_delete_rule(self, arn)
        self.tagging_service.delete_all_tags_for_resource(arn)

    _patch(ELBv2Backend, "create_rule", _locked(create_rule))
    _patch(ELBv2Backend, "delete_rule", _locked(delete_rule))
    _patch(ELBv2Backend, "modify_listener", _locked(modify_listener))
    _patch(ELBv2Backend, "add_listener_certificates", _locked(add_listener_certificates))
    _patch(ELBv2Backend, "describe_listener_certificates", _locked(describe_listener_certificates))
    _patch(ELBv2Backend, "remove_listener_certificates", _locked(remove_listener_certificates))


# ------------------------------------------------------------------------------------------------
# Classic ELB
# ------------------------------------------------------------------------------------------------


def _patch_elb() -> None:
    from moto.elb.exceptions import CertificateNotFoundException, ELBClientError, LoadBalancerNotFoundError
    from moto.elb.models import ELBBackend
    from moto.iam.models import iam_backends
    from moto.utilities.utils import get_partition

    original_set = ELBBackend.set_load_balancer_listener_ssl_certificate

    def set_load_balancer_listener_ssl_certificate(
        self: Any, name: str, lb_port: str, ssl_certificate_id: str
    ) -> Any:
        balancer = self.load_balancers.get(name)
        if balancer is None:
            raise LoadBalancerNotFoundError(name)
        if not any(int(listener.load_balancer_port) == int(lb_port) for listener in balancer.listeners):
            raise ELBClientError(
                "ListenerNotFound",
                f"Load balancer {name} does not have a listener configured at port {lb_port}.",
            )
        if ":iam::" in (ssl_certificate_id or ""):
            iam = iam_backends[self.account_id][get_partition(self.region_name)]
            if iam.get_certificate_by_arn(ssl_certificate_id) is None:
                raise CertificateNotFoundException()
        # ACM certificates are checked by moto itself.
        return original_set(self, name, lb_port, ssl_certificate_id)

    _patch(
        ELBBackend,
        "set_load_balancer_listener_ssl_certificate",
        _locked(set_load_balancer_listener_ssl_certificate),
    )


# ------------------------------------------------------------------------------------------------
# CloudFront: a viewer certificate must cover every alias
# ------------------------------------------------------------------------------------------------


def _alias_items(aliases: Any) -> list[str]:
    """The aliases of a distribution config as moto received it (parsed XML: `Items: {CNAME: ...}`)."""
    items = (aliases or {}).get("Items") or []
    if isinstance(items, dict):
        items = items.get("CNAME") or []
    return [items] if isinstance(items, str) else [str(i) for i in items]


def _covers(names: Iterable[str], alias: str) -> bool:
    wanted = alias.rstrip(".").lower()
    have = {n.rstrip(".").lower() for n in names}
    parent = wanted.split(".", 1)[1] if "." in wanted else ""
    return wanted in have or (bool(parent) and not wanted.startswith("*.") and f"*.{parent}" in have)


def _cloudfront_serves_key(key: Any) -> bool:
    """CloudFront's "Requirements for using SSL/TLS certificates with CloudFront" (key type, key size): RSA
    1024, 2048, 3072 or 4096 bits, or ECDSA P-256; nothing else (no P-384)."""
    if isinstance(key, rsa.RSAPublicKey):
        return key.key_size in (1024, 2048, 3072, 4096)
    return isinstance(key, ec.EllipticCurvePublicKey) and key.curve.name == "secp256r1"


def _patch_cloudfront() -> None:
    from moto.cloudfront import exceptions as cf_exc
    from moto.cloudfront.models import CloudFrontBackend
    from moto.iam.models import iam_backends

    class InvalidViewerCertificate(cf_exc.CloudFrontException):
        def __init__(self, alias: str | None = None) -> None:
            super().__init__(
                "InvalidViewerCertificate",
                "The certificate that is attached to your distribution doesn't cover the alternate domain "
                f"name (CNAME) that you're trying to add: {alias}"
                if alias
                else "The specified SSL certificate doesn't exist, isn't in us-east-1 region, isn't valid, "
                "or doesn't include a valid certificate chain.",
            )

    InvalidViewerCertificate.__module__ = cf_exc.__name__

    def check(backend: Any, config: dict[str, Any]) -> None:
        certificate_id = (config.get("ViewerCertificate") or {}).get("IAMCertificateId")
        aliases = _alias_items(config.get("Aliases"))
        if not certificate_id:
            return
        for partitions in dict.values(iam_backends.get(backend.account_id) or {}):
            for cert in partitions.certificates.values():
                if getattr(cert, "devstack_id", None) != certificate_id:
                    continue
                leaf = x509.load_pem_x509_certificate(cert.cert_body.encode())
                if not _cloudfront_serves_key(leaf.public_key()):
                    raise InvalidViewerCertificate()
                try:
                    san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
                    names = san.get_values_for_type(x509.DNSName)
                except x509.ExtensionNotFound:
                    names = []
                for alias in aliases:
                    if not _covers(names, alias):
                        raise InvalidViewerCertificate(alias)
                return

    original_create = CloudFrontBackend.create_distribution_with_tags
    original_update = CloudFrontBackend.update_distribution

    def create_distribution_with_tags(self: Any, config: dict[str, Any], tags: list[dict[str, str]]) -> Any:
        check(self, config)
        return original_create(self, config, tags)

    def update_distribution(self: Any, dist_config: dict[str, Any], _id: str, if_match: bool) -> Any:
        check(self, dist_config or {})
        return original_update(self, dist_config, _id, if_match)

    _patch(CloudFrontBackend, "create_distribution_with_tags", _locked(create_distribution_with_tags))
    _patch(CloudFrontBackend, "update_distribution", _locked(update_distribution))


# ------------------------------------------------------------------------------------------------
# Route 53
# ------------------------------------------------------------------------------------------------

_TXT_VALUE = re.compile(r'^\s*(?:"(?:[^"\\]|\\.)*"\s*)+$', re.DOTALL)
_TXT_STRING = re.compile(r'"((?:[^"\\]|\\.)*)"', re.DOTALL)
# IDs moto's own (unpatched) Route 53 responses hand out, e.g. for CreateHostedZone: treated as done.
_MOTO_FIXED_CHANGE_IDS = frozenset({"C1PA6795UKMFR9", "C2682N5HXP0BZ4", "a1b2c3d4"})
# Route 53 quotas, "ChangeResourceRecordSets requests": at most 32,000 characters in all Value elements of one
# request, an UPSERT's counted twice (moto checks only the other limit, 1,000 ResourceRecord elements).
MAX_CHANGE_VALUE_CHARACTERS = 32_000


def normalize_dns_name(name: str) -> str:
    """Route 53 compares names case-insensitively, with or without the final dot, `*` spelled `\\052`."""
    return name.replace("\\052", "*").rstrip(".").lower()


def txt_strings(value: str) -> list[str]:
    """The character-strings of one Route 53 TXT value (`"a" "b"` -> ["a", "b"]), escapes resolved."""
    return [re.sub(r"\\(\d{3}|.)", _unescape, s) for s in _TXT_STRING.findall(value)]


def _unescape(match: re.Match[str]) -> str:
    token = match.group(1)
    return chr(int(token, 8)) if token.isdigit() else token


def _rrset_key(name: str, rtype: str | None, set_identifier: str | None) -> tuple[str, str, str | None]:
    return normalize_dns_name(name), str(rtype), set_identifier


def _route53_exceptions() -> dict[str, type[Exception]]:
    from moto.route53 import exceptions as r53_exc

    class InvalidChangeBatch(r53_exc.Route53ClientError):
        # moto's InvalidChangeBatch takes no message (it only knows "1000 records").
        code = "InvalidChangeBatch"

    class NoSuchChange(r53_exc.Route53ClientError):
        code = "NoSuchChange"

    for cls in (InvalidChangeBatch, NoSuchChange):
        cls.__module__ = r53_exc.__name__
    return {"InvalidChangeBatch": InvalidChangeBatch, "NoSuchChange": NoSuchChange}


def _validate_changes(zone: Any, changes: list[dict[str, Any]]) -> list[str]:
    """Problems with a change batch, checked in order against a copy of the zone (as Route 53 does)."""
    from moto.route53.exceptions import InvalidActionValue
    from moto.route53.utils import validate_domain_name

    zone_name = normalize_dns_name(zone.name)
    state: dict[tuple[str, str, str | None], dict[str, Any]] = {
        _rrset_key(r.name, r.type, r.set_identifier): {
            "ttl": r.ttl,
            "values": list(r.records or []),
            "alias": r.alias_target,
        }
        for r in zone.rrsets
    }
    problems: list[str] = []
    for change in changes:
        action = change.get("Action")
        if action not in ("CREATE", "UPSERT", "DELETE"):
            raise InvalidActionValue(str(action))
        rrset = change["ResourceRecordSet"]
        validate_domain_name(rrset["Name"], code="InvalidChangeBatch")
        name = normalize_dns_name(rrset["Name"])
        rtype = rrset.get("Type")
        shown = f"[name='{name}.', type='{rtype}'" + (
            f", set-identifier='{rrset['SetIdentifier']}']" if rrset.get("SetIdentifier") else "]"
        )
        if name != zone_name and not name.endswith("." + zone_name):
            problems.append(f"RRSet with DNS name {name}. is not permitted in zone {zone_name}.")
            continue
        values = [r["Value"] for r in rrset.get("ResourceRecords") or []]
        wanted = {
            "ttl": int(rrset["TTL"]) if rrset.get("TTL") is not None else None,
            "values": values,
            "alias": rrset.get("AliasTarget"),
        }
        key = _rrset_key(name, rtype, rrset.get("SetIdentifier"))
        if action in ("CREATE", "UPSERT"):
            if rtype in ("TXT", "SPF"):
                for value in values:
                    if not _TXT_VALUE.match(value):
                        problems.append(
                            "Invalid Resource Record: 'FATAL problem: InvalidCharacterString "
                            f"(Value should be enclosed in quotation marks) encountered with '{value}''"
                        )
                    elif any(len(s) > 255 for s in txt_strings(value)):
                        problems.append(
                            f"Invalid Resource Record: 'FATAL problem: CharacterStringTooLong (Value is too "
                            f"long) encountered with '{value}''"
                        )
            duplicates = {v for v in values if values.count(v) > 1}
            if duplicates:
                problems.append(f"Duplicate Resource Record: '{sorted(duplicates)[0]}'")
            if action == "CREATE" and key in state:
                problems.append(f"Tried to create resource record set {shown} but it already exists")
                continue
            conflict = _cname_conflict(state, name, str(rtype))
            if conflict:
                problems.append(
                    f"RRSet of type {rtype} with DNS name {name}. is not permitted because a conflicting "
                    f"RRSet of type {conflict} with the same DNS name already exists in zone {zone_name}."
                )
                continue
            state[key] = wanted
        else:
            current = state.get(key)
            if current is None:
                problems.append(f"Tried to delete resource record set {shown} but it was not found")
                continue
            if (
                current["ttl"] != wanted["ttl"]
                or sorted(current["values"]) != sorted(wanted["values"])
                or _alias_key(current["alias"]) != _alias_key(wanted["alias"])
            ):
                problems.append(
                    f"Tried to delete resource record set {shown} but the values provided do not match the "
                    "current values"
                )
                continue
            del state[key]
    return problems


def _cname_conflict(state: dict[tuple[str, str, str | None], Any], name: str, rtype: str) -> str | None:
    """The type that forbids an `rtype` set at `name`: a CNAME stands alone (RFC 1034), at the apex too."""
    for other_name, other_type, _identifier in state:
        if other_name != name or other_type == rtype:
            continue
        if rtype == "CNAME" or other_type == "CNAME":
            return other_type
    return None


def _alias_key(alias: dict[str, Any] | None) -> tuple[str, str] | None:
    if not alias:
        return None
    return normalize_dns_name(str(alias.get("DNSName", ""))), str(alias.get("HostedZoneId", ""))


def _apply_changes(zone: Any, changes: list[dict[str, Any]]) -> None:
    from moto.route53.models import RecordSet

    record_set_class: Any = RecordSet  # abstract for mypy (CloudFormation hooks), concrete at runtime

    for change in changes:
        original_change = copy.deepcopy(change)
        record_set = copy.deepcopy(change["ResourceRecordSet"])
        record_set["Name"] = record_set["Name"].lower()  # Route 53 stores letters in lower case
        if not record_set["Name"].endswith("."):
            record_set["Name"] += "."
        key = _rrset_key(record_set["Name"], record_set.get("Type"), record_set.get("SetIdentifier"))
        index = next(
            (i for i, r in enumerate(zone.rrsets) if _rrset_key(r.name, r.type, r.set_identifier) == key),
            None,
        )
        if change["Action"] == "DELETE":
            if index is not None:
                del zone.rrsets[index]
        else:
            if "ResourceRecords" in record_set:
                record_set["ResourceRecords"] = [r["Value"] for r in record_set["ResourceRecords"]]
            new = record_set_class(record_set)
            if index is None:
                zone.rrsets.append(new)
            else:
                zone.rrsets[index] = new
        zone.rr_changes.append(original_change)  # moto's journal, kept for its other features


def _value_characters(changes: list[dict[str, Any]]) -> int:
    """Characters of all Value elements of a change batch as Route 53 counts them: an UPSERT's twice."""
    total = 0
    for change in changes:
        values = change["ResourceRecordSet"].get("ResourceRecords") or []
        total += sum(len(r["Value"]) for r in values) * (2 if change.get("Action") == "UPSERT" else 1)
    return total


def _changes(backend: Any) -> dict[str, dict[str, Any]]:
    # Kept on the backend so that a moto reset forgets them with everything else.
    changes: dict[str, dict[str, Any]] | None = getattr(backend, "devstack_changes", None)
    if changes is None:
        changes = {}
        backend.devstack_changes = changes
    return changes


def _patch_route53() -> None:
    from moto.core.responses import ActionResult
    from moto.route53.models import Route53Backend
    from moto.route53.responses import Route53

    errors = _route53_exceptions()
    invalid_change_batch = errors["InvalidChangeBatch"]
    original_response = Route53.change_resource_record_sets
    original_list = Route53Backend.list_resource_record_sets

    def change_resource_record_sets(self: Any, zoneid: str, change_list: list[dict[str, Any]]) -> None:
        zone = self.get_hosted_zone(zoneid)
        characters = _value_characters(change_list)
        if characters > MAX_CHANGE_VALUE_CHARACTERS:
            raise invalid_change_batch(
                f"[The request contains {characters} characters in Value elements; the maximum is "
                f"{MAX_CHANGE_VALUE_CHARACTERS}]"
            )
        problems = _validate_changes(zone, change_list)
        if problems:
            raise invalid_change_batch("[" + ", ".join(problems) + "]")
        _apply_changes(zone, change_list)

    def list_resource_record_sets(
        self: Any, zone_id: str, start_type: str, start_name: str, max_items: int
    ) -> Any:
        # Names compare case-insensitively (moto: as stored, upper case before lower case).
        return original_list(
            self, zone_id, start_type, start_name.lower() if start_name else start_name, max_items
        )

    def r_change(self: Any) -> Any:
        original_response(self)  # moto's request checks and the (patched) backend call
        change_id = _random_id("C", 13)
        submitted = _utcnow()
        info: dict[str, Any] = {"Id": f"/change/{change_id}", "Status": "PENDING", "SubmittedAt": submitted}
        comment = self._get_param("ChangeBatch.Comment")
        if comment:
            info["Comment"] = comment
        with STATE_LOCK:
            _changes(self.backend)[change_id] = {"info": info, "polls": 0, "at": time.monotonic()}
        return ActionResult({"ChangeInfo": info})

    def r_get_change(self: Any) -> Any:
        change_id = str(self._get_param("Id")).rsplit("/", 1)[-1]
        with STATE_LOCK:
            change = _changes(self.backend).get(change_id)
            if change is None:
                if change_id not in _MOTO_FIXED_CHANGE_IDS:
                    raise errors["NoSuchChange"](
                        f"A change with the specified change ID does not exist: {change_id}"
                    )
                info = {"Id": f"/change/{change_id}", "Status": "INSYNC", "SubmittedAt": _utcnow()}
                return ActionResult({"ChangeInfo": info})
            change["polls"] += 1
            info = dict(change["info"])
            propagated = time.monotonic() - change.get("at", 0.0) >= route53_insync_after()
            if change["polls"] > route53_pending_polls() and propagated:
                change["info"]["Status"] = "INSYNC"
                info["Status"] = "INSYNC"
        return ActionResult({"ChangeInfo": info})

    _patch(Route53Backend, "change_resource_record_sets", _locked(change_resource_record_sets))
    # Locked like the change: a reader sees a batch whole or not at all, never between its DELETE and CREATE.
    _patch(Route53Backend, "list_resource_record_sets", _locked(list_resource_record_sets))
    _patch(Route53, "change_resource_record_sets", r_change)
    _patch(Route53, "get_change", r_get_change)


# ------------------------------------------------------------------------------------------------
# CloudFront: a change is InProgress before it is Deployed
# ------------------------------------------------------------------------------------------------


def _patch_cloudfront_status() -> None:
    from moto.cloudfront.models import CloudFrontBackend, Distribution

    original_create = CloudFrontBackend.create_distribution_with_tags
    original_update = CloudFrontBackend.update_distribution
    original_get = CloudFrontBackend.get_distribution
    original_list = CloudFrontBackend.list_distributions

    def changed(distribution: Any) -> None:
        distribution.devstack_status_reads = 0

    def read(distribution: Any) -> None:
        distribution.devstack_status_reads = getattr(distribution, "devstack_status_reads", 0) + 1

    def status(self: Any) -> str:
        # Reads are counted per request (a response may look at the attribute more than once): the change's
        # own response and the first n reads after it say InProgress.
        reads = getattr(self, "devstack_status_reads", None)
        polls = cloudfront_deploy_polls()
        return "InProgress" if reads is not None and polls > 0 and reads <= polls else "Deployed"

    def create_distribution_with_tags(self: Any, distribution_config: Any, tags: Any) -> Any:
        distribution, location, etag = original_create(self, distribution_config, tags)
        changed(distribution)
        return distribution, location, etag

    def update_distribution(self: Any, dist_config: Any, _id: str, if_match: bool) -> Any:
        distribution, location, etag = original_update(self, dist_config, _id, if_match)
        changed(distribution)
        return distribution, location, etag

    def get_distribution(self: Any, distribution_id: str) -> Any:
        distribution, etag = original_get(self, distribution_id)
        read(distribution)
        return distribution, etag

    def list_distributions(self: Any, *args: Any, **kwargs: Any) -> Any:
        for distribution in self.distributions.values():
            read(distribution)
        return original_list(self, *args, **kwargs)

    setattr(Distribution, "status", property(status))  # noqa: B010 - replaces ManagedState's property
    _patch(CloudFrontBackend, "create_distribution_with_tags", _locked(create_distribution_with_tags))
    _patch(CloudFrontBackend, "update_distribution", _locked(update_distribution))
    _patch(CloudFrontBackend, "get_distribution", _locked(get_distribution))
    _patch(CloudFrontBackend, "list_distributions", _locked(list_distributions))


# ------------------------------------------------------------------------------------------------
# EC2 DescribeRegions: the regions enabled for the account, in the caller's partition
# ------------------------------------------------------------------------------------------------


def _patch_ec2_regions() -> None:
    from moto.core.responses import ActionResult
    from moto.ec2.models.availability_zones_and_regions import Region
    from moto.ec2.responses.availability_zones_and_regions import AvailabilityZonesAndRegions
    from moto.utilities.utils import get_partition

    def opt_in_status(region: Any) -> str:
        enabled = enabled_regions()
        moto_status = str(region.opt_in_status)
        if enabled is None:
            return moto_status
        if region.name not in enabled:
            return "not-opted-in"
        return "opt-in-not-required" if moto_status == "opt-in-not-required" else "opted-in"

    def describe_regions(self: Any) -> Any:
        self.error_on_dryrun()
        names = self._get_param("RegionNames", [])
        all_regions = str(self._get_param("AllRegions", "false")).lower() == "true"
        filters = {name: set(values) for name, values in self._filters_from_querystring().items()}
        partition = get_partition(self.region)
        shown = []
        for region in self.ec2_backend.describe_regions(names):
            if get_partition(region.name) != partition:
                continue
            status = opt_in_status(region)
            if status == "not-opted-in" and not all_regions:
                continue
            if "opt-in-status" in filters and status not in filters["opt-in-status"]:
                continue
            if "region-name" in filters and region.name not in filters["region-name"]:
                continue
            shown.append(Region(region.name, region.endpoint, status))  # moto's regions are shared: copy
        return ActionResult({"Regions": shown})

    _patch(AvailabilityZonesAndRegions, "describe_regions", describe_regions)


# ------------------------------------------------------------------------------------------------
# SQS
# ------------------------------------------------------------------------------------------------

_SQS_DEDUPLICATION_MS = 5 * 60 * 1000


def _patch_sqs() -> None:
    from moto.sqs.models import Queue

    original_add = Queue.add_message

    def add_message(self: Any, message: Any) -> None:
        if self.fifo_queue and message.deduplication_id:
            now = int(message.sent_timestamp or time.time() * 1000)
            # Kept on the queue so that deleting the queue or resetting moto forgets it.
            seen: dict[tuple[str | None, str], int] = self.__dict__.setdefault("devstack_deduplication", {})
            for key in [k for k, sent in seen.items() if now - sent >= _SQS_DEDUPLICATION_MS]:
                del seen[key]
            per_group = self.attributes.get("DeduplicationScope") == "messageGroup"
            key = (message.group_id if per_group else None, message.deduplication_id)
            if key in seen:
                return  # accepted, not delivered: what SQS does within the interval
            seen[key] = now
        original_add(self, message)

    _patch(Queue, "add_message", _locked(add_message))


# ------------------------------------------------------------------------------------------------
# Secrets Manager
# ------------------------------------------------------------------------------------------------


def _patch_secretsmanager() -> None:
    from moto.secretsmanager.exceptions import ResourceExistsException
    from moto.secretsmanager.models import SecretsManagerBackend

    original_check = SecretsManagerBackend._check_with_existing_secrets_and_versions

    def check_with_existing_secrets_and_versions(
        self: Any,
        secret_name: str,
        client_request_token: str | None,
        secret_string: str | None,
        secret_binary: str | None,
        on_create: bool = False,
    ) -> Any:
        existing = self.secrets.get(secret_name)
        version = existing.versions.get(client_request_token) if existing and client_request_token else None
        # moto skips the comparison for AWSPENDING versions (its own rotation emulation writes them);
        # AWS never lets a version change its content, whatever its stage.
        if version is not None and "AWSPENDING" in version.get("version_stages", []):
            if (
                version.get("secret_string") == secret_string
                and version.get("secret_binary") == secret_binary
            ):
                return existing
            raise ResourceExistsException(
                f"You can't use ClientRequestToken {client_request_token} because that value is already "
                f"in use for a version of secret {existing.arn}."
            )
        return original_check(
            self, secret_name, client_request_token, secret_string, secret_binary, on_create
        )

    _patch(
        SecretsManagerBackend,
        "_check_with_existing_secrets_and_versions",
        check_with_existing_secrets_and_versions,
    )
    # Check-then-write must be atomic for ClientRequestToken to work as compare-and-swap.
    for name in ("create_secret", "put_secret_value", "update_secret", "delete_secret", "restore_secret"):
        _patch(SecretsManagerBackend, name, _locked(getattr(SecretsManagerBackend, name)))


# ------------------------------------------------------------------------------------------------
# DynamoDB
# ------------------------------------------------------------------------------------------------


def _patch_dynamodb() -> None:
    from moto.dynamodb.models import DynamoDBBackend

    # Condition and write under one lock; reads too, so that none sees an UpdateItem half applied.
    for name in ("put_item", "update_item", "delete_item", "transact_write_items", "get_item"):
        _patch(DynamoDBBackend, name, _locked(getattr(DynamoDBBackend, name)))
    # And the item the write returns (ReturnValues) under the same lock: moto's handlers read the item
    # for ALL_OLD before the write and serialize it for ALL_NEW after, each a step of its own, so a write
    # of another thread could land in between. DynamoDB returns the item as this write found and left it:
    # a close of a DNS-01 batch (`REMOVE ... ReturnValues=ALL_OLD`) returned fewer members than it removed,
    # and a member was told INSYNC for a change without its values (docs/performance.md 6d).
    from moto.dynamodb.responses import DynamoHandler

    for name in ("put_item", "update_item", "delete_item"):
        _patch(DynamoHandler, name, _locked(getattr(DynamoHandler, name)))

    # `<`, `<=`, `>`, `>=` between values of different types (a string attribute against a number) are false
    # in DynamoDB: "If an item contains an AttributeValue element of a different type than the one provided in
    # the request, the value does not match" (API Reference, Condition). moto compares them in Python and
    # answers 500 (TypeError).
    from moto.dynamodb import comparisons

    for operator in ("OpLessThan", "OpLessThanOrEqual", "OpGreaterThan", "OpGreaterThanOrEqual"):
        cls = getattr(comparisons, operator)
        _patch(cls, "expr", _false_across_types(cls.expr))


def _false_across_types(compare: Callable[..., bool]) -> Callable[..., bool]:
    def expr(self: Any, item: Any) -> bool:
        try:
            return compare(self, item)
        except TypeError:
            return False

    return expr


# ------------------------------------------------------------------------------------------------
# CloudFront: Lambda@Edge and CloudFront Functions associations are kept (moto stored Quantity 0)
# ------------------------------------------------------------------------------------------------


def _patch_cloudfront_edge_associations() -> None:
    from moto.cloudfront.models import DefaultCacheBehaviour

    original_init = DefaultCacheBehaviour.__init__

    def __init__(self: Any, config: dict[str, Any]) -> None:
        original_init(self, config)
        for key, attribute in (
            ("LambdaFunctionAssociations", "lambda_function_associations"),
            ("FunctionAssociations", "function_associations"),
        ):
            given = config.get(key) or {}
            if int(given.get("Quantity") or 0):
                setattr(self, attribute, copy.deepcopy(given))

    # CacheBehaviour's own __init__ calls this one through super().
    _patch(DefaultCacheBehaviour, "__init__", __init__)


# ------------------------------------------------------------------------------------------------
# STS: AssumeRole needs the role, and a trust policy that trusts the caller's account
# ------------------------------------------------------------------------------------------------


def _trusted_accounts(policy_document: str) -> set[str]:
    """The accounts whose principals a trust policy lets call sts:AssumeRole (conditions not evaluated)."""
    try:
        policy = json.loads(policy_document)
    except (TypeError, ValueError):
        return set()
    statements = policy.get("Statement") or []
    trusted: set[str] = set()
    for statement in statements if isinstance(statements, list) else [statements]:
        actions = statement.get("Action") or []
        actions = actions if isinstance(actions, list) else [actions]
        if statement.get("Effect") != "Allow" or not {"sts:AssumeRole", "sts:*"} & set(actions):
            continue
        principals = (statement.get("Principal") or {}).get("AWS") or []
        for principal in principals if isinstance(principals, list) else [principals]:
            match = re.fullmatch(r"(?:arn:aws[a-z-]*:iam::)?(\d{12})(?::.*)?", str(principal))
            if match:
                trusted.add(match.group(1))
    return trusted


def _patch_sts() -> None:
    from moto.iam.models import iam_backends
    from moto.sts.exceptions import STSClientError
    from moto.sts.models import STSBackend
    from moto.utilities.utils import get_partition

    original = STSBackend.assume_role

    def assume_role(
        self: Any, region_name: str, role_session_name: str, role_arn: str, *args: Any, **kwargs: Any
    ) -> Any:
        # moto: any ARN is assumed, the role need not exist ("an opportunity to switch accounts"). AWS answers
        # AccessDenied unless the role exists and its trust policy lets the caller's account assume it.
        match = re.fullmatch(r"arn:(aws[a-z-]*):iam::(\d{12}):role/(?:.*/)?([\w+=,.@-]+)", role_arn)
        denied = STSClientError(
            "AccessDenied",
            f"User: arn:aws:iam::{self.account_id}:user/moto is not authorized to perform: sts:AssumeRole on "
            f"resource: {role_arn}",
        )
        if match is None:
            raise denied
        account = match.group(2)
        iam = iam_backends[account][get_partition(region_name)]
        role = next((r for r in iam.get_roles() if r.arn == role_arn), None)
        if role is None or self.account_id not in _trusted_accounts(role.assume_role_policy_document):
            raise denied
        return original(self, region_name, role_session_name, role_arn, *args, **kwargs)

    _patch(STSBackend, "assume_role", assume_role)


# ------------------------------------------------------------------------------------------------
# ACM imported certificates (re-import in place)
# ------------------------------------------------------------------------------------------------

# ListCertificates without Includes.keyTypes: "Default filtering returns only RSA_1024 and RSA_2048
# certificates" (ACM API reference, Filters).
ACM_DEFAULT_KEY_TYPES = ("RSA_1024", "RSA_2048")
# Values that may be dropped at re-import ("Reimport a certificate"): Client Authentication from EKU, and
# keyEncipherment from the Key Usage of an ECDSA certificate (RFC 5480 section 3).
_ACM_DROPPABLE_EKU = frozenset({ExtendedKeyUsageOID.CLIENT_AUTH.dotted_string})
# X.509 Key Usage values (without encipherOnly/decipherOnly, which only qualify keyAgreement); the test data
# builder (fixtures.leaf_key_usage) uses the same list.
KEY_USAGE_FIELDS = (
    "digital_signature",
    "content_commitment",
    "key_encipherment",
    "data_encipherment",
    "key_agreement",
    "key_cert_sign",
    "crl_sign",
)


def acm_key_algorithm(key: Any) -> str:
    """ACM's name of a key's algorithm (DescribeCertificate KeyAlgorithm)."""
    if isinstance(key, ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey):
        return "EC_" + {"secp256r1": "prime256v1"}.get(key.curve.name, key.curve.name)
    return f"RSA_{key.key_size}"


def _key_usages(cert: x509.Certificate) -> set[str]:
    try:
        usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        return set()
    return {name for name in KEY_USAGE_FIELDS if getattr(usage, name)}


def _extended_key_usages(cert: x509.Certificate) -> set[str]:
    try:
        usage = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        return set()
    return {oid.dotted_string for oid in usage}


def acm_reimport_refusal(old: Any, new: Any) -> str | None:
    """Why ACM refuses re-importing `new` over `old` (two moto CertBundles), or None: the key type and size
    cannot change; Key Usage and Extended Key Usage values present before cannot be removed, but for the
    exceptions above."""
    old_algorithm, new_algorithm = acm_key_algorithm(old._key), acm_key_algorithm(new._key)
    if old_algorithm != new_algorithm:
        return (
            f"The certificate key algorithm ({new_algorithm}) does not match the key algorithm of the "
            f"certificate being replaced ({old_algorithm})."
        )
    dropped_ku = _key_usages(old._cert) - _key_usages(new._cert)
    if new_algorithm.startswith("EC_"):
        dropped_ku.discard("key_encipherment")
    if dropped_ku:
        return (
            "The new certificate removes Key Usage values of the certificate being replaced: "
            f"{sorted(dropped_ku)}"
        )
    dropped_eku = _extended_key_usages(old._cert) - _extended_key_usages(new._cert) - _ACM_DROPPABLE_EKU
    if dropped_eku:
        return (
            "The new certificate removes Extended Key Usage values of the certificate being replaced: "
            f"{sorted(dropped_eku)}"
        )
    return None


def _patch_acm() -> None:
    """Re-import (ImportCertificate with CertificateArn), as the ACM user guide's "Reimport a certificate"
    says: the ARN, the tags and every association (InUseBy) stay; a changed key type or size, removed KU/EKU
    values and tags in the same call are refused (ValidationException). moto built a fresh certificate under
    the old ARN: tags and associations lost, any key accepted. DescribeCertificate's InUseBy lists the ELBv2
    load balancers whose listeners serve the certificate now (moto: the listener ARN, kept when it left).
    ListCertificates without Includes.keyTypes lists RSA_1024/RSA_2048 certificates only."""
    from moto.acm.exceptions import AWSValidationException, CertificateNotFound, LimitExceededException
    from moto.acm.models import AWSCertificateManagerBackend, CertBundle

    original_import = AWSCertificateManagerBackend.import_certificate
    original_list = AWSCertificateManagerBackend.list_certificates
    original_describe = CertBundle.describe

    def import_certificate(
        self: Any,
        certificate: bytes,
        private_key: bytes,
        chain: bytes | None,
        arn: str | None,
        tags: list[dict[str, str]],
    ) -> str:
        counted = _acm_imports.setdefault((self.account_id, self.region_name), [])
        if acm_imports(self.account_id, self.region_name) >= acm_import_quota():
            raise LimitExceededException(
                "The certificate limit has been exceeded: you have imported the maximum number of "
                f"certificates ({acm_import_quota()}) allowed in the last 365 days."
            )
        if arn is None:
            imported = str(original_import(self, certificate, private_key, chain, arn, tags))
            counted.append(time.time())
            return imported
        old = self._certificates.get(arn)
        if old is None:
            raise CertificateNotFound(arn=arn, account_id=self.account_id)
        if tags:
            raise AWSValidationException("Tags cannot be applied when reimporting a certificate.")
        if old.type != "IMPORTED":
            raise AWSValidationException(f"Certificate {arn} is not an imported certificate.")
        new = CertBundle(
            self.account_id, certificate, private_key, chain=chain, region=self.region_name, arn=arn
        )
        refusal = acm_reimport_refusal(old, new)
        if refusal:
            raise AWSValidationException(refusal)
        new.tags = old.tags
        new.in_use_by = old.in_use_by
        new.cert_options = old.cert_options
        self._certificates[arn] = new
        counted.append(time.time())
        return arn

    def list_certificates(self: Any, statuses: list[str], includes: dict[str, Any]) -> Any:
        includes = dict(includes or {})
        includes.setdefault("keyTypes", list(ACM_DEFAULT_KEY_TYPES))
        return original_list(self, statuses, includes)

    def describe(self: Any) -> dict[str, Any]:
        result: dict[str, Any] = original_describe(self)
        account = self.arn.split(":")[4]
        # ACM names the load balancer (moto recorded the listener, and kept it after the listener left).
        others = [user for user in self.in_use_by if ":listener/" not in user]
        users = dict.fromkeys([*others, *_elbv2_users(account, self.arn)])
        result["Certificate"]["InUseBy"] = list(users)
        return result

    _patch(AWSCertificateManagerBackend, "import_certificate", _locked(import_certificate))
    _patch(AWSCertificateManagerBackend, "list_certificates", list_certificates)
    _patch(CertBundle, "describe", describe)
