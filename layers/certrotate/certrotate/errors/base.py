"""The roots of certrotate's failures, and those of no one stage: configuration, requests, accounts."""

from __future__ import annotations

from datetime import datetime


class CertRotateError(Exception):
    """Base of every error certrotate raises on purpose."""


class ConfigurationError(CertRotateError):
    """The environment is missing a setting or holds an impossible one."""


class AccountSecretUnreadable(ConfigurationError):
    """The ACME account secret holds something certrotate cannot read. It is never overwritten (the account,
    its rate-limit history and its orders are not the project's to throw away); the rotation fails before
    ordering. The message names the secret and what is wrong, never its content: parsers quote what they
    could not parse, and that is key material."""

    fix = (
        'restore the account in the secret (JSON {"key": <the account\'s JWK, as a JSON string>, '
        '"accounts": {<directory URL>: <account URL>}}), or point ACME_ACCOUNT_SECRET_ID at another '
        "secret; an empty secret makes the next rotation register a new account"
    )

    def __init__(self, secret_id: str, what: str) -> None:
        super().__init__(
            f"the ACME account secret {secret_id!r} holds {what}: certrotate cannot read it, left it as it "
            "is and ordered nothing"
        )
        self.secret_id = secret_id


class AccountBeingCreated(CertRotateError):
    """Another first rotation is registering the ACME account and has not stored its key yet: a retry
    (the queue's redelivery) uses that account."""


class InvalidRequest(CertRotateError):
    """An event that does not have the shape the contract gives it."""


class RotationInProgress(CertRotateError):
    def __init__(self, name: str, until: datetime | None = None) -> None:
        when = f" (its lease ends {until.isoformat()})" if until else ""
        super().__init__(f"a rotation of {name!r} is in progress{when}")
        self.name = name


class PermanentFailure(CertRotateError):
    """A failure that no retry can fix until someone changes something. The rotation records a hold-off on
    the certificate (tags); redeliveries and scans order nothing more until it passes; `fix` tells the
    operator what to change. Transient failures (throttling, timeouts, badNonce, 5xx, IAM lag) are not
    PermanentFailures."""

    fix: str = "see the error and fix its cause, then rotate with force=true"
    # Deterministic: the same inputs (the certificate, its tags certrotate:profile/key-type/challenge, the
    # CA and ACME_PROFILE) give the same refusal. Held until one of them changes or an operator forces, never
    # retried when a hold window passes. Otherwise the hold ends in time (24 h, doubling to 7 days).
    deterministic: bool = False

    def __init__(self, message: str, *, fix: str | None = None) -> None:
        super().__init__(message)
        if fix is not None:
            self.fix = fix
        # Set by the rotation once the hold is recorded on the certificate (None: it could not be recorded).
        self.held_until: datetime | None = None
        self.failures: int = 0


class OutOfTime(CertRotateError):
    """Too little of the Lambda's time is left to take the next step safely; a rerun continues."""


class RegionDiscoveryFailed(CertRotateError):
    """The regions enabled for the account could not be listed: no endpoint search would be complete."""


class AccountUnreachable(CertRotateError):
    """certrotate could not assume the member role of a managed account: nothing there was read or changed."""

    def __init__(self, account_id: str, role_arn: str, code: str | None, detail: str) -> None:
        if code in ("AccessDenied", "AccessDeniedException"):
            fix = (
                f"deploy the member role (member-role.yaml) to account {account_id}, or check that its trust "
                "policy names this stack's function roles"
            )
        elif code == "RegionDisabledException":
            fix = "activate STS in the function's region (IAM account settings of the central account)"
        else:
            fix = "see the error; the other accounts were not affected"
        super().__init__(f"account {account_id}: cannot assume {role_arn} ({code or 'error'}): {fix}")
        self.account_id = account_id
        self.code = code
        self.fix = fix
        self.detail = detail
