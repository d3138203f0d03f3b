"""The local stack enforces the IAM policies certrotate ships: every AWS call is authorised as AWS would.

    enforcement.deploy_central(env)          # template.yaml's roles, deployed with the settings of `env`
    enforcement.deploy_member("111111111111", "managed")   # member-role.yaml in a member account
    fault = enforcement.authorize(call, environ, body)     # None: allowed; else AWS's AccessDenied

Who calls: the access key of the request's signature names the principal.
- `ADMIN_ACCESS_KEY` (stack.client's): the tests' administrator, allowed everything. Fixtures only; the code
  under test never has it.
- `FUNCTION_ACCESS_KEYS`: each function's role, as Lambda hands it its role's credentials (lambda_runner).
- `OPERATOR_ACCESS_KEY`: the command line's operator, a role holding operator-policy.yaml's policy.
- A key moto's STS issued (AssumeRole): the role it was issued for, in that role's account (member roles,
  and whatever role a test assumes).
- Any other key: `InvalidClientTokenId`, as AWS answers a key it does not know.

What is asked: each call becomes IAM requests (action, resource ARN, condition keys) through
certrotate.permissions (the action map) and the request itself (its parameters, the resource's tags in
moto's state), plus the actions the service checks with the caller's permissions (DEPENDENT_ACTIONS). They are
decided by devstack.iam_policy against the role's policies as moto holds them (put there by the deploy_*
functions from the templates, so "as deployed"), and for sts:AssumeRole also against the role's trust policy.
A certrotate principal making a call certrotate.permissions does not list for it is refused too: the map stays
complete.

Resource-based policies: a role's trust policy (sts:AssumeRole), and the lease table's policy (template.yaml's
LeaseTable `ResourcePolicy`, deployed with the roles): a DynamoDB request on that table is decided by the
caller's identity policies and the table's policy together, as AWS decides within one account (an explicit
deny in either wins; an allow in either is enough). The devstack deploys with `LeaseTableOperatorArn` naming
the break-glass role (what docs/deploy.md tells operators to do) unless a test sets it otherwise.

Not modelled (docs/design.md): service control and resource control policies, permission boundaries, session
policies, other resource-based policies (bucket, queue, secret, key policies), VPC endpoint policies. A KMS
key's own policy is taken to delegate to IAM (as the default key policy does).
"""

from __future__ import annotations

import functools
import json
import os
import re
import secrets
import sys
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote

ROOT = Path(__file__).resolve().parent.parent
if (
    str(ROOT / "layers" / "certrotate") not in sys.path
):  # the action map is the layer's (certrotate.permissions)
    sys.path.append(str(ROOT / "layers" / "certrotate"))

from certrotate.permissions import (  # noqa: E402
    DEPENDENT_ACTIONS,
    UNAUTHORISED_CALLS,
    Principal,
    actions_for,
    may_call,
)

from devstack import cfn  # noqa: E402
from devstack.faults import CallInfo, Fault  # noqa: E402
from devstack.iam_policy import Caller, Decision, Effect, Request, combine, evaluate  # noqa: E402

TEMPLATE = ROOT / "template.yaml"
MEMBER_TEMPLATE = ROOT / "member-role.yaml"
OPERATOR_TEMPLATE = ROOT / "operator-policy.yaml"
CENTRAL_ACCOUNT = "123456789012"  # moto's default account: the functions' own
STACK_NAME = "certrotate"  # template.yaml's stack (devstack.deployed.deploy creates it under this name)

ADMIN_ACCESS_KEY = "testing"
OPERATOR_ACCESS_KEY = "ASIADEVSTACKOPERATOR"
# The operator at break-glass (`certrotate rotate --local`): the operator's policy and the rotate function's.
BREAK_GLASS_ACCESS_KEY = "ASIADEVSTACKBREAKGLS"
FUNCTION_ACCESS_KEYS = {"ScanFunction": "ASIADEVSTACKSCANFUNC", "RotateFunction": "ASIADEVSTACKROTATEFN"}
FUNCTION_ROLES = {"ScanFunction": "ScanFunctionRole", "RotateFunction": "RotateFunctionRole"}
OPERATOR_ROLE = "certrotate-operator"
BREAK_GLASS_ROLE = "certrotate-break-glass"

_CREDENTIAL = re.compile(r"Credential=([^/,\s]+)/")
_DENIAL: dict[str, tuple[str, int]] = {
    "ec2": ("UnauthorizedOperation", 403),
    "sqs": ("AccessDenied", 403),
    "lambda": ("AccessDeniedException", 403),
}
_JSON_DENIAL = ("AccessDeniedException", 400)
_QUERY_DENIAL = ("AccessDenied", 403)


@dataclass(frozen=True)
class Identity:
    """The principal behind an access key."""

    role_arn: str  # "" for the administrator
    account: str
    principal: Principal | None = None  # a certrotate principal: its calls are checked against the map
    admin: bool = False
    session: str = ""

    @property
    def arn(self) -> str:
        """What AWS names in an AccessDenied message: the assumed role's session."""
        if self.admin:
            return f"arn:aws:iam::{self.account}:user/devstack-admin"
        name = self.role_arn.rsplit("/", 1)[-1]
        partition = self.role_arn.split(":")[1]
        return f"arn:{partition}:sts::{self.account}:assumed-role/{name}/{self.session or 'devstack'}"


@dataclass
class Stats:
    """What enforcement cost: calls authorised and the time spent (docs/performance.md)."""

    calls: int = 0
    seconds: float = 0.0
    evaluated: int = 0  # calls of a principal with policies (not the administrator's): decided by policy
    evaluated_seconds: float = 0.0
    denied: list[str] = field(default_factory=list)


class Enforcement:
    """The process-wide authoriser the moto server's middleware asks (moto's state is per process too)."""

    def __init__(self) -> None:
        self.enabled = os.environ.get("DEVSTACK_IAM", "on").lower() not in ("0", "off", "false", "no")
        self.active = False  # a local stack runs in this process (LocalStack.start): functions get roles
        self._lock = threading.RLock()
        self.template = TEMPLATE  # where the central policies are read (a test may point at a changed copy)
        self.parameters: dict[str, str] = {}  # template parameters a test sets beyond what the env implies
        # operator-policy.yaml's parameters a test sets (CertRotateStackName); the rest follow the central one
        self.operator_parameters: dict[str, str] = {}
        self._central_key: Any = None
        self._central_parameters: dict[str, str] = {}
        self._central: dict[str, cfn.DeployedRole] = {}
        self._table_policies: dict[str, dict[str, Any]] = {}  # table ARN -> its resource policy (as deployed)
        self._function_env: dict[str, dict[str, str]] = {}
        self._operator_keys: dict[str, Any] = {}  # role name -> what its policies were deployed from
        self._members: dict[str, dict[str, Principal]] = {}  # account -> role ARN -> principal
        self._documents: dict[str, Any] = {}
        self.stats = Stats()

    # -- lifecycle ----

    def reset(self) -> None:
        """moto forgot every role (a reset): deploy again when next asked; the template and the extra
        parameters are back to the shipped ones."""
        with self._lock:
            self.template = TEMPLATE
            self.parameters = {}
            self.operator_parameters = {}
            self._central_key = None
            self._central_parameters = {}
            self._central = {}
            self._table_policies = {}
            self._function_env = {}
            self._operator_keys = {}
            self._members = {}
            self.stats = Stats()

    # -- deployments ----

    def deploy_central(self, env: Mapping[str, str | None] | None = None) -> dict[str, cfn.DeployedRole]:
        """template.yaml's roles in the central account, as deployed with the settings the functions run with
        (`env`: MANAGED_ACCOUNTS, DNS_ACCOUNTS, EVENT_BUS_NAME, ACME_ACCOUNT_SECRET_ID, LEASE_TABLE_NAME,
        ROTATION_QUEUE_URL, ...; `parameters` for the rest). Idempotent; re-deploys when they change."""
        settings = {k: v for k, v in (env or os.environ).items() if v is not None}
        region = settings.get("AWS_REGION") or settings.get("AWS_DEFAULT_REGION") or "us-east-1"
        stack = cfn.Stack(name=STACK_NAME, account=CENTRAL_ACCOUNT, region=region)
        parameters = _parameters_from(settings)
        # Break-glass (`rotate --local`, `rollback --local`) as docs/deploy.md has operators deploy it.
        parameters["LeaseTableOperatorArn"] = f"arn:aws:iam::{CENTRAL_ACCOUNT}:role/{BREAK_GLASS_ROLE}"
        parameters.update(self.parameters)
        physical = _physical_from(settings, stack)
        key = (
            str(self.template),
            sorted(parameters.items()),
            sorted((k, repr(v)) for k, v in physical.items()),
        )
        with self._lock:
            if key == self._central_key:
                return self._central
            template = _template(self.template)
            roles = cfn.deployed_roles(template, stack, parameters, physical)
            for role in roles.values():
                _put_role(stack.account, role)
            self._central = roles
            self._table_policies = cfn.deployed_table_policies(template, stack, parameters, physical)
            self._central_parameters = dict(parameters)
            self._function_env = _function_environments(template, stack, parameters, physical)
            self._central_key = key
            return roles

    def ensure_central(self, env: Mapping[str, str | None]) -> None:
        """Deploys template.yaml's roles with `env`'s settings unless a deployment is in place already."""
        with self._lock:
            if self._central_key is None:
                self.deploy_central(env)

    def function_credentials(self, function: str, env: Mapping[str, str | None]) -> dict[str, str]:
        """What Lambda gives `function` (a logical ID of template.yaml): its role's credentials, and the
        variables the template sets for it alone from parameters (deployed with the settings of `env`). Empty
        when no local stack runs here (the function then keeps whatever credentials `env` holds)."""
        if not (self.active and self.enabled) or function not in FUNCTION_ACCESS_KEYS:
            return {}
        self.deploy_central(env)
        return {
            **self.function_environment(function),
            "AWS_ACCESS_KEY_ID": FUNCTION_ACCESS_KEYS[function],
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_SESSION_TOKEN": "testing",
        }

    def function_environment(self, function: str) -> dict[str, str]:
        """The variables the deployed template gives `function` itself (not Globals) that depend on its
        parameters only (MEMBER_ROLE_NAME of the scan: <MemberRoleName>-scan)."""
        with self._lock:
            return dict(self._function_env.get(function, {}))

    def central_role_arn(self, logical_id: str) -> str:
        with self._lock:
            if not self._central:
                self.deploy_central({})
            return self._central[logical_id].arn

    def deploy_member(
        self, account: str, purpose: str = "managed", role_name: str | None = None, *, operators: bool = True
    ) -> list[str]:
        """member-role.yaml in `account` (managed, or dns-only), trusting the central functions' roles and,
        with `operators`, the operator's role (the read role; in a dns-only account, zones only). Returns the
        ARNs of the roles created."""
        parameters = {
            "CentralAccountId": CENTRAL_ACCOUNT,
            "CentralFunctionRoleArns": ",".join(
                (self.central_role_arn("ScanFunctionRole"), self.central_role_arn("RotateFunctionRole"))
            ),
            "AccountPurpose": purpose,
        }
        if operators:
            parameters["OperatorRoleArns"] = self.deploy_operator()
        if role_name:
            parameters["MemberRoleName"] = role_name
        stack = cfn.Stack(name="certrotate-member", account=account)
        roles = cfn.deployed_roles(_template(MEMBER_TEMPLATE), stack, parameters)
        principals = {
            "MemberRole": Principal.MEMBER_ROTATE if purpose == "managed" else Principal.MEMBER_DNS,
            "MemberScanRole": Principal.MEMBER_SCAN,
            "MemberReadRole": Principal.MEMBER_READ if purpose == "managed" else Principal.MEMBER_DNS_READ,
        }
        with self._lock:
            for role in roles.values():
                _put_role(account, role)
                self._members.setdefault(account, {})[role.arn] = principals[role.logical_id]
        return [role.arn for role in roles.values()]

    def _operator_parameters(self) -> dict[str, str]:
        """operator-policy.yaml's parameters as deployed beside the central stack (its ManagedAccounts,
        MemberRoleName, AcmeEabSecretName, KmsKeyArn, and the accounts its DnsAccounts names as
        DnsAccountIds), with `operator_parameters` on top."""
        central = self._central_parameters
        parameters: dict[str, str] = {
            name: central[name]
            for name in ("ManagedAccounts", "MemberRoleName", "AcmeEabSecretName", "KmsKeyArn")
            if name in central
        }
        pairs = central.get("DnsAccounts", "").split(",")
        dns_accounts = sorted({pair.split("=", 1)[1].strip() for pair in pairs if "=" in pair})
        if dns_accounts:
            parameters["DnsAccountIds"] = ",".join(dns_accounts)
        return parameters | self.operator_parameters

    def _put_operator_role(self, name: str, key: Any, extra: Mapping[str, dict[str, Any]]) -> str:
        """A central role holding operator-policy.yaml's policy (and `extra` policies), put again only when
        what it holds changed (`key`)."""
        arn = f"arn:aws:iam::{CENTRAL_ACCOUNT}:role/{name}"
        if self._operator_keys.get(name) == key:
            return arn
        parameters = self._operator_parameters()
        operator = cfn.deployed_policies(
            _template(OPERATOR_TEMPLATE), cfn.Stack(name="certrotate-operator"), parameters
        )
        role = cfn.DeployedRole(
            logical_id=name,
            name=name,
            arn=arn,
            trust_policy={"Version": "2012-10-17", "Statement": []},
            inline_policies={**operator, **extra},
        )
        _put_role(CENTRAL_ACCOUNT, role)
        self._operator_keys[name] = key
        return arn

    def deploy_operator(self) -> str:
        """operator-policy.yaml's policy on a role the operator's key stands for (again when the central
        deployment or `operator_parameters` change what it says)."""
        with self._lock:
            key = sorted(self._operator_parameters().items())
            return self._put_operator_role(OPERATOR_ROLE, key, {})

    def deploy_break_glass(self) -> str:
        """A role with operator-policy.yaml's policy and RotateFunctionRole's policies as deployed now: what
        docs/deploy.md tells operators `rotate --local` and `rollback --local` need."""
        with self._lock:
            if not self._central:
                self.deploy_central({})
            rotate = self._central["RotateFunctionRole"].inline_policies
            key = (sorted(self._operator_parameters().items()), self._central_key)
            return self._put_operator_role(BREAK_GLASS_ROLE, key, rotate)

    # -- who calls ----

    def identify(self, access_key: str) -> Identity | None:
        if access_key == ADMIN_ACCESS_KEY:
            return Identity("", CENTRAL_ACCOUNT, admin=True)
        for function, key in FUNCTION_ACCESS_KEYS.items():
            if access_key == key:
                arn = self.central_role_arn(FUNCTION_ROLES[function])
                principal = Principal.SCAN if function == "ScanFunction" else Principal.ROTATE
                return Identity(arn, CENTRAL_ACCOUNT, principal, session=function)
        if access_key == OPERATOR_ACCESS_KEY:
            return Identity(self.deploy_operator(), CENTRAL_ACCOUNT, Principal.OPERATOR, session="operator")
        if access_key == BREAK_GLASS_ACCESS_KEY:  # its calls are the rotation's and the operator's: no map
            return Identity(self.deploy_break_glass(), CENTRAL_ACCOUNT, session="break-glass")
        assumed = _assumed_role(access_key)
        if assumed is None:
            return None
        role_arn, account, session = assumed
        with self._lock:
            member = self._members.get(account, {}).get(role_arn)
        return Identity(role_arn, account, member, session=session)

    # -- the decision ----

    def authorize(self, call: CallInfo, environ: Mapping[str, Any], body: bytes) -> Fault | None:
        """None when the call may proceed; else the error AWS would answer."""
        if not self.enabled:
            return None
        started = time.perf_counter()
        evaluated = [False]
        try:
            return self._authorize(call, environ, body, evaluated)
        finally:
            spent = time.perf_counter() - started
            with self._lock:
                self.stats.calls += 1
                self.stats.seconds += spent
                if evaluated[0]:
                    self.stats.evaluated += 1
                    self.stats.evaluated_seconds += spent

    def _authorize(
        self, call: CallInfo, environ: Mapping[str, Any], body: bytes, evaluated: list[bool]
    ) -> Fault | None:
        signature = _CREDENTIAL.search(str(environ.get("HTTP_AUTHORIZATION", "")))
        identity = self.identify(signature.group(1)) if signature else None
        if identity is None:
            code, status = (
                ("InvalidClientTokenId", 403)
                if call.protocol in ("query", "ec2")
                else (
                    "UnrecognizedClientException",
                    400,
                )
            )
            invalid = "The security token included in the request is invalid."
            return Fault(call.service, call.action, code, status, invalid, times=1)
        if identity.admin or (call.service, call.action) in UNAUTHORISED_CALLS:
            return None
        evaluated[0] = True
        if identity.principal is not None and not may_call(identity.principal, call.service, call.action):
            return self._deny(
                call,
                identity,
                f"{call.service}:{call.action}",
                "*",
                f"certrotate.permissions lists no {call.service} {call.action} call for the "
                f"{identity.principal} principal (devstack)",
            )
        context = RequestContext(call, environ, body, identity)
        for request, resource_policy in requests_for(context):
            identity_decision = evaluate(self.policies_of(identity.role_arn, identity.account), request)
            decision = identity_decision
            if resource_policy is not None:
                caller = Caller(identity.role_arn, identity.account)
                resource_decision = evaluate([resource_policy], request, caller)
                # A role's trust policy: both must allow (the caller's side names the role; the role's side
                # names the caller), as for any cross-account request.
                decision = combine(identity_decision, resource_decision, same_account=False)
                if not resource_decision.allowed and identity_decision.allowed:
                    return self._deny(
                        call, identity, request.action, request.resource, "", by_resource_policy=True
                    )
            table_policy = self.table_policy(request.resource) if call.service == "dynamodb" else None
            if table_policy is not None:
                # The lease table's own policy: one account, so an allow in either suffices and a deny in
                # either wins ("Policy evaluation logic").
                caller = Caller(identity.role_arn, identity.account)
                table_decision = evaluate([table_policy], request, caller)
                decision = combine(identity_decision, table_decision, same_account=True)
                if table_decision.effect is Effect.EXPLICIT_DENY:
                    return self._deny(
                        call,
                        identity,
                        request.action,
                        request.resource,
                        "with an explicit deny in a resource-based policy",
                    )
            if not decision.allowed:
                return self._deny(call, identity, request.action, request.resource, "", decision=decision)
        return None

    def table_policy(self, table_arn: str) -> dict[str, Any] | None:
        """The resource-based policy of a table the central stack deployed (the lease table), else None."""
        with self._lock:
            return self._table_policies.get(table_arn)

    def role_exists(self, role_arn: str, account: str) -> bool:
        return _moto_role(role_arn, account) is not None

    def policies_of(self, role_arn: str, account: str) -> list[Any]:
        """A role's identity policies as moto holds them (inline and attached), parsed; none for a role that
        does not exist."""
        role = _moto_role(role_arn, account)
        if role is None:
            return []
        documents = [self._parsed(text) for text in role.policies.values()]
        for managed in role.managed_policies.values():
            documents.append(self._parsed(managed.document if hasattr(managed, "document") else "{}"))
        return documents

    def _parsed(self, text: str) -> Any:
        document = self._documents.get(text)
        if document is None:
            document = json.loads(unquote(text)) if text.startswith("%7B") else json.loads(text)
            self._documents[text] = document
        return document

    def _deny(
        self,
        call: CallInfo,
        identity: Identity,
        action: str,
        resource: str,
        why: str,
        *,
        decision: Decision | None = None,
        by_resource_policy: bool = False,
    ) -> Fault:
        if not why:
            if by_resource_policy:
                why = "because no resource-based policy allows the " + action + " action"
            elif decision is not None and decision.effect is Effect.EXPLICIT_DENY:
                why = "with an explicit deny in an identity-based policy"
            else:
                why = "because no identity-based policy allows the " + action + " action"
        message = f"User: {identity.arn} is not authorized to perform: {action} on resource: {resource} {why}"
        if call.service == "ec2":
            message = "You are not authorized to perform this operation. " + message
        code, status = _DENIAL.get(call.service) or (
            _JSON_DENIAL if call.protocol in ("json", "rest-json") else _QUERY_DENIAL
        )
        with self._lock:
            self.stats.denied.append(message)
        return Fault(call.service, call.action, code, status, message, times=1)


enforcement = Enforcement()


# ------------------------------------------------------------------------------------------------
# Deploying into moto
# ------------------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=16)
def _template_cached(path: str, mtime: float) -> dict[str, Any]:
    return cfn.load_template(path)


def _template(path: Path) -> dict[str, Any]:
    return _template_cached(str(path), path.stat().st_mtime)


def _iam(account: str) -> Any:
    from moto.iam.models import iam_backends

    return iam_backends[account]["aws"]


def _put_role(account: str, role: cfn.DeployedRole) -> None:
    """The role as CloudFormation leaves it: its trust policy and exactly its inline policies."""
    if role.managed_policy_arns:
        raise cfn.UnsupportedTemplate(f"{role.logical_id}: managed policies are not modelled")
    iam = _iam(account)
    existing = next((r for r in iam.get_roles() if r.name == role.name), None)
    trust = json.dumps(role.trust_policy)
    if existing is None:
        iam.create_role(role.name, trust, role.path, None, "devstack", [], None)
    else:
        existing.assume_role_policy_document = trust
        existing.policies.clear()
    for name, document in role.inline_policies.items():
        iam.put_role_policy(role.name, name, json.dumps(document))


def _moto_role(arn: str, account: str) -> Any:
    if not arn:
        return None
    name = arn.rsplit("/", 1)[-1]
    return next((r for r in _iam(account).get_roles() if r.name == name), None)


def _assumed_role(access_key: str) -> tuple[str, str, str] | None:
    """(role ARN, account, session name) of a key moto's STS issued, else None."""
    from moto.iam.models import iam_backends
    from moto.sts.models import sts_backends

    for account_id, backends in list(iam_backends.items()):
        key = backends["aws"].access_keys.get(access_key)
        if key is not None and getattr(key, "role_arn", None):
            session = ""
            assumed = sts_backends[account_id]["aws"].get_assumed_role_from_access_key(access_key)
            if assumed is not None:
                session = assumed.session_name
            return str(key.role_arn), account_id, session
    return None


def _parameters_from(env: Mapping[str, str]) -> dict[str, str]:
    """template.yaml's parameters that produce the environment the functions run with."""
    parameters = {}
    for variable, parameter in (
        ("MANAGED_ACCOUNTS", "ManagedAccounts"),
        ("DNS_ACCOUNTS", "DnsAccounts"),
        ("EVENT_BUS_NAME", "EventBusName"),
        ("ACME_EAB_SECRET_ID", "AcmeEabSecretName"),
        ("MEMBER_ROLE_NAME", "MemberRoleName"),
    ):
        if env.get(variable) is not None:
            parameters[parameter] = env[variable]
    secret = env.get("ACME_ACCOUNT_SECRET_ID") or ""
    if secret:
        match = re.fullmatch(r"arn:[^:]+:secretsmanager:[^:]+:\d{12}:secret:(.+)-[A-Za-z0-9]{6}", secret)
        parameters["AcmeAccountSecretName"] = match.group(1) if match else secret
    return parameters


def _physical_from(env: Mapping[str, str], stack: cfn.Stack) -> dict[str, cfn.PhysicalResource]:
    """The resources the test created in place of the template's (its table, its queue)."""
    physical = {}
    # Unset: the names the devstack's fixtures give (fixtures.create_lease_table, the tests' rotation queue).
    table = env.get("LEASE_TABLE_NAME", "certrotate-leases")
    if table:
        arn = f"arn:{stack.partition}:dynamodb:{stack.region}:{stack.account}:table/{table}"
        physical["LeaseTable"] = cfn.PhysicalResource(table, {"Arn": arn})
    queue = env.get("ROTATION_QUEUE_URL", f"http://devstack/{stack.account}/rotation.fifo")
    if queue:
        name = queue.rstrip("/").rsplit("/", 1)[-1]
        arn = f"arn:{stack.partition}:sqs:{stack.region}:{stack.account}:{name}"
        physical["RotationQueue"] = cfn.PhysicalResource(queue, {"Arn": arn, "QueueName": name})
    return physical


def _function_environments(
    template: Mapping[str, Any],
    stack: cfn.Stack,
    parameters: Mapping[str, str],
    physical: Mapping[str, cfn.PhysicalResource],
) -> dict[str, dict[str, str]]:
    """Per function, its own Environment variables that only parameters decide (resources left out: the
    tests create and name those)."""
    evaluator = cfn.Evaluator(template, stack, parameters)
    evaluator.physical = _no_resources  # type: ignore[method-assign]
    result: dict[str, dict[str, str]] = {}
    for function in FUNCTION_ROLES:
        variables = (
            ((template["Resources"][function].get("Properties") or {}).get("Environment")) or {}
        ).get("Variables") or {}
        result[function] = {}
        for name, value in variables.items():
            try:
                evaluated = evaluator.value(value)
            except _ResourceReference:
                continue
            if isinstance(evaluated, str):
                result[function][name] = evaluated
    return result


class _ResourceReference(Exception):
    pass


def _no_resources(logical_id: str) -> cfn.PhysicalResource:
    raise _ResourceReference(logical_id)


# ------------------------------------------------------------------------------------------------
# From a request to what IAM decides on
# ------------------------------------------------------------------------------------------------


class RequestContext:
    """One request on the wire: its parameters, parsed once, and who sent it."""

    def __init__(self, call: CallInfo, environ: Mapping[str, Any], body: bytes, identity: Identity) -> None:
        self.call = call
        self.environ = environ
        self.body = body
        self.identity = identity
        self.path = unquote(str(environ.get("PATH_INFO", "")))
        self.region = call.region or "us-east-1"
        self.account = identity.account
        self.partition = "aws-cn" if self.region.startswith("cn-") else (
            "aws-us-gov" if self.region.startswith("us-gov-") else "aws"
        )  # fmt: skip

    @functools.cached_property
    def params(self) -> dict[str, Any]:
        """Query/EC2 form parameters (flat, first value), or the JSON body."""
        if self.call.protocol in ("json", "rest-json"):
            try:
                loaded = json.loads(self.body or b"{}")
            except ValueError:
                return {}
            return loaded if isinstance(loaded, dict) else {}
        query = parse_qs(str(self.environ.get("QUERY_STRING", "")), keep_blank_values=True)
        form = parse_qs(self.body.decode("utf-8", "replace"), keep_blank_values=True) if self.body else {}
        return {k: v[0] for k, v in {**query, **form}.items()}

    @functools.cached_property
    def xml(self) -> ET.Element | None:
        if not self.body:
            return None
        try:
            root = ET.fromstring(self.body)  # noqa: S314 - the tests' own requests to a local server
        except ET.ParseError:
            return None
        for element in root.iter():  # namespaces away: find by local name
            element.tag = element.tag.rsplit("}", 1)[-1]
        return root

    def arn(
        self, service: str, resource: str, *, region: str | None = None, account: str | None = None
    ) -> str:
        region = self.region if region is None else region
        account = self.account if account is None else account
        return f"arn:{self.partition}:{service}:{region}:{account}:{resource}"

    def members(self, prefix: str) -> list[dict[str, str]]:
        """Query-protocol lists (`Tags.member.1.Key`) as dicts."""
        items: dict[int, dict[str, str]] = {}
        pattern = re.compile(re.escape(prefix) + r"\.member\.(\d+)(?:\.(\w+))?$")
        for key, value in self.params.items():
            match = pattern.match(key)
            if match:
                items.setdefault(int(match.group(1)), {})[match.group(2) or ""] = value
        return [items[i] for i in sorted(items)]


def _tag_context(tags: Iterable[tuple[str, str]], *, request: bool = True) -> dict[str, Any]:
    pairs = list(tags)
    context: dict[str, Any] = {"aws:TagKeys": [k for k, _ in pairs]}
    if request:
        context.update({f"aws:RequestTag/{k}": v for k, v in pairs})
    return context


def _resource_tags(tags: Mapping[str, str]) -> dict[str, str]:
    return {f"aws:ResourceTag/{k}": v for k, v in tags.items()}


def requests_for(ctx: RequestContext) -> list[tuple[Request, dict[str, Any] | None]]:
    """The IAM requests one call makes (with the role trust policy to check as well, for sts:AssumeRole)."""
    call = ctx.call
    builder = _BUILDERS.get(call.service)
    if builder is None:
        raise NotImplementedError(f"devstack IAM: no request mapping for {call.service} {call.action}")
    built = builder(ctx)
    base = {
        "aws:PrincipalArn": ctx.identity.role_arn,
        "aws:PrincipalAccount": ctx.identity.account,
        "aws:RequestedRegion": ctx.region,
    }
    result = []
    for action, resource, context, resource_policy in built:
        resource_account = resource.split(":")[4] if resource.startswith("arn:") else ""
        full = {**base, "aws:ResourceAccount": resource_account or ctx.account, **context}
        result.append((Request(action, resource, full), resource_policy))
    return result


Built = list[tuple[str, str, dict[str, Any], dict[str, Any] | None]]


def _plain(ctx: RequestContext, resource: str = "*", context: dict[str, Any] | None = None) -> Built:
    return [(a, resource, dict(context or {}), None) for a in actions_for(ctx.call.service, ctx.call.action)]


def _kms(ctx: RequestContext, key_id: str | None) -> Built:
    """The KMS actions a call needs with the caller's permissions when the resource uses a customer key."""
    if not key_id or key_id.startswith("alias/aws/") or "aws/" in key_id:
        return []
    key = key_id if key_id.startswith("arn:") else ctx.arn("kms", f"key/{key_id}")
    dependent = DEPENDENT_ACTIONS.get((ctx.call.service, ctx.call.action), ())
    return [(a, key, {}, None) for a in dependent if a.startswith("kms:")]


def _iam_requests(ctx: RequestContext) -> Built:
    action = ctx.call.action
    if action == "SimulatePrincipalPolicy":  # authorised on the principal simulated (its role or user ARN)
        return _plain(ctx, str(ctx.params.get("PolicySourceArn") or "*"))
    name = ctx.params.get("ServerCertificateName")
    if name is None:
        return _plain(ctx)
    iam = _iam(ctx.account)
    cert = next((c for c in iam.certificates.values() if c.cert_name == name), None)
    if action == "UploadServerCertificate":
        path = ctx.params.get("Path") or "/"
        arn = f"arn:{ctx.partition}:iam::{ctx.account}:server-certificate{path}{name}"
        tags = [(t.get("Key", ""), t.get("Value", "")) for t in ctx.members("Tags")]
        return _plain(ctx, arn, _tag_context(tags))
    if cert is None:
        arn = f"arn:{ctx.partition}:iam::{ctx.account}:server-certificate/{name}"
        return _plain(ctx, arn)
    existing = {t["Key"]: t["Value"] for t in (getattr(cert, "tags", None) or [])}
    context: dict[str, Any] = _resource_tags(existing)
    if action == "TagServerCertificate":
        tags = [(t.get("Key", ""), t.get("Value", "")) for t in ctx.members("Tags")]
        context.update(_tag_context(tags))
    elif action == "UntagServerCertificate":
        context["aws:TagKeys"] = [t[""] for t in ctx.members("TagKeys")]
    return _plain(ctx, cert.arn, context)


def _elbv2_tags(ctx: RequestContext, arn: str) -> dict[str, str]:
    from moto.elbv2.models import elbv2_backends

    region = arn.split(":")[3] if arn.startswith("arn:") else ctx.region
    backend = elbv2_backends[ctx.account][region]
    return dict(backend.tagging_service.get_tag_dict_for_resource(arn))


def _elbv2_requests(ctx: RequestContext) -> Built:
    action = ctx.call.action
    if action in ("ModifyListener", "AddListenerCertificates", "RemoveListenerCertificates"):
        arn = ctx.params.get("ListenerArn", "")
        return _plain(ctx, arn, _resource_tags(_elbv2_tags(ctx, arn)))
    if action == "CreateRule":
        listener = ctx.params.get("ListenerArn", "")
        tags = [(t.get("Key", ""), t.get("Value", "")) for t in ctx.members("Tags")]
        context = {**_resource_tags(_elbv2_tags(ctx, listener)), **_tag_context(tags)}
        built = _plain(ctx, listener, context)
        if (
            tags
        ):  # tagging on create is authorised as AddTags on the new rule (Service Authorization Reference)
            rule = listener.replace(":listener/", ":listener-rule/", 1) + "/devstack-new-rule"
            built.append(
                (
                    "elasticloadbalancing:AddTags",
                    rule,
                    {**_tag_context(tags), "elasticloadbalancing:CreateAction": "CreateRule"},
                    None,
                )
            )
        return built
    if action == "DeleteRule":
        arn = ctx.params.get("RuleArn", "")
        return _plain(ctx, arn, _resource_tags(_elbv2_tags(ctx, arn)))
    if action == "AddTags":
        arns = [m[""] for m in ctx.members("ResourceArns")]
        tags = [(t.get("Key", ""), t.get("Value", "")) for t in ctx.members("Tags")]
        return [a for arn in arns for a in _plain(ctx, arn, {**_resource_tags(_elbv2_tags(ctx, arn)),
                                                            **_tag_context(tags)})]  # fmt: skip
    return _plain(ctx)


def _elb_requests(ctx: RequestContext) -> Built:
    name = ctx.params.get("LoadBalancerName")
    if ctx.call.action == "SetLoadBalancerListenerSSLCertificate" and name:
        return _plain(ctx, ctx.arn("elasticloadbalancing", f"loadbalancer/{name}"))
    return _plain(ctx)


_CLOUDFRONT_ID = re.compile(r"/distribution/([^/]+)")


def _cloudfront_requests(ctx: RequestContext) -> Built:
    match = _CLOUDFRONT_ID.search(ctx.path)
    if match is None:
        return _plain(ctx)
    distribution = f"arn:{ctx.partition}:cloudfront::{ctx.account}:distribution/{match.group(1)}"
    built = _plain(ctx, distribution)
    if ctx.call.action == "UpdateDistribution" and ctx.xml is not None:
        web_acl = (ctx.xml.findtext(".//WebACLId") or "").strip()
        if web_acl.startswith("arn:"):
            built.append(("wafv2:GetWebACL", web_acl, {}, None))
        elif web_acl:
            built.append(
                ("waf:GetWebACL", f"arn:{ctx.partition}:waf::{ctx.account}:webacl/{web_acl}", {}, None)
            )
        for function in sorted({(e.text or "").strip() for e in ctx.xml.iter("LambdaFunctionARN")}):
            built.append(("lambda:GetFunction", function, {}, None))
            built.append(("lambda:EnableReplication", function, {}, None))
    return built


def _normalized_record_name(name: str) -> str:
    # "Normalized": lower case, no trailing dot, escapes (\052 for *) decoded (Route 53 developer guide).
    decoded = re.sub(r"\\(\d{3})", lambda m: chr(int(m.group(1), 8)), name)
    return decoded.rstrip(".").lower()


def _route53_requests(ctx: RequestContext) -> Built:
    zone = re.search(r"/hostedzone/([^/]+)", ctx.path)
    change = re.search(r"/change/([^/]+)", ctx.path)
    if change is not None:
        return _plain(ctx, f"arn:{ctx.partition}:route53:::change/{change.group(1)}")
    if zone is None or ctx.call.action == "ListHostedZones":
        return _plain(ctx)
    arn = f"arn:{ctx.partition}:route53:::hostedzone/{zone.group(1)}"
    context: dict[str, Any] = {}
    if ctx.call.action == "ChangeResourceRecordSets" and ctx.xml is not None:
        names, types, actions = [], [], []
        for item in ctx.xml.iter("Change"):
            actions.append((item.findtext("Action") or "").strip())
            record = item.find("ResourceRecordSet")
            if record is not None:
                names.append(_normalized_record_name((record.findtext("Name") or "").strip()))
                types.append((record.findtext("Type") or "").strip())
        context = {
            "route53:ChangeResourceRecordSetsNormalizedRecordNames": names,
            "route53:ChangeResourceRecordSetsRecordTypes": types,
            "route53:ChangeResourceRecordSetsActions": actions,
        }
    return _plain(ctx, arn, context)


def _acm_requests(ctx: RequestContext) -> Built:
    from moto.acm.models import acm_backends

    arn = ctx.params.get("CertificateArn")
    tags = [(t.get("Key", ""), t.get("Value", "")) for t in ctx.params.get("Tags") or []]
    if not arn:
        if ctx.call.action == "ImportCertificate":  # a new certificate: a new ARN, no tags of its own yet
            new = ctx.arn("acm", f"certificate/{secrets.token_hex(4)}-devstack")
            return _plain(ctx, new, _tag_context(tags) if tags else {})
        return _plain(ctx)
    region = arn.split(":")[3] if arn.count(":") >= 5 else ctx.region
    certificate = acm_backends[ctx.account][region]._certificates.get(arn)
    existing = dict(certificate.tags) if certificate is not None else {}
    context: dict[str, Any] = _resource_tags({k: v or "" for k, v in existing.items()})
    if ctx.call.action == "AddTagsToCertificate":
        context.update(_tag_context(tags))
    elif ctx.call.action == "RemoveTagsFromCertificate":
        context["aws:TagKeys"] = [k for k, _ in tags]
    elif ctx.call.action == "ImportCertificate" and tags:
        context.update(_tag_context(tags))
    return _plain(ctx, arn, context)


def _dynamodb_requests(ctx: RequestContext) -> Built:
    from moto.dynamodb.models import dynamodb_backends

    table = str(ctx.params.get("TableName", ""))
    arn = ctx.arn("dynamodb", f"table/{table}")
    context: dict[str, Any] = {}
    key_id: str | None = None
    found = dynamodb_backends[ctx.account][ctx.region].tables.get(table)
    if found is not None:
        hash_key = found.hash_key_attr
        item = ctx.params.get("Item") if ctx.call.action == "PutItem" else ctx.params.get("Key")
        value = (item or {}).get(hash_key) or {}
        leading = value.get("S") or value.get("N") or value.get("B")
        if leading is not None:
            context["dynamodb:LeadingKeys"] = [str(leading)]
        sse = getattr(found, "sse_specification", None) or {}
        key_id = sse.get("KMSMasterKeyId") if sse.get("SSEType") == "KMS" else None
    return _plain(ctx, arn, context) + _kms(ctx, key_id)


def _sqs_requests(ctx: RequestContext) -> Built:
    from moto.sqs.models import sqs_backends

    url = str(ctx.params.get("QueueUrl", ""))
    if not url:
        return _plain(ctx)
    account, name = url.rstrip("/").split("/")[-2:]
    queue = sqs_backends[account][ctx.region].queues.get(name)
    key_id = getattr(queue, "kms_master_key_id", None) if queue is not None else None
    return _plain(ctx, ctx.arn("sqs", name, account=account)) + _kms(ctx, key_id)


def _secretsmanager_requests(ctx: RequestContext) -> Built:
    from moto.secretsmanager.models import secretsmanager_backends

    backend = secretsmanager_backends[ctx.account][ctx.region]
    if ctx.call.action == "CreateSecret":
        name = str(ctx.params.get("Name", ""))
        suffix = "".join(secrets.choice("abcdefghijklmnopqrstuvwxyzABCDEF0123456789") for _ in range(6))
        arn = ctx.arn("secretsmanager", f"secret:{name}-{suffix}")
        return _plain(ctx, arn) + _kms(ctx, ctx.params.get("KmsKeyId"))
    secret_id = str(ctx.params.get("SecretId", ""))
    secret = backend.secrets[secret_id] if secret_id in backend.secrets else None  # noqa: SIM401 - not a dict
    if secret is None:
        name = secret_id
        if secret_id.startswith("arn:"):
            name = re.sub(r"-[A-Za-z0-9]{6}$", "", secret_id.rsplit(":", 1)[-1])
        return _plain(ctx, ctx.arn("secretsmanager", f"secret:{name}-??????"))
    return _plain(ctx, str(secret.arn)) + _kms(ctx, getattr(secret, "kms_key_id", None))


def _events_requests(ctx: RequestContext) -> Built:
    if ctx.call.action != "PutEvents":
        return _plain(ctx)
    built: Built = []
    for entry in ctx.params.get("Entries") or []:
        bus = str(entry.get("EventBusName") or "default")
        arn = bus if bus.startswith("arn:") else ctx.arn("events", f"event-bus/{bus}")
        context = {
            "events:source": str(entry.get("Source", "")),
            "events:detail-type": entry.get("DetailType", ""),
        }
        built.extend(_plain(ctx, arn, context))
    return built


def _sts_requests(ctx: RequestContext) -> Built:
    if ctx.call.action != "AssumeRole":
        return _plain(ctx)
    role_arn = str(ctx.params.get("RoleArn", ""))
    match = re.fullmatch(r"arn:aws[a-z-]*:iam::(\d{12}):role/(?:.*/)?([\w+=,.@-]+)", role_arn)
    role = _moto_role(role_arn, match.group(1)) if match else None
    # A role that does not exist, or no trust policy: nothing trusts the caller (AWS: AccessDenied).
    trust = json.loads(role.assume_role_policy_document) if role is not None else {"Statement": []}
    context = {"sts:RoleSessionName": str(ctx.params.get("RoleSessionName", ""))}
    return [("sts:AssumeRole", role_arn, context, trust)]


def _lambda_requests(ctx: RequestContext) -> Built:
    match = re.search(r"/functions/([^/]+)", ctx.path)
    if match is None:
        return _plain(ctx)
    name = match.group(1)
    arn = name if name.startswith("arn:") else ctx.arn("lambda", f"function:{name}")
    return _plain(ctx, arn)


def _cloudformation_requests(ctx: RequestContext) -> Built:
    stack = ctx.params.get("StackName")
    if not stack:
        return _plain(ctx)
    arn = stack if stack.startswith("arn:") else ctx.arn("cloudformation", f"stack/{stack}/devstack")
    return _plain(ctx, arn)


def _wafv2_requests(ctx: RequestContext) -> Built:
    return _plain(ctx)


_BUILDERS: dict[str, Callable[[RequestContext], Built]] = {
    "iam": _iam_requests,
    "elbv2": _elbv2_requests,
    "elb": _elb_requests,
    "ec2": lambda ctx: _plain(ctx),
    "cloudfront": _cloudfront_requests,
    "route53": _route53_requests,
    "acm": _acm_requests,
    "dynamodb": _dynamodb_requests,
    "sqs": _sqs_requests,
    "secretsmanager": _secretsmanager_requests,
    "events": _events_requests,
    "sts": _sts_requests,
    "lambda": _lambda_requests,
    "cloudformation": _cloudformation_requests,
    "wafv2": _wafv2_requests,
}
