"""A deployed stack on the local stack: what `sam deploy` leaves behind, as far as operators' tools see it.

`deploy()` creates a CloudFormation stack in moto whose Lambda functions carry the settings given and run as
template.yaml's roles (deployed by devstack.iam_enforcement, which enforces them on every call), and whose
outputs name them as template.yaml's do (`ScanFunctionName`, `RotateFunctionName`, `ScanFunctionRoleArn`,
`RotateFunctionRoleArn`). moto runs a function only in Docker, which this machine lacks; here an invocation
runs the function's handler from template.yaml in-process (devstack.lambda_runner), with the function's
environment plus what the Lambda runtime would provide (the devstack's endpoint and its role's credentials),
and answers as Lambda does: the result, or `FunctionError` with `errorMessage`/`errorType`.
"""

from __future__ import annotations

import io
import json
import threading
import time
import traceback
import zipfile
from collections.abc import Mapping
from typing import Any

from devstack import lambda_runner

FUNCTIONS = ("ScanFunction", "RotateFunction")
_runtime_env: dict[str, str] = {}  # what the Lambda runtime provides (endpoint, credentials, region)
_lock = threading.Lock()
_patched = False


class Invocations:
    """What the deployed functions were asked to do: a test hook that makes each invocation take `delay`
    seconds longer (a rotation waiting on a slow CA or on Route 53, deterministically), and the count of
    invocations started and finished, so that a test can wait for one that its client gave up on."""

    def __init__(self) -> None:
        self.delay = 0.0
        self.started = 0
        self.finished = 0
        self._changed = threading.Condition()

    def reset(self) -> None:
        with self._changed:
            self.delay = 0.0
            self.started = self.finished = 0

    def begin(self) -> float:
        with self._changed:
            self.started += 1
            self._changed.notify_all()
            return self.delay

    def end(self) -> None:
        with self._changed:
            self.finished += 1
            self._changed.notify_all()

    def wait_finished(self, count: int, timeout: float) -> bool:
        with self._changed:
            return self._changed.wait_for(lambda: self.finished >= count, timeout)


invocations = Invocations()


def _placeholder_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("app.py", "# the devstack runs functions/*/app.py from template.yaml instead\n")
    return buffer.getvalue()


def deploy(
    cloudformation: Any, settings: Mapping[str, str], runtime_env: Mapping[str, str]
) -> dict[str, str]:
    """Creates the stack; returns its outputs. `settings` become the functions' environment variables (with
    what template.yaml sets for one function alone, such as the scan's MEMBER_ROLE_NAME); `runtime_env` is
    what the Lambda runtime adds (AWS_* variables Lambda reserves). The functions' roles are template.yaml's,
    deployed for these settings by the IAM enforcement (devstack.iam_enforcement): the roles every invocation
    runs as, and the ones the stack's outputs name (`certrotate doctor` simulates them)."""
    from devstack.iam_enforcement import FUNCTION_ROLES, STACK_NAME, enforcement

    name = STACK_NAME
    _patch()
    with _lock:
        _runtime_env.clear()
        _runtime_env.update(runtime_env)
    roles = enforcement.deploy_central({**settings, **runtime_env})
    code = {"ZipFile": _placeholder_zip().decode("latin-1")}
    resources: dict[str, Any] = {}
    outputs: dict[str, Any] = {}
    for function in FUNCTIONS:
        spec = lambda_runner.template().function(function)
        role = roles[FUNCTION_ROLES[function]].arn
        resources[function] = {
            "Type": "AWS::Lambda::Function",
            "Properties": {
                "FunctionName": f"{name}-{function}",
                "Handler": "app.lambda_handler",
                "Runtime": "python3.11",
                "Timeout": spec.timeout,
                "Role": role,
                "Code": code,
                "Environment": {"Variables": {**settings, **enforcement.function_environment(function)}},
            },
        }
        outputs[f"{function}Name"] = {"Value": {"Ref": function}}
        outputs[f"{FUNCTION_ROLES[function]}Arn"] = {"Value": role}
    template = {"AWSTemplateFormatVersion": "2010-09-09", "Resources": resources, "Outputs": outputs}
    cloudformation.create_stack(StackName=name, TemplateBody=json.dumps(template))
    stack = cloudformation.describe_stacks(StackName=name)["Stacks"][0]
    return {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}


def _patch() -> None:
    global _patched
    with _lock:
        if _patched:
            return
        from moto.awslambda.models import LambdaFunction

        def _invoke_lambda(self: Any, event: Any = None) -> tuple[str, bool, str]:
            logical_id = next((f for f in FUNCTIONS if self.function_name.endswith(f"-{f}")), None)
            if logical_id is None:
                return (
                    json.dumps({"errorMessage": f"{self.function_name} is not a certrotate function"}),
                    True,
                    "",
                )
            from devstack.iam_enforcement import enforcement

            # What the template sets for this function alone (the scan's MEMBER_ROLE_NAME, <name>-scan) comes
            # back from the deployment (lambda_runner.invoke); passed on, it would read as a stack setting.
            own = enforcement.function_environment(logical_id)
            env = {k: v for k, v in {**self.environment_vars, **_runtime_env}.items() if own.get(k) != v}
            delay = invocations.begin()
            try:
                time.sleep(delay)
                with lambda_runner.lambda_environment():
                    result = lambda_runner.invoke(logical_id, event if event is not None else {}, env)
            except Exception as exc:  # Lambda reports an unhandled error this way
                error = {
                    "errorMessage": str(exc),
                    "errorType": type(exc).__name__,
                    "stackTrace": traceback.format_tb(exc.__traceback__)[-3:],
                }
                return json.dumps(error), True, ""
            finally:
                invocations.end()
            return json.dumps(result), False, ""

        setattr(LambdaFunction, "_invoke_lambda", _invoke_lambda)  # noqa: B010 - replacing moto's Docker run
        _patched = True
