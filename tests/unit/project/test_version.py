"""One version, and what publishing needs: certrotate.__version__ is what pyproject, the template (the
Serverless Application Repository's SemanticVersion and the Version output), the user agent and the changelog
say; the SAR and PyPI metadata hold what those registries require; pyproject's ranges are the layer's.

`make dist-check` builds the packages and runs `twine check`; this checks what twine cannot."""

from __future__ import annotations

import json
import re
import tomllib
from typing import Any

import certrotate
import jsonschema
import pytest
from certrotate import wiring
from packaging.requirements import Requirement

from tests.cfn import load_template
from tests.paths import ROOT

# Semantic Versioning 2.0.0's own regular expression (semver.org), which SAR's SemanticVersion follows.
SEMVER = re.compile(
    r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?"
    r"(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$"
)
FIVE_MB = 5 * 1024 * 1024


@pytest.fixture(scope="module")
def pyproject() -> dict[str, Any]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return load_template()


@pytest.fixture(scope="module")
def sar(template: dict[str, Any]) -> dict[str, Any]:
    metadata: dict[str, Any] = template["Metadata"]["AWS::ServerlessRepo::Application"]
    return metadata


def test_the_version_is_semantic() -> None:
    assert SEMVER.match(certrotate.__version__), certrotate.__version__


def test_pyproject_reads_the_packages_version(pyproject: dict[str, Any]) -> None:
    project = pyproject["project"]
    assert "version" not in project, "a second copy: pyproject must read certrotate.__version__"
    assert "version" in project["dynamic"]
    assert pyproject["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "certrotate.__version__"}
    # The attribute setuptools reads is the file the layer ships.
    package_dir = pyproject["tool"]["setuptools"]["package-dir"]["certrotate"]
    assert (ROOT / package_dir / "__init__.py").resolve() == ROOT.joinpath(certrotate.__file__).resolve()


def test_the_template_says_the_same_version(sar: dict[str, Any], template: dict[str, Any]) -> None:
    assert sar["SemanticVersion"] == certrotate.__version__
    assert template["Outputs"]["Version"]["Value"] == certrotate.__version__


def test_the_user_agent_names_the_version() -> None:
    from certrotate.adapters.acme import keys as acme

    assert f"certrotate/{certrotate.__version__}" == certrotate.USER_AGENT
    assert wiring.BOTO_CONFIG.user_agent_extra == certrotate.USER_AGENT
    assert acme.USER_AGENT.startswith(f"{certrotate.USER_AGENT} ")


def test_the_changelog_describes_this_version_first() -> None:
    changelog = (ROOT / "CHANGELOG.md").read_text()
    versions = re.findall(r"^## \[([^\]]+)\]", changelog, flags=re.MULTILINE)
    assert versions and versions[0] == certrotate.__version__, versions[:1]
    releases = [tuple(int(part) for part in v.split(".")) for v in versions]
    assert releases == sorted(releases, reverse=True), "newest first, no release twice"
    for version in versions:  # Keep a Changelog: every heading links to its diff
        assert re.search(rf"^\[{re.escape(version)}\]: https://\S+$", changelog, flags=re.MULTILINE), version


# --- the Serverless Application Repository ----------------------------------------------------------------
# Constraints from the SAM developer guide ("AWS SAM template Metadata section properties") and the SAR API.


SAR_SCHEMA = json.loads((ROOT / "scripts/cfnlint_rules/serverlessrepo-application.schema.json").read_text())


def _sar_problems(metadata: dict[str, Any]) -> list[str]:
    return [error.message for error in jsonschema.Draft7Validator(SAR_SCHEMA).iter_errors(metadata)]


def test_sar_metadata_has_what_publishing_requires(sar: dict[str, Any]) -> None:
    """The schema cfn-lint's rule E9101 checks in `make template-lint`, checked here too (in seconds)."""
    assert _sar_problems(sar) == []
    # "AWS CloudFormation intrinsic functions aren't supported by the AWS::ServerlessRepo::Application key."
    assert all(isinstance(value, str | list) for value in sar.values()), sar


@pytest.mark.parametrize(
    "change",
    [
        {"Author": "Certrotate Maintainers"},  # lower case, digits and single hyphens only
        {"Name": "cert rotate"},
        {"Description": "x" * 257},
        {"Labels": [f"label{n}" for n in range(11)]},
        {"SemanticVersion": "0.3"},
        {"SemanticVersion": {"Ref": "Version"}},
        {"HomePageUrl": "http://example.com"},
    ],
)
def test_sar_schema_refuses_what_sar_refuses(sar: dict[str, Any], change: dict[str, Any]) -> None:
    assert _sar_problems({**sar, **change})


def test_sar_licence_and_readme_are_files_that_sam_package_can_upload(
    sar: dict[str, Any], pyproject: dict[str, Any]
) -> None:
    assert sar["SpdxLicenseId"] == pyproject["project"]["license"] == "Apache-2.0"
    assert "Apache License" in (ROOT / sar["LicenseUrl"]).read_text()
    assert pyproject["project"]["license-files"] == [sar["LicenseUrl"]]
    assert sar["ReadmeUrl"] == pyproject["project"]["readme"]
    for local in (sar["LicenseUrl"], sar["ReadmeUrl"]):
        assert 0 < (ROOT / local).stat().st_size <= FIVE_MB, local


def test_sar_and_pypi_point_to_the_same_source(sar: dict[str, Any], pyproject: dict[str, Any]) -> None:
    urls = pyproject["project"]["urls"]
    assert sar["SourceCodeUrl"] == urls["Source"]
    assert sar["HomePageUrl"] == urls["Homepage"]
    published = (*urls.values(), sar["SourceCodeUrl"], sar["HomePageUrl"])
    assert all(url.startswith("https://") for url in published)


# --- PyPI -------------------------------------------------------------------------------------------------


def test_pypi_metadata_is_complete(pyproject: dict[str, Any]) -> None:
    project = pyproject["project"]
    assert project["readme"] == "README.md"
    assert {"Homepage", "Source", "Changelog", "Issues"} <= project["urls"].keys()
    assert project["keywords"] and project["description"]
    assert "Programming Language :: Python :: 3.11" in project["classifiers"]
    # A licence expression and a "License ::" classifier together are refused by setuptools (PEP 639).
    assert not any(c.startswith("License ::") for c in project["classifiers"])


def _requirements(lines: list[str]) -> dict[str, Requirement]:
    parsed = [Requirement(line.split("#", 1)[0].strip()) for line in lines if line.split("#", 1)[0].strip()]
    return {requirement.name.lower(): requirement for requirement in parsed}


def test_pyproject_ranges_are_the_layers(pyproject: dict[str, Any]) -> None:
    layer = _requirements((ROOT / "layers/certrotate/requirements.in").read_text().splitlines())
    package = _requirements(pyproject["project"]["dependencies"])
    for name, wanted in layer.items():
        assert name in package, f"{name} is in the layer's requirements.in, not in pyproject"
        found = package[name]
        assert (found.specifier, found.extras) == (wanted.specifier, wanted.extras), (
            f"{name}: pyproject says {found}, the layer {wanted}"
        )
    # What pyproject adds beside the layer is the command line's own (rich: its tables; dnspython: doctor's
    # CAA lookups).
    assert set(package) - set(layer) == {"rich", "dnspython"}
