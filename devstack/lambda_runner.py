"""Invokes the functions of template.yaml in this process, as Lambda would, with no `sam build` and no Docker.

It reads each function's `CodeUri`, `Handler`, `Timeout`, `MemorySize` and layers (`!Ref` to an
`AWS::Serverless::LayerVersion` of the same template, on the function or in `Globals.Function`), puts the
layers' `ContentUri` and the `CodeUri` on sys.path, imports the handler module once per process under a name
unique to the function (both functions have an `app.py`) and calls it with a fake Lambda context.

    with lambda_environment(stack.env() | {"ACME_ACCOUNT_SECRET_ID": "acme"}):
        result = invoke("RotateFunction", {"certificate_name": "www"}, {})
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import re
import sys
import threading
import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import yaml  # type: ignore[import-untyped]

DEFAULT_TEMPLATE = Path(__file__).resolve().parent.parent / "template.yaml"
_DEFAULT_TIMEOUT = 3  # seconds: Lambda's own defaults
_DEFAULT_MEMORY = 128
_REGION_DEFAULT = "us-east-1"
ACCOUNT = "123456789012"  # moto's default account
_ACCOUNT = ACCOUNT


# ------------------------------------------------------------------------------------------------
# Reading the template
# ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CfnTag:
    """A CloudFormation short-form intrinsic (`!Ref X` -> CfnTag("Ref", "X")), kept unevaluated."""

    tag: str
    value: Any


class CfnLoader(yaml.SafeLoader):  # type: ignore[misc]
    """SafeLoader that accepts any `!Tag` (CloudFormation intrinsics) instead of refusing the document."""


def _construct_tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> CfnTag:
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        assert isinstance(node, yaml.MappingNode)
        value = loader.construct_mapping(node, deep=True)
    return CfnTag(suffix, value)


CfnLoader.add_multi_constructor("!", _construct_tag)


def load_yaml(path: str | os.PathLike[str]) -> Any:
    with open(path, encoding="utf-8") as handle:
        return yaml.load(handle, Loader=CfnLoader)  # noqa: S506 - CfnLoader is a SafeLoader


@dataclass(frozen=True)
class FunctionSpec:
    logical_id: str
    code_uri: Path
    handler: str
    layers: tuple[Path, ...]
    timeout: int
    memory_size: int
    runtime: str | None
    # Literal environment values from the template (values that are intrinsics are left to the caller).
    environment: Mapping[str, str] = field(default_factory=dict)

    @property
    def module_name(self) -> str:
        return self.handler.rsplit(".", 1)[0]

    @property
    def function_name(self) -> str:
        return self.handler.rsplit(".", 1)[1]

    @property
    def module_path(self) -> Path:
        return self.code_uri / (self.module_name.replace(".", "/") + ".py")


class TemplateError(ValueError):
    pass


class Template:
    """The parts of a SAM template that the runner needs."""

    def __init__(self, path: str | os.PathLike[str] = DEFAULT_TEMPLATE) -> None:
        self.path = Path(path).resolve()
        if not self.path.is_file():
            raise TemplateError(f"no SAM template at {self.path}")
        document = load_yaml(self.path)
        if not isinstance(document, dict):
            raise TemplateError(f"{self.path} is not a YAML mapping")
        self.document: dict[str, Any] = document
        self.resources: dict[str, Any] = document.get("Resources") or {}
        self.globals: dict[str, Any] = (document.get("Globals") or {}).get("Function") or {}
        self.parameters: dict[str, Any] = document.get("Parameters") or {}

    @property
    def base_dir(self) -> Path:
        return self.path.parent

    def function_ids(self) -> list[str]:
        return [rid for rid, res in self.resources.items() if _type(res) == "AWS::Serverless::Function"]

    def function(self, logical_id: str) -> FunctionSpec:
        resource = self.resources.get(logical_id)
        if _type(resource) != "AWS::Serverless::Function":
            raise TemplateError(
                f"{logical_id} is not an AWS::Serverless::Function in {self.path} "
                f"(functions: {', '.join(self.function_ids()) or 'none'})"
            )
        props: dict[str, Any] = _properties(resource)
        code_uri = self._path(self._prop(props, "CodeUri"), f"{logical_id}.CodeUri")
        handler = self._scalar(self._prop(props, "Handler"))
        if not isinstance(handler, str) or "." not in handler:
            raise TemplateError(f"{logical_id}.Handler must look like module.function, got {handler!r}")
        layers = props.get("Layers", self.globals.get("Layers")) or []
        env = dict(((self.globals.get("Environment") or {}).get("Variables")) or {})
        env.update(((props.get("Environment") or {}).get("Variables")) or {})
        return FunctionSpec(
            logical_id=logical_id,
            code_uri=code_uri,
            handler=handler,
            layers=tuple(p for p in (self._layer_path(layer, logical_id) for layer in layers) if p),
            timeout=int(self._scalar(self._prop(props, "Timeout")) or _DEFAULT_TIMEOUT),
            memory_size=int(self._scalar(self._prop(props, "MemorySize")) or _DEFAULT_MEMORY),
            runtime=self._scalar(self._prop(props, "Runtime")),
            environment={
                name: _env_str(value) for name, value in env.items() if not isinstance(value, CfnTag | dict)
            },
        )

    def _prop(self, props: dict[str, Any], name: str) -> Any:
        return props[name] if name in props else self.globals.get(name)

    def _scalar(self, value: Any) -> Any:
        """Resolves `!Ref Parameter` to the parameter's Default; other intrinsics are not evaluated."""
        if isinstance(value, CfnTag):
            if value.tag == "Ref" and value.value in self.parameters:
                return self.parameters[value.value].get("Default")
            return None
        if isinstance(value, dict) and set(value) == {"Ref"}:
            return self._scalar(CfnTag("Ref", value["Ref"]))
        return value

    def _path(self, value: Any, what: str) -> Path:
        value = self._scalar(value)
        if not isinstance(value, str):
            raise TemplateError(f"{what} must be a local folder, got {value!r}")
        path = (self.base_dir / value).resolve()
        if not path.is_dir():
            raise TemplateError(f"{what} {value!r} is not a folder ({path})")
        return path

    def _layer_path(self, layer: Any, function_id: str) -> Path | None:
        ref: Any = None
        if isinstance(layer, CfnTag) and layer.tag == "Ref":
            ref = layer.value
        elif isinstance(layer, dict) and set(layer) == {"Ref"}:
            ref = layer["Ref"]
        if ref is None:
            return None  # a published layer (ARN): not ours to put on the path
        resource = self.resources.get(ref)
        if _type(resource) not in ("AWS::Serverless::LayerVersion", "AWS::Lambda::LayerVersion"):
            raise TemplateError(f"{function_id} uses layer {ref!r}, which is not a layer of {self.path}")
        props = _properties(resource)
        return self._path(props.get("ContentUri", props.get("Content")), f"{ref}.ContentUri")


def _type(resource: Any) -> str | None:
    return resource.get("Type") if isinstance(resource, dict) else None


def _properties(resource: Any) -> dict[str, Any]:
    props = resource.get("Properties") if isinstance(resource, dict) else None
    return props if isinstance(props, dict) else {}


def _env_str(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


# ------------------------------------------------------------------------------------------------
# The Lambda context and environment
# ------------------------------------------------------------------------------------------------


class LambdaContext:
    """What the Python runtime passes as `context` (the attributes Powertools and handlers read)."""

    def __init__(self, spec: FunctionSpec, region: str | None = None) -> None:
        region = (
            region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or _REGION_DEFAULT
        )
        self.function_name = spec.logical_id
        self.function_version = "$LATEST"
        self.invoked_function_arn = f"arn:aws:lambda:{region}:{_ACCOUNT}:function:{spec.logical_id}"
        self.memory_limit_in_mb = spec.memory_size
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{spec.logical_id}"
        self.log_stream_name = time.strftime("%Y/%m/%d/[$LATEST]") + uuid.uuid4().hex
        self.identity = None
        self.client_context = None
        self.timeout_seconds = spec.timeout
        self._deadline = time.monotonic() + spec.timeout

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


@contextlib.contextmanager
def lambda_environment(env: Mapping[str, str | None] | None = None) -> Iterator[None]:
    """Sets environment variables (None removes one) for the block, then restores the whole environment as
    it was, including whatever `invoke` set inside the block."""
    saved = dict(os.environ)
    try:
        _set_environment(env or {})
        yield
    finally:
        # Variable by variable rather than clear(): other threads never see an empty environment.
        for name in set(os.environ) - set(saved):
            os.environ.pop(name, None)
        for name, value in saved.items():
            if os.environ.get(name) != value:
                os.environ[name] = value


def _set_environment(env: Mapping[str, str | None]) -> None:
    for name, value in env.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = str(value)


# ------------------------------------------------------------------------------------------------
# Importing and invoking
# ------------------------------------------------------------------------------------------------

_modules: dict[Path, ModuleType] = {}
_import_lock = threading.RLock()


def _unique_module_name(spec: FunctionSpec) -> str:
    return "_lambda_" + re.sub(r"\W", "_", f"{spec.logical_id}_{spec.module_name}")


def load_handler(spec: FunctionSpec) -> Any:
    """The handler function, its module imported once per process (the Lambda "cold start")."""
    with _import_lock:
        for path in (*spec.layers, spec.code_uri):
            if str(path) not in sys.path:
                sys.path.insert(0, str(path))
        module = _modules.get(spec.module_path)
        if module is None:
            if not spec.module_path.is_file():
                raise TemplateError(f"{spec.logical_id}: handler module {spec.module_path} does not exist")
            name = _unique_module_name(spec)
            module_spec = importlib.util.spec_from_file_location(name, spec.module_path)
            if module_spec is None or module_spec.loader is None:
                raise ImportError(f"cannot import {spec.module_path}")
            module = importlib.util.module_from_spec(module_spec)
            sys.modules[name] = module
            try:
                module_spec.loader.exec_module(module)
            except BaseException:
                del sys.modules[name]
                raise
            _modules[spec.module_path] = module
    handler = getattr(module, spec.function_name, None)
    if not callable(handler):
        raise TemplateError(f"{spec.logical_id}: {spec.module_path} has no function {spec.function_name!r}")
    return handler


def cold_start(template: Template | None = None) -> None:
    """Forgets imported handlers and the layers' modules, so the next invoke starts a fresh "container"
    (module-level clients and settings are built again from the environment then in force)."""
    with _import_lock:
        roots = set(_modules)
        if template is not None:
            for function_id in template.function_ids():
                roots.update(template.function(function_id).layers)
        folders = {p.parent if p.suffix == ".py" else p for p in roots}
        for name, module in list(sys.modules.items()):
            file = getattr(module, "__file__", None)
            if file and any(Path(file).resolve().is_relative_to(folder) for folder in folders):
                del sys.modules[name]
        _modules.clear()


_templates: dict[Path, Template] = {}


def template(path: str | os.PathLike[str] | None = None) -> Template:
    """The parsed template (cached per path; pass a path to read a different one)."""
    resolved = Path(path or DEFAULT_TEMPLATE).resolve()
    if resolved not in _templates:
        _templates[resolved] = Template(resolved)
    return _templates[resolved]


def invoke(
    function_logical_id: str,
    event: Any,
    env: Mapping[str, str | None] | None = None,
    template_path: str | os.PathLike[str] | None = None,
    context: LambdaContext | None = None,
) -> Any:
    """Calls the function's handler with `event` as Lambda would and returns its JSON-decoded result.

    The environment is the template's literal variables, Lambda's own (AWS_LAMBDA_FUNCTION_NAME, ...) and
    then `env`, applied with os.environ.update and left in place (wrap in `lambda_environment` to restore).
    Event and result go through JSON like Lambda's, so a result that is not JSON-serialisable fails here too.
    """
    spec = template(template_path).function(function_logical_id)
    lambda_env: dict[str, str | None] = {
        **spec.environment,
        "AWS_LAMBDA_FUNCTION_NAME": spec.logical_id,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.memory_size),
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{spec.logical_id}",
        "AWS_EXECUTION_ENV": f"AWS_Lambda_{spec.runtime or 'python3.11'}",
        "LAMBDA_TASK_ROOT": str(spec.code_uri),
        **(env or {}),
    }
    # Lambda hands the function its role's credentials (reserved variables: the configuration cannot set
    # them); with a local stack running, that role is the template's, enforced on every call.
    from devstack.iam_enforcement import enforcement  # imports this module's template reader

    settings = {**os.environ, **lambda_env}
    if "MEMBER_ROLE_NAME" not in (env or {}):  # not what an earlier invocation left (the scan's own name)
        settings.pop("MEMBER_ROLE_NAME", None)
    deployed = enforcement.function_credentials(spec.logical_id, settings)
    role_settings = {k: v for k, v in deployed.items() if not k.startswith("AWS_")}
    lambda_env = {
        **role_settings,
        **lambda_env,
        **{k: v for k, v in deployed.items() if k.startswith("AWS_")},
    }
    _set_environment(lambda_env)
    handler = load_handler(spec)
    payload = json.loads(json.dumps(event))
    result = handler(payload, context or LambdaContext(spec))
    return json.loads(json.dumps(result))


def sqs_record(message: dict[str, Any], queue_url: str, region: str = "us-east-1") -> dict[str, Any]:
    """An SQS message (from ReceiveMessage with every attribute) as Lambda's event source mapping hands it
    to the function: one record of an SQS event."""
    attributes = message.get("Attributes", {})
    queue_name = queue_url.rsplit("/", 1)[-1]
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": {
            "ApproximateReceiveCount": attributes.get("ApproximateReceiveCount", "1"),
            "SentTimestamp": attributes.get("SentTimestamp", "0"),
            "SenderId": attributes.get("SenderId", "AIDAEXAMPLE"),
            "ApproximateFirstReceiveTimestamp": attributes.get("ApproximateFirstReceiveTimestamp", "0"),
            "MessageGroupId": attributes.get("MessageGroupId", ""),
            "MessageDeduplicationId": attributes.get("MessageDeduplicationId", ""),
            "SequenceNumber": attributes.get("SequenceNumber", "1"),
        },
        "messageAttributes": {},
        "md5OfBody": message.get("MD5OfBody", ""),
        "eventSource": "aws:sqs",
        "eventSourceARN": f"arn:aws:sqs:{region}:123456789012:{queue_name}",
        "awsRegion": region,
    }
