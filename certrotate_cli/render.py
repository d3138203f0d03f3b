"""Output for people (a compact `rich` table, coloured in a terminal) and for scripts (JSON)."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Sequence
from typing import IO, Any

from certrotate.decide.policies import Verdict
from certrotate.report.served import CheckResult, CheckStatus
from rich.console import Console
from rich.table import Table
from rich.text import Text

from certrotate_cli.inventory import AcmStatus, CertificateStatus, Inventory, Serving

VERDICT_LABELS = {
    Verdict.ISSUE: ("rotate", "bold yellow"),
    Verdict.RESUME: ("finish rotation", "yellow"),
    Verdict.NOT_DUE: ("not due", "green"),
    Verdict.RATE_LIMITED: ("held", "bold red"),
    Verdict.ROLLED_BACK: ("rolled back: held", "bold red"),
}


def console(file: IO[str] | None, *, color: bool) -> Console:
    # Into a pipe or file: wide enough for a table of long names (a terminal gives its own width).
    target = file or sys.stdout
    width = None if target.isatty() else int(os.environ.get("COLUMNS") or 180)
    return Console(file=file, no_color=not color, highlight=False, soft_wrap=True, width=width)


def print_json(document: Any, file: IO[str] | None) -> None:
    text = json.dumps(document, indent=2, default=str)
    if file is None:
        print(text)
    else:
        file.write(text + "\n")


# -- status -------------------------------------------------------------------------------------------------


def _days(status: CertificateStatus, renew_before: int | None) -> Text:
    days = status.days_to_expiry
    style = "bold red" if days < 7 else "yellow" if days < (renew_before or 30) else "green"
    return Text(f"{days:.1f}", style=style)


def _next(status: CertificateStatus | AcmStatus) -> Text:
    if status.decision is None:
        return Text("-", style="dim")
    label, style = VERDICT_LABELS.get(status.decision.verdict, (status.decision.verdict.value, "bold red"))
    text = Text(label, style=style)
    text.append(f"\n{status.decision_source}", style="dim")
    return text


def _retirement(status: CertificateStatus) -> Text:
    if status.retirement is None:
        return Text("")
    text = Text(f"replaced by {status.certificate.replaced_by}\n")
    text.append(status.retirement.verdict.value, style="dim")
    return text


def serving_line(serving: Serving) -> str:
    port = serving.address.rsplit(":", 1)[-1] if serving.address else "?"
    if serving.kind == "cloudfront":
        return f"cloudfront {serving.load_balancer}"
    return f"{serving.kind} {serving.load_balancer}:{port} {serving.role} {serving.region}"


def _certificate_table(title: str) -> Table:
    """The columns `status` shows for every store; a store adds its own after them."""
    table = Table(title=title, title_justify="left", pad_edge=False, box=None, header_style="bold")
    table.add_column("", width=1)
    table.add_column("certificate", no_wrap=True)
    table.add_column("names")
    table.add_column("days", justify="right")
    table.add_column("managed")
    table.add_column("next")
    return table


def status_table(inventory: Inventory, out: Console) -> None:
    renew_before = inventory.settings.renew_before_days
    table = _certificate_table(
        f"IAM server certificates ({inventory.now:%Y-%m-%d %H:%M} UTC; settings: {inventory.settings_source})"
    )
    table.add_column("retirement")
    table.add_column("served by", no_wrap=True)
    for status in inventory.statuses:
        cert = status.certificate
        name = Text(cert.name)
        if cert.path != "/":
            name.append(f"\n{cert.path}", style="dim")
        table.add_row(
            Text("!", style="bold red") if status.attention else Text(""),
            name,
            "\n".join(status.dns_names),
            _days(status, renew_before),
            Text("yes", style="green") if cert.managed else Text("no", style="dim"),
            _next(status),
            _retirement(status),
            "\n".join(serving_line(s) for s in status.serving) or Text("-", style="dim"),
        )
    out.print(table)
    if inventory.acm:
        out.print()
        acm_table(inventory, out)
    for note in inventory.notes:
        out.print(Text(f"note: {note}", style="yellow"))
    attention = inventory.needing_attention
    if attention:
        out.print()
        out.print(Text(f"{len(attention)} certificate(s) need a person:", style="bold red"))
        for needing in attention:
            label = needing.name if isinstance(needing, CertificateStatus) else needing.arn
            for reason in needing.attention:
                out.print(f"  ! {label}: {reason}")
    else:
        out.print(Text("\nnothing needs a person", style="green"))


def acm_table(inventory: Inventory, out: Console) -> None:
    table = _certificate_table(
        "ACM imported certificates (re-imported in place: same ARN, every association kept)"
    )
    for status in inventory.acm:
        table.add_row(
            Text("!", style="bold red") if status.attention else Text(""),
            Text(status.arn.split(":certificate/")[-1]) + Text(f"\n{status.certificate.region}", style="dim"),
            "\n".join(status.dns_names),
            Text(f"{status.days_to_expiry:.1f}"),
            Text("yes", style="green") if status.decision is not None else Text("no", style="dim"),
            _next(status),
        )
    out.print(table)


def status_json(inventory: Inventory) -> dict[str, Any]:
    return {
        "generated_at": inventory.now.isoformat(),
        "settings": {
            "source": inventory.settings_source,
            "renew_before_days": inventory.settings.renew_before_days,
            "retirement_grace_seconds": inventory.settings.retirement_grace_seconds,
            "regions": list(inventory.settings.load_balancer_regions),
        },
        "certificates": [s.as_dict() for s in inventory.statuses],
        "acm_certificates": [a.as_dict() for a in inventory.acm],
        "notes": inventory.notes,
        "needs_attention": [
            s.name if isinstance(s, CertificateStatus) else s.arn for s in inventory.needing_attention
        ],
    }


# -- verify -------------------------------------------------------------------------------------------------

CHECK_STYLES = {
    CheckStatus.OK: "green",
    CheckStatus.OTHER_MATCH: "green",
    CheckStatus.WRONG_CERTIFICATE: "bold red",
    CheckStatus.WRONG_CHAIN: "bold red",
    CheckStatus.UNREACHABLE: "yellow",
}


def verify_table(results: Sequence[CheckResult], out: Console) -> None:
    table = Table(box=None, pad_edge=False, header_style="bold", title_justify="left")
    table.add_column("certificate", no_wrap=True)
    table.add_column("endpoint", no_wrap=True)
    table.add_column("SNI", no_wrap=True)
    table.add_column("result", no_wrap=True)
    table.add_column("served", no_wrap=True)
    table.add_column("detail")
    for result in results:
        served = (
            f"{result.served_name or '?'} {result.served_serial[:12]}… {result.served_not_after:%Y-%m-%d}"
            if result.served_serial and result.served_not_after
            else "-"
        )
        ok = result.status in (CheckStatus.OK, CheckStatus.OTHER_MATCH)
        table.add_row(
            result.expected,
            result.endpoint,
            result.server_name,
            Text(result.status.value, style=CHECK_STYLES[result.status]),
            served,
            "" if result.status is CheckStatus.OK else result.detail,
            style=None if ok else "red",
        )
    out.print(table)
    bad = [r for r in results if r.status.is_mismatch or r.status is CheckStatus.UNREACHABLE]
    if not results:
        out.print("no endpoint serves it: nothing to verify")
    elif bad:
        out.print(
            Text(f"{len(bad)} of {len(results)} handshake(s) did not serve what IAM says", style="bold red")
        )
    else:
        out.print(Text(f"all {len(results)} handshake(s) serve what IAM says", style="green"))
