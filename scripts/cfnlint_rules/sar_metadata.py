"""cfn-lint rule E9101: the Serverless Application Repository metadata (AWS::ServerlessRepo::Application) is
what `sam package` and `sam publish` accept. cfn-lint has no schema for it; this rule checks it against
serverlessrepo-application.schema.json (beside this file) and checks that the local licence and readme it
names exist within SAR's 5 MB. scripts/lint-template.sh runs it:
`cfn-lint --append-rules scripts/cfnlint_rules -- template.yaml`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
from cfnlint.rules import CloudFormationLintRule, RuleMatch

SCHEMA = json.loads((Path(__file__).with_name("serverlessrepo-application.schema.json")).read_text())
KEY = "AWS::ServerlessRepo::Application"
MAX_BYTES = 5 * 1024 * 1024


class ServerlessRepoApplication(CloudFormationLintRule):
    id = "E9101"
    shortdesc = "Serverless Application Repository metadata"
    description = "AWS::ServerlessRepo::Application holds what sam package and sam publish accept"
    source_url = "https://docs.aws.amazon.com/serverless-application-model/latest/developerguide/serverless-sam-template-publishing-applications-metadata-properties.html"
    tags = ["metadata", "serverlessrepo"]

    def match(self, cfn: Any) -> list[RuleMatch]:
        metadata = cfn.template.get("Metadata", {})
        if KEY not in metadata:
            return [RuleMatch(["Metadata"], f"Metadata has no {KEY}: the application cannot be published")]
        application = metadata[KEY]
        matches = [
            RuleMatch(["Metadata", KEY, *error.absolute_path], f"{KEY}: {error.message}")
            for error in jsonschema.Draft7Validator(SCHEMA).iter_errors(application)
        ]
        here = Path(cfn.filename).resolve().parent if cfn.filename else Path.cwd()
        for field in ("LicenseUrl", "ReadmeUrl"):
            value = application.get(field) if isinstance(application, dict) else None
            if not isinstance(value, str) or value.startswith("s3://"):
                continue
            local = here / value
            if not local.is_file() or not 0 < local.stat().st_size <= MAX_BYTES:
                matches.append(
                    RuleMatch(["Metadata", KEY, field], f"{field} {value}: no file of 1 byte to 5 MB there")
                )
        return matches
