"""template.yaml against the operator contract, certrotate.names and the least-privilege rules.

No AWS and no SAM CLI: the template is read with a YAML loader that keeps CloudFormation's short tags
(!Ref, !Sub, ...) as their long forms. scripts/lint-template.sh runs the real tools.
"""

from __future__ import annotations

import ast
import json
import re
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from certrotate import names
from certrotate.adapters.aws.iam import ROOM_KEPT, ROOM_RESERVE
from certrotate.adapters.aws.route53 import ZONES_KEPT
from certrotate.adapters.lease_table.dns_batches import DNS_BATCH_KEY_PREFIX
from certrotate.adapters.lease_table.progress import PROGRESS_KEY_PREFIX
from certrotate.adapters.lease_table.scan_index import INDEX_KEY_PREFIX
from certrotate.config import TrustSource, load_settings
from certrotate.inbound import parse_scan_request
from certrotate.names import MetricName
from certrotate.report.metrics import emit_scan

from tests.cfn import CfnLoader, load_template
from tests.paths import ROOT

TEMPLATE = ROOT / "template.yaml"
EVENTS = ROOT / "events"
METRIC_NAMES = {m.value for m in MetricName}


# --- loading -------------------------------------------------------------------------------------

_CfnLoader = CfnLoader  # tests/unit/project/test_member_role.py loads member-role.yaml with it


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return load_template(TEMPLATE)


@pytest.fixture(scope="module")
def resources(template: dict[str, Any]) -> dict[str, Any]:
    return template["Resources"]


def _of_type(resources: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {name: r for name, r in resources.items() if r["Type"] == kind}


def _function_property(template: dict[str, Any], function: str, key: str) -> Any:
    props = template["Resources"][function]["Properties"]
    if key in props:
        return props[key]
    return template.get("Globals", {}).get("Function", {}).get(key)


def _environment(template: dict[str, Any], function: str) -> dict[str, Any]:
    merged = dict(template["Globals"]["Function"].get("Environment", {}).get("Variables", {}))
    own = template["Resources"][function]["Properties"].get("Environment", {}).get("Variables", {})
    merged.update(own)
    return merged


def _branches(value: Any) -> Iterator[Any]:
    """Every value an Fn::If can take (AWS::NoValue dropped), recursively."""
    if isinstance(value, dict) and "Fn::If" in value:
        _condition, yes, no = value["Fn::If"]
        for branch in (yes, no):
            yield from _branches(branch)
    elif value == {"Ref": "AWS::NoValue"}:
        return
    else:
        yield value


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _role_of(resources: dict[str, Any], function: str) -> str:
    """The logical ID of a function's own role (`Role: !GetAtt <Role>.Arn`): SAM generates none."""
    role = resources[function]["Properties"]["Role"]
    assert role == {"Fn::GetAtt": [role["Fn::GetAtt"][0], "Arn"]}, f"{function}: Role must be its own role"
    return str(role["Fn::GetAtt"][0])


def _function_statements(resources: dict[str, Any], function: str) -> list[dict[str, Any]]:
    """Every statement of a function's role: its inline Policies and the AWS::IAM::Policy resources naming it,
    both branches of each Fn::If."""
    role = _role_of(resources, function)
    documents = [p["PolicyDocument"] for p in resources[role]["Properties"].get("Policies", [])]
    documents += [
        r["Properties"]["PolicyDocument"]
        for r in resources.values()
        if r["Type"] == "AWS::IAM::Policy" and {"Ref": role} in r["Properties"]["Roles"]
    ]
    statements: list[dict[str, Any]] = []
    for document in documents:
        for item in _as_list(document["Statement"]):
            statements.extend(b for b in _branches(item) if isinstance(b, dict) and "Effect" in b)
    return statements


def _policy_templates(resources: dict[str, Any], function: str) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for policy in resources[function]["Properties"].get("Policies", []):
        for branch in _branches(policy):
            if isinstance(branch, dict) and "Statement" not in branch:
                found.update(branch)
    return found


def _all_statements(node: Any) -> Iterator[dict[str, Any]]:
    """Every IAM-style statement anywhere in the template (functions, key and topic policies)."""
    if isinstance(node, dict):
        if "Effect" in node and ("Action" in node or "NotAction" in node):
            yield node
        for value in node.values():
            yield from _all_statements(value)
    elif isinstance(node, list):
        for value in node:
            yield from _all_statements(value)


def _resource_text(resource: Any) -> str:
    """A statement resource as text: "*" stays "*", !Sub keeps its pattern."""
    if isinstance(resource, str):
        return resource
    if isinstance(resource, dict) and "Fn::Sub" in resource:
        sub = resource["Fn::Sub"]
        return sub if isinstance(sub, str) else sub[0]
    return json.dumps(resource)


def _actions(statement: dict[str, Any]) -> list[str]:
    return [a.lower() for a in _as_list(statement.get("Action", []))]


FUNCTIONS = ("ScanFunction", "RotateFunction")


# --- the contract: functions, code, layer ----------------------------------------------------------


def test_is_a_sam_template(template: dict[str, Any]) -> None:
    assert template["AWSTemplateFormatVersion"] == "2010-09-09"
    assert template["Transform"] == "AWS::Serverless-2016-10-31"


@pytest.mark.parametrize("function", FUNCTIONS)
def test_function_code_and_handler_exist(template: dict[str, Any], function: str) -> None:
    resource = template["Resources"][function]
    assert resource["Type"] == "AWS::Serverless::Function"
    code_uri = _function_property(template, function, "CodeUri")
    handler = _function_property(template, function, "Handler")
    assert isinstance(code_uri, str) and code_uri.startswith("functions/"), code_uri
    code_dir = ROOT / code_uri
    assert code_dir.is_dir(), f"{function}: CodeUri {code_uri} is not a directory"
    module, _, attribute = handler.rpartition(".")
    source = code_dir / (module.replace(".", "/") + ".py")
    assert source.is_file(), f"{function}: Handler {handler} names no file {source.relative_to(ROOT)}"
    tree = ast.parse(source.read_text())
    defined = {
        node.name for node in tree.body if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
    } | {
        target.id
        for node in tree.body
        if isinstance(node, ast.Assign)
        for target in node.targets
        if isinstance(target, ast.Name)
    }
    assert attribute in defined, f"{function}: {source.name} defines no {attribute}"


@pytest.mark.parametrize("function", FUNCTIONS)
def test_function_runtime_architecture_and_layer(template: dict[str, Any], function: str) -> None:
    assert _function_property(template, function, "Runtime") == "python3.11"
    assert _function_property(template, function, "Architectures") == ["arm64"]
    assert _function_property(template, function, "Tracing") == "Active"
    assert {"Ref": "CertRotateLayer"} in _function_property(template, function, "Layers")


def test_layer_is_built_by_sam_for_the_function_runtime(template: dict[str, Any]) -> None:
    layer = template["Resources"]["CertRotateLayer"]
    assert layer["Type"] == "AWS::Serverless::LayerVersion"
    content = ROOT / layer["Properties"]["ContentUri"]
    assert (content / "requirements.txt").is_file()
    assert (content / "certrotate" / "__init__.py").is_file()
    assert (content / "certrotate" / "names.py").samefile(Path(names.__file__))
    runtime = template["Globals"]["Function"]["Runtime"]
    assert runtime in layer["Properties"]["CompatibleRuntimes"]
    assert layer["Metadata"]["BuildArchitecture"] == "arm64"
    # Built by its own Makefile (for the .pyc), which must target the functions' runtime and architecture.
    assert layer["Metadata"]["BuildMethod"] == "makefile"
    makefile = (content / "Makefile").read_text()
    assert "build-CertRotateLayer:" in makefile
    version = runtime.removeprefix("python")
    assert f"PYTHON ?= python{version}" in makefile
    assert f"--python-version {version}" in makefile and f"--abi cp{version.replace('.', '')}" in makefile
    assert "--platform manylinux2014_aarch64" in makefile and "--require-hashes" in makefile


def test_timeouts_fit_the_work(template: dict[str, Any]) -> None:
    assert _function_property(template, "ScanFunction", "Timeout") == 300
    assert _function_property(template, "RotateFunction", "Timeout") == 900


def test_scan_runs_on_a_schedule_and_knows_the_queue(template: dict[str, Any]) -> None:
    events = template["Resources"]["ScanFunction"]["Properties"]["Events"]
    schedules = {name: e for name, e in events.items() if e["Type"] == "Schedule"}
    assert set(schedules) == {"DailyScan", "RenewalInfoCheck"}
    assert schedules["DailyScan"]["Properties"]["Schedule"] == {"Ref": "ScheduleExpression"}
    assert "Input" not in schedules["DailyScan"]["Properties"]  # the scheduled event itself: a full scan
    assert template["Parameters"]["ScheduleExpression"]["Default"] == "rate(1 day)"
    # The renewal-info re-check: hourly by default, the scan's own event, off when its parameter is empty.
    recheck = schedules["RenewalInfoCheck"]["Properties"]
    assert json.loads(recheck["Input"]) == {"renewal_info_only": True}
    assert recheck["Schedule"] == {
        "Fn::If": ["HasRenewalInfoSchedule", {"Ref": "RenewalInfoSchedule"}, "rate(1 day)"]
    }
    assert recheck["State"] == {"Fn::If": ["HasRenewalInfoSchedule", "ENABLED", "DISABLED"]}
    assert template["Parameters"]["RenewalInfoSchedule"]["Default"] == "rate(50 minutes)"
    assert template["Conditions"]["HasRenewalInfoSchedule"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "RenewalInfoSchedule"}, ""]}]
    }
    assert _environment(template, "ScanFunction")["ROTATION_QUEUE_URL"] == {"Ref": "RotationQueue"}


def test_rotate_is_fed_by_the_queue_one_message_at_a_time(template: dict[str, Any]) -> None:
    events = template["Resources"]["RotateFunction"]["Properties"]["Events"]
    sqs = [e["Properties"] for e in events.values() if e["Type"] == "SQS"]
    assert len(sqs) == 1
    source = sqs[0]
    assert source["Queue"] == {"Fn::GetAtt": ["RotationQueue", "Arn"]}
    assert source["BatchSize"] == 1
    assert source["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    # SQS's minimum is 2; 10 measured (docs/performance.md 6g: rotations share Route 53's 5 requests per
    # second per account through the batches, and IAM's rate; more is not measured).
    assert source["ScalingConfig"]["MaximumConcurrency"] == {"Ref": "RotationMaximumConcurrency"}
    parameter = template["Parameters"]["RotationMaximumConcurrency"]
    assert (parameter["MinValue"], parameter["Default"], parameter["MaxValue"]) == (2, 10, 10)


@pytest.mark.parametrize(
    ("function", "parameter", "condition"),
    [
        ("RotateFunction", "RotateReservedConcurrency", "ReservesRotateConcurrency"),
        ("ScanFunction", "ScanReservedConcurrency", "ReservesScanConcurrency"),
    ],
)
def test_reserved_concurrency_is_a_parameter_that_reserves_none_by_default(
    template: dict[str, Any], function: str, parameter: str, condition: str
) -> None:
    reserved = template["Resources"][function]["Properties"]["ReservedConcurrentExecutions"]
    assert reserved == {"Fn::If": [condition, {"Ref": parameter}, {"Ref": "AWS::NoValue"}]}
    assert template["Parameters"][parameter]["Default"] == 0  # 0 would stop the function: it means "none"
    assert template["Conditions"][condition] == {"Fn::Not": [{"Fn::Equals": [{"Ref": parameter}, 0]}]}


# --- queues and secret ------------------------------------------------------------------------------


def test_rotation_queue_is_fifo_with_a_fifo_dead_letter_queue(template: dict[str, Any]) -> None:
    resources = template["Resources"]
    queue = resources["RotationQueue"]["Properties"]
    dlq = resources["RotationDeadLetterQueue"]["Properties"]
    assert queue["FifoQueue"] is True and dlq["FifoQueue"] is True
    assert queue["ContentBasedDeduplication"] is False  # the scan sets MessageDeduplicationId
    # Encrypted at rest: SQS managed keys, or the customer managed key KmsKeyArn names.
    for q in (queue, dlq):
        assert q["SqsManagedSseEnabled"] == {"Fn::If": ["HasKmsKey", {"Ref": "AWS::NoValue"}, True]}
        assert q["KmsMasterKeyId"] == {"Fn::If": ["HasKmsKey", {"Ref": "KmsKeyArn"}, {"Ref": "AWS::NoValue"}]}
    redrive = queue["RedrivePolicy"]
    assert redrive["deadLetterTargetArn"] == {"Fn::GetAtt": ["RotationDeadLetterQueue", "Arn"]}
    assert redrive["maxReceiveCount"] == 5
    rotate_timeout = _function_property(template, "RotateFunction", "Timeout")
    assert queue["VisibilityTimeout"] >= 6 * rotate_timeout
    assert dlq["MessageRetentionPeriod"] > queue.get("MessageRetentionPeriod", 345600)
    # A redelivery (after a failed validation: perhaps a zone added since the listing) comes after the
    # visibility timeout, when no container still answers from a listing made before the failed try.
    assert queue["VisibilityTimeout"] > ZONES_KEPT + rotate_timeout


def test_the_quota_reserve_covers_what_the_most_containers_upload_while_a_reading_is_kept(
    template: dict[str, Any],
) -> None:
    # Each container uploads at most once per rotation, and a rotation takes at least 2 s (the CA's
    # validation alone): a kept reading cannot be wrong by more than the reserve.
    most = template["Parameters"]["RotationMaximumConcurrency"]["MaxValue"]
    assert most * ROOM_KEPT / 2 <= ROOM_RESERVE


def test_acme_account_secret_starts_empty_and_is_what_the_functions_use(template: dict[str, Any]) -> None:
    secret = template["Resources"]["AcmeAccountSecret"]
    assert secret["Type"] == "AWS::SecretsManager::Secret"
    assert "SecretString" not in secret["Properties"]
    assert "GenerateSecretString" not in secret["Properties"]
    for function in FUNCTIONS:
        assert _environment(template, function)["ACME_ACCOUNT_SECRET_ID"] == {"Ref": "AcmeAccountSecret"}


def test_staging_directory_is_the_default_and_only_https_is_accepted(template: dict[str, Any]) -> None:
    parameter = template["Parameters"]["AcmeDirectoryUrl"]
    assert parameter["Default"] == "https://acme-staging-v02.api.letsencrypt.org/directory"
    pattern = re.compile(parameter["AllowedPattern"])
    assert pattern.fullmatch("https://acme-v02.api.letsencrypt.org/directory")
    assert not pattern.fullmatch("http://acme-v02.api.letsencrypt.org/directory")


def test_the_default_parameters_validate_staging_certificates_against_the_staging_roots(
    template: dict[str, Any],
) -> None:
    # What a first deploy with default parameters hands the functions (samconfig.toml overrides only the
    # directory, with the same staging URL): the built-in staging roots, not certifi's bundle.
    defaults = {name: p.get("Default") for name, p in template["Parameters"].items()}
    assert defaults["IssuerTrustBundle"] == ""
    overrides = tomllib.loads((ROOT / "samconfig.toml").read_text())["default"]["deploy"]["parameters"]
    assert "IssuerTrustBundle" not in overrides["parameter_overrides"]
    settings = load_settings(
        {
            "AWS_REGION": "eu-west-1",
            "ACME_DIRECTORY_URL": defaults["AcmeDirectoryUrl"],
            "ISSUER_TRUST_BUNDLE": defaults["IssuerTrustBundle"],
        }
    )
    assert settings.issuer_trust.source is TrustSource.LETS_ENCRYPT_STAGING


# --- environment --------------------------------------------------------------------------------------

COMMON_VARIABLES = {
    "POWERTOOLS_SERVICE_NAME",
    "POWERTOOLS_METRICS_NAMESPACE",
    "POWERTOOLS_LOG_LEVEL",
    "RENEW_BEFORE_DAYS",
    "RETIREMENT_GRACE_SECONDS",
    "LOAD_BALANCER_REGIONS",
    "EVENT_BUS_NAME",
    "ROTATION_LEASE_SECONDS",
    "ACME_DIRECTORY_URL",
    "ACME_ACCOUNT_SECRET_ID",
    "ACME_EMAIL",
}


@pytest.mark.parametrize("function", FUNCTIONS)
def test_environment_matches_the_contract(template: dict[str, Any], function: str) -> None:
    env = _environment(template, function)
    assert env.keys() >= COMMON_VARIABLES, COMMON_VARIABLES - env.keys()
    assert env["POWERTOOLS_SERVICE_NAME"] == names.SERVICE_NAME_DEFAULT
    assert env["POWERTOOLS_METRICS_NAMESPACE"] == names.METRICS_NAMESPACE_DEFAULT
    parameters = template["Parameters"]
    for variable, value in env.items():
        if isinstance(value, dict) and "Ref" in value and not value["Ref"].startswith("AWS::"):
            target = value["Ref"]
            assert target in parameters or target in template["Resources"], f"{variable} -> {target}"


# --- metrics: alarms and dashboard -------------------------------------------------------------------


def _service_dimension(template: dict[str, Any]) -> list[dict[str, str]]:
    service = template["Globals"]["Function"]["Environment"]["Variables"]["POWERTOOLS_SERVICE_NAME"]
    return [{"Name": "service", "Value": service}]


def _alarm_metrics(props: dict[str, Any]) -> list[dict[str, Any]]:
    """The metrics an alarm watches: its own (Namespace, MetricName, Dimensions), or its metric math's."""
    if "Metrics" not in props:
        return [{k: props[k] for k in ("Namespace", "MetricName", "Dimensions")}]
    return [query["MetricStat"]["Metric"] for query in props["Metrics"] if "MetricStat" in query]


def test_every_certrotate_alarm_names_a_metric_that_is_emitted(template: dict[str, Any]) -> None:
    alarms = _of_type(template["Resources"], "AWS::CloudWatch::Alarm")
    assert alarms
    namespace = template["Globals"]["Function"]["Environment"]["Variables"]["POWERTOOLS_METRICS_NAMESPACE"]
    for name, alarm in alarms.items():
        for metric in _alarm_metrics(alarm["Properties"]):
            if metric["Namespace"].startswith("AWS/"):
                continue
            assert metric["Namespace"] == namespace == names.METRICS_NAMESPACE_DEFAULT, name
            assert metric["MetricName"] in METRIC_NAMES, f"{name}: {metric['MetricName']} is no MetricName"
            # Powertools adds the service dimension; an alarm on another dimension set sees no data.
            assert metric["Dimensions"] == _service_dimension(template), name


def test_every_alarm_notifies_the_topic(template: dict[str, Any]) -> None:
    for name, alarm in _of_type(template["Resources"], "AWS::CloudWatch::Alarm").items():
        props = alarm["Properties"]
        assert props["AlarmActions"] == [{"Ref": "AlarmTopic"}], name
        assert props["OKActions"] == [{"Ref": "AlarmTopic"}], name
        assert "TreatMissingData" in props, name


@pytest.mark.parametrize(
    ("alarm", "metric", "operator"),
    [
        ("CertificateExpiryAlarm", MetricName.MIN_DAYS_TO_EXPIRY, "LessThanThreshold"),
        ("RotationFailedAlarm", MetricName.ROTATION_FAILED, "GreaterThanOrEqualToThreshold"),
        ("ScanMissingAlarm", MetricName.CERTIFICATES_SCANNED, "LessThanThreshold"),
        # A forged or stale bookkeeping tag: nothing acts on it, but someone should look.
        ("ClaimsNotProvenAlarm", MetricName.CLAIMS_NOT_PROVEN, "GreaterThanOrEqualToThreshold"),
        # A rollback's hold is counted here too (the scan lists it in `held`): no alarm of its own.
        ("CertificatesHeldAlarm", MetricName.CERTIFICATES_HELD, "GreaterThanOrEqualToThreshold"),
    ],
)
def test_required_alarms(template: dict[str, Any], alarm: str, metric: MetricName, operator: str) -> None:
    props = template["Resources"][alarm]["Properties"]
    assert props["MetricName"] == metric.value
    assert props["ComparisonOperator"] == operator


def test_expiry_alarm_threshold_is_a_parameter_below_the_renewal_window(template: dict[str, Any]) -> None:
    props = template["Resources"]["CertificateExpiryAlarm"]["Properties"]
    assert props["Threshold"] == {"Ref": "ExpiryAlarmDays"}
    parameters = template["Parameters"]
    # No floor by default (ARI or the lifetime rule decide): the alarm stays below a third of a 45-day life.
    assert parameters["RenewBeforeDays"]["Default"] == ""
    assert parameters["ExpiryAlarmDays"]["Default"] < 45 / 3


def test_scan_missing_alarm_treats_silence_as_breaching(template: dict[str, Any]) -> None:
    props = template["Resources"]["ScanMissingAlarm"]["Properties"]
    assert props["TreatMissingData"] == "breaching"
    assert props["Statistic"] == "SampleCount"  # a scan of zero certificates still counts
    hours = template["Parameters"]["ScanMissingHours"]
    assert props["Period"] * hours["MaxValue"] <= 7 * 86400  # CloudWatch's evaluation range limit
    assert hours["Default"] * 3600 > 86400  # longer than the daily schedule


def test_rotate_function_errors_timeouts_and_throttles_alarm(template: dict[str, Any]) -> None:
    """A rotation killed by its timeout emits no RotationFailed: the function's own Errors (timeouts count
    there) and Throttles alarm instead, within minutes."""
    props = template["Resources"]["RotateErrorsAlarm"]["Properties"]
    watched = {(m["Namespace"], m["MetricName"]): m["Dimensions"] for m in _alarm_metrics(props)}
    rotate = [{"Name": "FunctionName", "Value": {"Ref": "RotateFunction"}}]
    assert watched == {("AWS/Lambda", "Errors"): rotate, ("AWS/Lambda", "Throttles"): rotate}
    [returned] = [q for q in props["Metrics"] if q.get("ReturnData", True)]
    assert returned["Expression"] == "FILL(errors, 0) + FILL(throttles, 0)"
    assert all(q["MetricStat"]["Period"] <= 300 for q in props["Metrics"] if "MetricStat" in q)
    assert props["Threshold"] == 1 and props["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"


def test_rotate_near_timeout_alarm_follows_the_functions_timeout(template: dict[str, Any]) -> None:
    props = template["Resources"]["RotateNearTimeoutAlarm"]["Properties"]
    assert (props["Namespace"], props["MetricName"], props["Statistic"]) == (
        "AWS/Lambda",
        "Duration",
        "Maximum",
    )
    assert props["Dimensions"] == [{"Name": "FunctionName", "Value": {"Ref": "RotateFunction"}}]
    timeout_ms = template["Resources"]["RotateFunction"]["Properties"]["Timeout"] * 1000
    assert props["Threshold"] == 0.9 * timeout_ms
    assert props["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"


def test_dead_letter_queue_alarm_watches_the_dead_letter_queue(template: dict[str, Any]) -> None:
    props = template["Resources"]["DeadLetterQueueAlarm"]["Properties"]
    assert props["Namespace"] == "AWS/SQS"
    assert props["MetricName"] == "ApproximateNumberOfMessagesVisible"
    assert props["Dimensions"] == [
        {"Name": "QueueName", "Value": {"Fn::GetAtt": ["RotationDeadLetterQueue", "QueueName"]}}
    ]
    assert props["Threshold"] == 1 and props["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"


def test_alarm_topic_is_encrypted_with_a_key_cloudwatch_may_use(template: dict[str, Any]) -> None:
    resources = template["Resources"]
    topic = resources["AlarmTopic"]["Properties"]
    # alias/aws/sns would silently drop every alarm notification: CloudWatch cannot use that key.
    assert topic["KmsMasterKeyId"] == {"Ref": "AlarmTopicKey"}
    key = resources["AlarmTopicKey"]["Properties"]
    assert key["EnableKeyRotation"] is True
    cloudwatch = [
        s
        for s in key["KeyPolicy"]["Statement"]
        if s.get("Principal") == {"Service": "cloudwatch.amazonaws.com"}
    ]
    assert cloudwatch and {"kms:Decrypt", "kms:GenerateDataKey*"} <= set(_as_list(cloudwatch[0]["Action"]))
    subscription = resources["AlarmEmailSubscription"]
    assert subscription["Condition"] == "HasAlarmEmail"


# --- rotation failures to the alarm topic ------------------------------------------------------------------

EVENT_SAMPLES = EVENTS / "eventbridge"


def test_the_rotation_failed_rule_is_the_published_pattern_on_the_events_bus(
    template: dict[str, Any],
) -> None:
    rule = template["Resources"]["RotationFailedRule"]
    assert rule["Condition"] == "NotifiesRotationFailures"
    props = rule["Properties"]
    assert props["EventPattern"] == json.loads((EVENT_SAMPLES / "rotation-failed.pattern.json").read_text())
    assert props["EventPattern"] == {
        "source": [names.EVENT_SOURCE],
        "detail-type": [names.EventType.ROTATION_FAILED.value],
    }
    assert props["EventBusName"] == {"Ref": "EventBusName"}
    assert props["Targets"] == [{"Id": "alarm-topic", "Arn": {"Ref": "AlarmTopic"}}]
    assert template["Parameters"]["RotationFailureNotifications"]["Default"] == "true"
    condition = template["Conditions"]["NotifiesRotationFailures"]["Fn::And"]
    assert {"Condition": "HasEventBus"} in condition  # no bus, no events, no rule


def test_the_alarm_topic_lets_the_rule_and_the_alarms_publish(template: dict[str, Any]) -> None:
    resources = template["Resources"]
    policy = resources["AlarmTopicPolicy"]["Properties"]
    assert policy["Topics"] == [{"Ref": "AlarmTopic"}]
    statements = [b for s in policy["PolicyDocument"]["Statement"] for b in _branches(s)]
    by_principal = {json.dumps(s["Principal"], sort_keys=True): s for s in statements}
    events = by_principal[json.dumps({"Service": "events.amazonaws.com"})]
    assert events["Action"] == "sns:Publish"
    # Only this rule: not any rule of any account.
    assert events["Condition"] == {
        "ArnEquals": {"aws:SourceArn": {"Fn::GetAtt": ["RotationFailedRule", "Arn"]}}
    }
    alarms = by_principal[json.dumps({"Service": "cloudwatch.amazonaws.com"})]
    assert alarms["Action"] == "sns:Publish" and "aws:SourceAccount" in alarms["Condition"]["StringEquals"]
    # The topic's key: EventBridge may use it, with no source condition (its KMS calls carry none).
    key_statements = resources["AlarmTopicKey"]["Properties"]["KeyPolicy"]["Statement"]
    [key_events] = [s for s in key_statements if s.get("Principal") == {"Service": "events.amazonaws.com"}]
    assert {"kms:Decrypt", "kms:GenerateDataKey*"} <= set(_as_list(key_events["Action"]))
    assert "Condition" not in key_events


def _matches(pattern: dict[str, Any], event: dict[str, Any]) -> bool:
    """EventBridge's matching for the pattern's kind (exact values of top-level fields)."""
    return all(event.get(field) in values for field, values in pattern.items())


def test_event_samples_are_events_certrotate_puts() -> None:
    """Every sample is an EventBridge event of certrotate's; the rule's pattern picks the failures only. (That
    their fields are exactly the functions': tests/e2e/test_event_samples.py.)"""
    from certrotate.report.events import failure_detail

    pattern = json.loads((EVENT_SAMPLES / "rotation-failed.pattern.json").read_text())
    samples = {
        p.name: json.loads(p.read_text()) for p in EVENT_SAMPLES.glob("*.json") if "pattern" not in p.name
    }
    assert len(samples) >= 6
    kinds = {e.value for e in names.EventType}
    for name, event in samples.items():
        assert event["source"] == names.EVENT_SOURCE and event["detail-type"] in kinds, name
        assert {"version", "id", "account", "time", "region", "resources", "detail"} <= event.keys(), name
        failed = event["detail-type"] == names.EventType.ROTATION_FAILED
        assert _matches(pattern, event) is failed, name
        assert "PRIVATE KEY" not in json.dumps(event)
    # A failure a retry can fix: what failure_detail gives it, no hold; a member account's adds the account.
    transient = failure_detail(("certificate_name", "www"), RuntimeError("boom"), "id")
    assert set(samples["rotation-failed-transient.json"]["detail"]) == set(transient)
    member = samples["member-account-rotation-failed.json"]["detail"]
    assert set(member) == set(transient) | {"fix", "account_id"}


def _dashboards(template: dict[str, Any]) -> list[dict[str, Any]]:
    """The dashboard as each branch of its Fn::Sub variables renders it (single account, many accounts)."""
    body, variables = template["Resources"]["Dashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
    assert isinstance(body, str)
    # Stand-ins for the substitutions: numbers where a number is expected, names elsewhere.
    numeric = {"RenewBeforeDays", "ExpiryAlarmDays"}
    for reference in set(re.findall(r"\$\{([^}!]+)\}", body)):
        target = reference.split(".")[0]
        assert (
            target in variables
            or target in template["Parameters"]
            or target in template["Resources"]
            or target.startswith("AWS::")
        ), f"dashboard refers to unknown {reference}"
    rendered = []
    for branch in (2, 1):  # Fn::If [condition, when true, when false]: single account first
        values = {k: v["Fn::If"][branch] if isinstance(v, dict) else v for k, v in variables.items()}

        def stand_in(match: re.Match[str], values: dict[str, Any] = values) -> str:
            name = match.group(1)
            return str(values[name]) if name in values else "1" if name in numeric else f"sub-{name}"

        rendered.append(json.loads(re.sub(r"\$\{([^}!]+)\}", stand_in, body)))
    return rendered


def _dashboard(template: dict[str, Any]) -> dict[str, Any]:
    return _dashboards(template)[0]


# CloudWatch Metrics Insights: SELECT <stat>(<metric>) FROM <namespace> | SCHEMA(<namespace>, <keys>...) ...
_INSIGHTS = re.compile(r"SELECT \w+\((\w+)\) FROM (?:SCHEMA\(([^)]*)\)|(\S+))")


def _dashboard_metric_names(dashboard: dict[str, Any]) -> tuple[set[str], list[str]]:
    """(CertRotate metric names used, metric math and Metrics Insights expressions)."""
    found: set[str] = set()
    searches: list[str] = []
    for widget in dashboard["widgets"]:
        for row in widget.get("properties", {}).get("metrics", []):
            head = [item for item in row if not isinstance(item, dict)]
            options = [item for item in row if isinstance(item, dict)]
            if head:
                assert "..." not in head and "." not in head, "write metric rows in full"
                if head[0] == names.METRICS_NAMESPACE_DEFAULT:
                    found.add(head[1])
                    assert head[2:4] == ["service", names.SERVICE_NAME_DEFAULT], row
            for option in options:
                expression = option.get("expression")
                if expression:
                    searches.append(expression)
                    for metric in re.findall(r'MetricName="([^"]+)"', expression):
                        found.add(metric)
                    for metric, schema, namespace in _INSIGHTS.findall(expression):
                        source = schema.split(",")[0].strip() if schema else namespace
                        if source == names.METRICS_NAMESPACE_DEFAULT:
                            found.add(metric)
    return found, searches


def test_dashboard_refers_only_to_emitted_metrics(template: dict[str, Any]) -> None:
    used, _searches = _dashboard_metric_names(_dashboard(template))
    assert used <= METRIC_NAMES, used - METRIC_NAMES


def test_dashboard_shows_what_operators_need(template: dict[str, Any]) -> None:
    dashboard = _dashboard(template)
    used, searches = _dashboard_metric_names(dashboard)
    wanted = {
        MetricName.MIN_DAYS_TO_EXPIRY,
        MetricName.DAYS_TO_EXPIRY,
        MetricName.CERTIFICATES_EXPIRING,
        MetricName.CERTIFICATES_PENDING_RETIREMENT,
        MetricName.SERVER_CERTIFICATES,
        MetricName.SERVER_CERTIFICATES_QUOTA,
        MetricName.ROTATION_SUCCEEDED,
        MetricName.ROTATION_FAILED,
        MetricName.ROTATION_DURATION,
    }
    assert {m.value for m in wanted} <= used
    # Per certificate: a SEARCH returns at most 500 series, chosen arbitrarily, and docs speak of 1,000
    # certificates: only Metrics Insights queries that sort every certificate by its fewest days.
    days = MetricName.DAYS_TO_EXPIRY.value
    assert not any("SEARCH(" in s and days in s for s in searches)
    ordered = [s for s in searches if s.startswith(f"SELECT MIN({days})")]
    assert ordered and all("ORDER BY MIN() ASC LIMIT" in s for s in ordered)
    assert all(int(s.rsplit("LIMIT", 1)[1]) <= 500 for s in ordered)  # Metrics Insights returns 500 at most
    logs = [w for w in dashboard["widgets"] if w["type"] == "log"]
    assert logs and "SOURCE 'sub-RotateLogGroup'" in logs[0]["properties"]["query"]
    alarm_widgets = [w for w in dashboard["widgets"] if w["type"] == "alarm"]
    shown = {a for w in alarm_widgets for a in w["properties"]["alarms"]}
    for alarm in _of_type(template["Resources"], "AWS::CloudWatch::Alarm"):
        assert f"sub-{alarm}.Arn" in shown, f"{alarm} is not on the dashboard"


def _emitted_days_to_expiry_dimensions(many_accounts: bool, capsys: pytest.CaptureFixture[str]) -> set[str]:
    """The dimension set report.metrics.emit_scan gives DaysToExpiry (one EMF document per certificate)."""
    from aws_lambda_powertools import Metrics
    from certrotate.report.scan_result import ScanResult

    key = "111111111111:www" if many_accounts else "www"
    result = ScanResult(1, 1, [], [], [], [], [], [], [], {key: 12.0}, 1, 20, dry_run=True)
    emit_scan(
        Metrics(namespace="CertRotate"),
        result,
        namespace="CertRotate",
        service="certrotate",
        many_accounts=many_accounts,
    )
    for line in capsys.readouterr().out.splitlines():
        document = json.loads(line)
        for directive in document["_aws"]["CloudWatchMetrics"]:
            if any(m["Name"] == MetricName.DAYS_TO_EXPIRY for m in directive["Metrics"]):
                return set(directive["Dimensions"][0])
    raise AssertionError("no DaysToExpiry emitted")


def test_the_dashboards_per_certificate_queries_match_what_the_scan_emits(
    template: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    """SCHEMA(...) matches metrics with exactly those dimensions: with MANAGED_ACCOUNTS, DaysToExpiry carries
    AccountId too, and the dashboard's queries switch with it (condition HasManagedAccounts)."""
    single, many = _dashboards(template)
    for dashboard, many_accounts in ((single, False), (many, True)):
        _, expressions = _dashboard_metric_names(dashboard)
        emitted = _emitted_days_to_expiry_dimensions(many_accounts, capsys)
        queries = [e for e in expressions if e.startswith(f"SELECT MIN({MetricName.DAYS_TO_EXPIRY.value})")]
        assert queries
        for query in queries:
            [(_, schema, _)] = _INSIGHTS.findall(query)
            namespace, *keys = (part.strip() for part in schema.split(","))
            assert namespace == names.METRICS_NAMESPACE_DEFAULT
            assert set(keys) == emitted, (many_accounts, keys)
            grouped = query.split("GROUP BY", 1)[1].split("ORDER BY", 1)[0]
            assert {g.strip() for g in grouped.split(",")} == emitted - {"service"}
    condition = template["Conditions"]["HasManagedAccounts"]
    assert condition == {"Fn::Not": [{"Fn::Equals": [{"Ref": "ManagedAccounts"}, ""]}]}


# --- least privilege ----------------------------------------------------------------------------------


def test_no_statement_allows_every_action(template: dict[str, Any]) -> None:
    for statement in _all_statements(template):
        assert "*" not in _as_list(statement.get("Action", [])), statement
        assert "NotAction" not in statement, statement


@pytest.mark.parametrize("function", FUNCTIONS)
def test_function_policies_use_no_service_wide_wildcard(resources: dict[str, Any], function: str) -> None:
    for statement in _function_statements(resources, function):
        for action in _actions(statement):
            _service, _, name = action.partition(":")
            assert name and name != "*", f"{function}: {action}"


# Actions that take no resource-level permission, so "*" is their only possible Resource.
RESOURCE_LESS = {
    "iam:listservercertificates",
    "iam:getaccountsummary",
    "elasticloadbalancing:describeloadbalancers",
    "elasticloadbalancing:describelisteners",
    "elasticloadbalancing:describelistenercertificates",
    "cloudfront:listdistributions",
    "ec2:describeregions",
    "route53:listhostedzones",
    "acm:listcertificates",
    "xray:puttracesegments",  # X-Ray takes no resource (Service Authorization Reference)
    "xray:puttelemetryrecords",
    "elasticloadbalancing:describerules",
    "elasticloadbalancing:describetags",
    "elasticloadbalancing:describeaccountlimits",
}


@pytest.mark.parametrize("function", FUNCTIONS)
def test_star_resource_only_for_actions_that_cannot_be_scoped(
    resources: dict[str, Any], function: str
) -> None:
    for statement in _function_statements(resources, function):
        if "*" in [_resource_text(r) for r in _as_list(statement["Resource"])]:
            assert set(_actions(statement)) <= RESOURCE_LESS, f"{function}: {statement.get('Sid')}"


IAM_WRITES = {
    "iam:uploadservercertificate",
    "iam:tagservercertificate",
    "iam:untagservercertificate",
    "iam:deleteservercertificate",
}


@pytest.mark.parametrize("function", FUNCTIONS)
def test_iam_writes_only_on_server_certificates(resources: dict[str, Any], function: str) -> None:
    for statement in _function_statements(resources, function):
        if IAM_WRITES & set(_actions(statement)):
            for resource in _as_list(statement["Resource"]):
                text = _resource_text(resource)
                assert re.fullmatch(
                    r"arn:\$\{AWS::Partition\}:iam::\$\{AWS::AccountId\}:server-certificate/.*", text
                ), f"{function}: {text}"
        for action in _actions(statement):
            if action.startswith("iam:"):
                assert "servercertificate" in action or action == "iam:getaccountsummary", action


@pytest.mark.parametrize("function", FUNCTIONS)
def test_both_functions_may_list_the_enabled_regions(resources: dict[str, Any], function: str) -> None:
    # Every enabled region is searched before a certificate is deleted (LOAD_BALANCER_REGIONS empty).
    statements = _function_statements(resources, function)
    assert any(
        "ec2:describeregions" in _actions(s) and _as_list(s["Resource"]) == ["*"] for s in statements
    ), function


def test_rotate_can_do_its_job_and_scan_cannot_write_endpoints(resources: dict[str, Any]) -> None:
    rotate = {a for s in _function_statements(resources, "RotateFunction") for a in _actions(s)}
    scan = {a for s in _function_statements(resources, "ScanFunction") for a in _actions(s)}
    assert rotate >= IAM_WRITES
    assert {
        "elasticloadbalancing:modifylistener",
        "elasticloadbalancing:addlistenercertificates",
        "elasticloadbalancing:removelistenercertificates",
        "elasticloadbalancing:setloadbalancerlistenersslcertificate",
        "cloudfront:updatedistribution",
        "route53:changeresourcerecordsets",
    } <= rotate
    writes = re.compile(r"(modify|add|remove|set|update|change|upload|untag)")
    # The scan tags (a renewal time, on managed ACM certificates: test_acm_writes_only_on_...), never more.
    assert not [a for a in scan - {"acm:addtagstocertificate"} if writes.search(a.split(":")[1])], scan
    # The queue of rotations: send only (SQSSendMessagePolicy granted sqs:SendMessage*), that queue only.
    [send] = [
        s
        for s in _function_statements(resources, "ScanFunction")
        if any(a.startswith("sqs:") for a in _actions(s))
    ]
    assert _actions(send) == ["sqs:sendmessage"]
    assert send["Resource"] == {"Fn::GetAtt": ["RotationQueue", "Arn"]}
    # Lambda's SQS poller: receive and delete on the rotation queue only (SAM's managed policy: every queue).
    [poll] = [
        s
        for s in _function_statements(resources, "RotateFunction")
        if any(a.startswith("sqs:") for a in _actions(s))
    ]
    assert sorted(_actions(poll)) == ["sqs:deletemessage", "sqs:getqueueattributes", "sqs:receivemessage"]
    assert poll["Resource"] == {"Fn::GetAtt": ["RotationQueue", "Arn"]}
    for function in FUNCTIONS:
        assert not _policy_templates(resources, function), (
            "no SAM policy templates: the roles are written out"
        )
        assert "ManagedPolicyArns" not in resources[_role_of(resources, function)]["Properties"]


def test_rotate_creates_and_deletes_only_its_own_challenge_rules(resources: dict[str, Any]) -> None:
    statements = {s.get("Sid"): s for s in _function_statements(resources, "RotateFunction")}
    create = statements["ChallengeRulesCreate"]
    assert _actions(create) == ["elasticloadbalancing:createrule"]
    assert create["Condition"]["Null"] == {"aws:RequestTag/certrotate:challenge": "false"}
    assert create["Condition"]["ForAllValues:StringEquals"] == {"aws:TagKeys": ["certrotate:challenge"]}
    tag = statements["ChallengeRulesTagOnCreate"]
    assert tag["Condition"] == {"StringEquals": {"elasticloadbalancing:CreateAction": "CreateRule"}}
    assert "listener-rule/app/*" in _resource_text(tag["Resource"])
    delete = statements["ChallengeRulesDelete"]
    assert _actions(delete) == ["elasticloadbalancing:deleterule"]
    assert delete["Condition"] == {"Null": {"aws:ResourceTag/certrotate:challenge": "false"}}
    scan = {a for s in _function_statements(resources, "ScanFunction") for a in _actions(s)}
    assert not scan & {"elasticloadbalancing:createrule", "elasticloadbalancing:deleterule"}


# UpdateDistribution re-sends a distribution's web ACL and Lambda@Edge associations, and CloudFront checks
# that the caller may use them (docs/deploy.md): read the web ACL, associate each function version.
CLOUDFRONT_ASSOCIATIONS = {
    "wafv2:getwebacl": r"arn:\$\{AWS::Partition\}:wafv2:[^:]+:\$\{AWS::AccountId\}:global/webacl/\*",
    "waf:getwebacl": r"arn:\$\{AWS::Partition\}:waf::\$\{AWS::AccountId\}:webacl/\*",
    "lambda:getfunction": r"arn:\$\{AWS::Partition\}:lambda:us-east-1:\$\{AWS::AccountId\}:function:\*:\*",
    "lambda:enablereplication*": (
        r"arn:\$\{AWS::Partition\}:lambda:us-east-1:\$\{AWS::AccountId\}:function:\*:\*"
    ),
}


def test_rotate_may_update_distributions_with_a_web_acl_or_lambda_at_edge(resources: dict[str, Any]) -> None:
    granted: dict[str, list[str]] = {}
    for statement in _function_statements(resources, "RotateFunction"):
        assert statement["Effect"] == "Allow"
        for action in _actions(statement):
            granted.setdefault(action, []).extend(_resource_text(r) for r in _as_list(statement["Resource"]))
    for action, pattern in CLOUDFRONT_ASSOCIATIONS.items():
        assert granted.get(action), f"RotateFunction lacks {action}"
        for resource in granted[action]:
            assert re.fullmatch(pattern, resource), f"{action} on {resource}"
    # The least that works: nothing that changes a web ACL or a function, drops an association, makes roles.
    assert not [a for a in granted if a.startswith(("wafv2:", "waf:")) and a not in CLOUDFRONT_ASSOCIATIONS]
    assert not [a for a in granted if a.startswith("lambda:") and a not in CLOUDFRONT_ASSOCIATIONS]
    assert "iam:createservicelinkedrole" not in granted
    scan = {a for s in _function_statements(resources, "ScanFunction") for a in _actions(s)}
    assert not scan & set(CLOUDFRONT_ASSOCIATIONS), "the scan only reads distribution configurations"


def test_route53_changes_limited_to_acme_challenge_txt(resources: dict[str, Any]) -> None:
    changes = [
        s
        for s in _function_statements(resources, "RotateFunction")
        if "route53:changeresourcerecordsets" in _actions(s)
    ]
    assert len(changes) == 1
    statement = changes[0]
    assert _actions(statement) == ["route53:changeresourcerecordsets"]
    assert [_resource_text(r) for r in _as_list(statement["Resource"])] == [
        "arn:${AWS::Partition}:route53:::hostedzone/*"
    ]
    condition = statement["Condition"]
    assert condition["ForAllValues:StringLike"] == {
        "route53:ChangeResourceRecordSetsNormalizedRecordNames": ["_acme-challenge.*"]
    }
    equals = condition["ForAllValues:StringEquals"]
    assert equals["route53:ChangeResourceRecordSetsRecordTypes"] == ["TXT"]
    # UPSERT would replace the whole shared set: values added and removed by compare-and-swap only.
    assert set(equals["route53:ChangeResourceRecordSetsActions"]) == {"CREATE", "DELETE"}


def test_secrets_limited_to_the_account_key(resources: dict[str, Any]) -> None:
    for function in FUNCTIONS:
        for statement in _function_statements(resources, function):
            if any(a.startswith("secretsmanager:") for a in _actions(statement)):
                assert function == "RotateFunction"
                texts = [_resource_text(r) for r in _as_list(statement["Resource"])]
                if statement.get("Sid") == "ExternalAccountBindingKeys":
                    # The EAB keys the operator stores: read only, exactly that secret.
                    assert _actions(statement) == ["secretsmanager:getsecretvalue"]
                    assert texts == [
                        "arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:"
                        "${AcmeEabSecretName}-??????"
                    ]
                    continue
                assert len(texts) == 1, "the ACME account key only: leases are in DynamoDB"
                assert texts[0].startswith(
                    "arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:${"
                ), texts[0]
                assert texts[0].endswith("}-??????")  # exactly the named secret, any suffix


# --- leases: a DynamoDB table that costs nothing between rotations ------------------------------------


def test_the_lease_table_is_on_demand_with_ttl_and_no_backups(resources: dict[str, Any]) -> None:
    from certrotate.adapters.lease_table.leases import EXPIRES_ATTRIBUTE, KEY_ATTRIBUTE

    tables = _of_type(resources, "AWS::DynamoDB::Table")
    assert list(tables) == ["LeaseTable"]
    table = tables["LeaseTable"]
    props = table["Properties"]
    assert props["BillingMode"] == "PAY_PER_REQUEST"  # nothing provisioned: no cost while idle
    assert props["KeySchema"] == [{"AttributeName": KEY_ATTRIBUTE, "KeyType": "HASH"}]
    assert props["AttributeDefinitions"] == [{"AttributeName": KEY_ATTRIBUTE, "AttributeType": "S"}]
    assert props["TimeToLiveSpecification"] == {"AttributeName": EXPIRES_ATTRIBUTE, "Enabled": True}
    assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": False}
    assert "TableName" not in props, "a generated name: two stacks in one account never share leases"
    skipped = {s["id"]: s["comment"] for s in table["Metadata"]["checkov"]["skip"]}
    assert set(skipped) == {"CKV_AWS_28", "CKV_AWS_119"} and all(len(c) > 40 for c in skipped.values())


def test_only_the_rotation_writes_leases_and_the_scan_only_its_index(
    template: dict[str, Any], resources: dict[str, Any]
) -> None:
    for function in FUNCTIONS:
        statements = [
            s
            for s in _function_statements(resources, function)
            if any(a.startswith("dynamodb:") for a in _actions(s))
        ]
        assert not any(k.startswith("DynamoDB") for k in _policy_templates(resources, function))
        assert _environment(template, function)["LEASE_TABLE_NAME"] == {"Ref": "LeaseTable"}
        assert all(s["Resource"] == {"Fn::GetAtt": ["LeaseTable", "Arn"]} for s in statements)
        if function == "ScanFunction":
            # The scan index item (read and written) and progress records (read only): key prefixes that no
            # certificate name (a lease's key) can have.
            index, progress = statements
            assert sorted(_actions(index)) == ["dynamodb:getitem", "dynamodb:putitem"]
            assert index["Condition"] == {
                "ForAllValues:StringLike": {"dynamodb:LeadingKeys": [f"{INDEX_KEY_PREFIX}*"]}
            }
            assert _actions(progress) == ["dynamodb:getitem"]
            assert progress["Condition"] == {
                "ForAllValues:StringLike": {"dynamodb:LeadingKeys": [f"{PROGRESS_KEY_PREFIX}*"]}
            }
            assert not re.fullmatch(r"[\w+=,.@-]+", PROGRESS_KEY_PREFIX + "x")
            assert not re.fullmatch(r"[\w+=,.@-]+", INDEX_KEY_PREFIX + "x")
            continue
        leases, index, progress, challenges, issued, batches, account = statements
        # The rotation reads the scan index (where the scan's search saw a certificate served): GetItem of the
        # index's items only, never a write to them.
        assert _actions(index) == ["dynamodb:getitem"]
        assert index["Condition"] == {
            "ForAllValues:StringLike": {"dynamodb:LeadingKeys": [f"{INDEX_KEY_PREFIX}*"]}
        }
        assert sorted(_actions(leases)) == ["dynamodb:deleteitem", "dynamodb:putitem", "dynamodb:updateitem"]
        # Leases only: lease keys (a certificate's name, <account>:<name>, an ARN), never an item of another
        # kind ("#scan-index...", "#<kind>:..."): those start with "#", which no lease key can.
        assert leases["Condition"] == {"ForAllValues:StringNotLike": {"dynamodb:LeadingKeys": ["#*"]}}
        # Its own progress records, and the one-ACME-account record: each kind by its own prefix.
        assert sorted(_actions(progress)) == ["dynamodb:deleteitem", "dynamodb:getitem", "dynamodb:putitem"]
        assert progress["Condition"] == {
            "ForAllValues:StringLike": {"dynamodb:LeadingKeys": [f"{PROGRESS_KEY_PREFIX}*"]}
        }
        # The DNS-01 values written down before they are published, and the certificate kept until stored.
        assert sorted(_actions(challenges)) == [
            "dynamodb:deleteitem",
            "dynamodb:getitem",
            "dynamodb:updateitem",
        ]
        assert challenges["Condition"] == {
            "ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["#challenges:*"]}
        }
        assert sorted(_actions(issued)) == ["dynamodb:deleteitem", "dynamodb:getitem", "dynamodb:putitem"]
        assert issued["Condition"] == {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["#issued:*"]}}
        # Where rotations publishing in one hosted zone at the same time meet (order/dns_batching.py):
        # the zone's open batch and each batch's status, read and written conditionally; never deleted
        # (TTL tidies).
        assert sorted(_actions(batches)) == ["dynamodb:getitem", "dynamodb:putitem", "dynamodb:updateitem"]
        assert batches["Condition"] == {
            "ForAllValues:StringLike": {"dynamodb:LeadingKeys": [f"{DNS_BATCH_KEY_PREFIX}*"]}
        }
        assert _actions(account) == ["dynamodb:putitem"]
        assert account["Condition"] == {
            "ForAllValues:StringEquals": {"dynamodb:LeadingKeys": ["#acme-account"]}
        }
    others = [
        s
        for s in _all_statements(template)
        if any(a.lower().startswith("dynamodb:") for a in _as_list(s.get("Action", [])))
        and s["Effect"] == "Allow"
    ]
    assert len(others) == 9, "no other policy in the template grants anything of DynamoDB"


# Every DynamoDB action that writes an item (Service Authorization Reference, Amazon DynamoDB):
# TransactWriteItems is authorised as the PutItem/UpdateItem/DeleteItem it holds.
ITEM_WRITES = {
    "dynamodb:putitem",
    "dynamodb:updateitem",
    "dynamodb:deleteitem",
    "dynamodb:batchwriteitem",
    "dynamodb:partiqlinsert",
    "dynamodb:partiqlupdate",
    "dynamodb:partiqldelete",
}


def test_the_lease_table_denies_item_writes_to_every_principal_but_the_functions_roles(
    resources: dict[str, Any],
) -> None:
    policy = resources["LeaseTable"]["Properties"]["ResourcePolicy"]["PolicyDocument"]
    [deny] = _as_list(policy["Statement"])
    assert deny["Effect"] == "Deny" and deny["Principal"] == "*" and deny["Resource"] == "*"
    assert set(_actions(deny)) == ITEM_WRITES
    # The roles by ARN (a session's aws:PrincipalArn is its role's), and the break-glass role when named.
    assert deny["Condition"] == {
        "ArnNotEquals": {
            "aws:PrincipalArn": [
                {"Fn::GetAtt": ["ScanFunctionRole", "Arn"]},
                {"Fn::GetAtt": ["RotateFunctionRole", "Arn"]},
                {
                    "Fn::If": [
                        "HasLeaseTableOperator",
                        {"Ref": "LeaseTableOperatorArn"},
                        {"Ref": "AWS::NoValue"},
                    ]
                },
            ]
        }
    }
    # Every item write a function is granted is one the table policy guards.
    for function in FUNCTIONS:
        for statement in _function_statements(resources, function):
            if statement.get("Resource") == {"Fn::GetAtt": ["LeaseTable", "Arn"]}:
                writes = {a for a in _actions(statement) if a not in ("dynamodb:getitem",)}
                assert writes <= ITEM_WRITES, writes


def test_the_roles_do_not_name_the_table_that_names_them(resources: dict[str, Any]) -> None:
    # The table's policy names the roles: a role naming the table would be a cycle CloudFormation refuses.
    # Their table statements are policies of their own, which the functions wait for (DependsOn).
    for function in FUNCTIONS:
        role = _role_of(resources, function)
        assert "LeaseTable" not in json.dumps(resources[role]), role
        [policy] = [
            logical_id
            for logical_id, r in resources.items()
            if r["Type"] == "AWS::IAM::Policy"
            and {"Ref": role} in r["Properties"]["Roles"]
            and "LeaseTable" in json.dumps(r)
        ]
        assert resources[function]["DependsOn"] == policy


def test_no_lease_secrets_remain(template: dict[str, Any]) -> None:
    text = json.dumps(template)
    assert "LeaseSecretPrefix" not in text and "LEASE_SECRET_PREFIX" not in text and "/lease/" not in text


@pytest.mark.parametrize("function", FUNCTIONS)
def test_events_only_with_certrotate_source(resources: dict[str, Any], function: str) -> None:
    puts = [s for s in _function_statements(resources, function) if "events:putevents" in _actions(s)]
    assert len(puts) == 1
    assert puts[0]["Condition"] == {"StringEquals": {"events:source": names.EVENT_SOURCE}}
    assert "event-bus/${EventBusName}" in _resource_text(puts[0]["Resource"])


# --- logs and outputs ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("function", "group"), [("ScanFunction", "ScanLogGroup"), ("RotateFunction", "RotateLogGroup")]
)
def test_each_function_has_a_log_group_with_retention(
    resources: dict[str, Any], function: str, group: str
) -> None:
    props = resources[group]["Properties"]
    assert props["LogGroupName"] == {"Fn::Sub": f"/aws/lambda/${{{function}}}"}
    assert props["RetentionInDays"] == {"Ref": "LogRetentionDays"}


def test_outputs(template: dict[str, Any]) -> None:
    assert {
        "ScanFunctionName",
        "ScanFunctionArn",
        "RotateFunctionName",
        "RotateFunctionArn",
        "RotationQueueUrl",
        "RotationDeadLetterQueueUrl",
        "AlarmTopicArn",
        "DashboardName",
        "AcmeAccountSecretArn",
    } <= template["Outputs"].keys()


# --- sample events and samconfig --------------------------------------------------------------------


def _event(name: str) -> Any:
    return json.loads((EVENTS / name).read_text())


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("rotate-direct.json", {}),
        ("rotate-force.json", {"force": True}),
        ("rotate-dry-run.json", {"dry_run": True}),
    ],
)
def test_direct_rotate_events_follow_the_contract(name: str, expected: dict[str, bool]) -> None:
    event = _event(name)
    assert set(event) <= {"certificate_name", "force", "dry_run"}
    assert re.fullmatch(r"[\w+=,.@-]{1,128}", event["certificate_name"])
    for key in ("force", "dry_run"):
        assert event.get(key, False) is expected.get(key, False)


def test_sqs_event_is_a_fifo_record_for_one_certificate() -> None:
    records = _event("rotate-sqs.json")["Records"]
    assert len(records) == 1
    record = records[0]
    assert record["eventSource"] == "aws:sqs"
    assert record["eventSourceARN"].endswith(".fifo")
    body = json.loads(record["body"])
    assert body == {
        "certificate_name": "www-example-com",
        "reason": "expiring",
        "days_to_expiry": 12,
        "correlation_id": "8d3b1e52-7c4f-4a8e-9f21-6b0e3c5d7a94",  # the scan's, as the scan sends it
    }
    attributes = record["attributes"]
    assert attributes["MessageGroupId"] == body["certificate_name"]
    assert attributes["MessageDeduplicationId"]


def test_scan_events() -> None:
    scheduled = _event("scheduled.json")
    assert scheduled["detail-type"] == "Scheduled Event" and scheduled["source"] == "aws.events"
    assert _event("scan-dry-run.json") == {"dry_run": True}
    assert _event("scan-refresh-tags.json") == {"refresh_tags": True}
    assert parse_scan_request(_event("scan-refresh-tags.json")).refresh_tags


def test_samconfig_deploys_the_staging_directory_with_review() -> None:
    config = tomllib.loads((ROOT / "samconfig.toml").read_text())
    deploy = config["default"]["deploy"]["parameters"]
    assert deploy["stack_name"] == "certrotate"
    assert deploy["resolve_s3"] is True
    assert deploy["capabilities"] == "CAPABILITY_IAM"
    assert deploy["confirm_changeset"] is True
    assert "acme-staging-v02" in deploy["parameter_overrides"]
    assert config["default"]["validate"]["parameters"]["lint"] is True


ACM_CERTIFICATES = r"arn:\$\{AWS::Partition\}:acm:\*:\$\{AWS::AccountId\}:certificate/\*"
ACM_WRITES = {"acm:importcertificate", "acm:addtagstocertificate", "acm:removetagsfromcertificate"}


@pytest.mark.parametrize("function", FUNCTIONS)
def test_acm_writes_only_on_certificates_tagged_managed(resources: dict[str, Any], function: str) -> None:
    writes: set[str] = set()
    for statement in _function_statements(resources, function):
        acm = [a for a in _actions(statement) if a.startswith("acm:")]
        if acm and acm != ["acm:listcertificates"]:
            for resource in _as_list(statement["Resource"]):
                assert re.fullmatch(ACM_CERTIFICATES, _resource_text(resource)), statement.get("Sid")
        if ACM_WRITES & set(acm):
            writes |= ACM_WRITES & set(acm)
            # Any case of "true", as model/certificates.py counts it (operators who tagged "True" keep their
            # rotations).
            condition = statement["Condition"]["StringEqualsIgnoreCase"]
            assert condition == {"aws:ResourceTag/certrotate:managed": "true"}, statement.get("Sid")
    if function == "RotateFunction":
        assert writes == ACM_WRITES
    else:  # the scan only records the renewal time it learnt
        assert writes == {"acm:addtagstocertificate"}
