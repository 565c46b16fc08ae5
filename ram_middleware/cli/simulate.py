"""``ram simulate``: the policy simulator — the decision and the statement that decided it.

For a user (their own and their groups' policies) or a role session (optionally narrowed by a session
policy), any action and resource, with the source IP, time and any other condition keys the request would
carry. Locally it is :meth:`RamService.simulate`, the request path's own evaluation; remotely the same
evaluator runs over the policies the RAM API reports.
"""

from __future__ import annotations

import ipaddress
import json
from datetime import UTC, datetime
from typing import IO, Any

import click

from .. import errors
from ..context import format_time
from ..organisation import ACCOUNT_PLACEHOLDER
from ..policy import Decision
from . import main
from .backend import Backend, Subject, backend_command
from .output import Output
from .policies import read_document

__all__ = ["deciding_statement", "decision_api", "simulate"]


def deciding_statement(decision: Decision) -> Any:
    """The JSON of the statement that decided (or nearly matched), or None."""
    if decision.policy is None or decision.statement_index is None:
        return None
    statements = json.loads(decision.policy.policy.source).get("Statement")
    if isinstance(statements, dict):
        statements = [statements]
    index = decision.statement_index
    return statements[index] if isinstance(statements, list) and 0 <= index < len(statements) else None


def decision_api(decision: Decision) -> dict[str, Any]:
    """A decision as JSON: effect, reason, and the deciding policy and statement."""
    policy = decision.policy
    return {
        "Effect": decision.effect,
        "Reason": decision.reason,
        "Policy": None
        if policy is None
        else {
            "PolicyName": policy.name,
            "PolicyType": policy.policy_type,
            "Version": policy.version,
            "AttachedTo": f"{policy.attached_to} {policy.attached_name}".strip(),
        },
        "StatementIndex": decision.statement_index,
        "Statement": deciding_statement(decision),
    }


def _time(text: str | None) -> str:
    if text is None:
        return format_time(datetime.now(UTC))
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise errors.InvalidParameter(
            "Time", "--time must be ISO 8601, e.g. 2024-06-04T10:00:00+08:00."
        ) from None
    # A time without a zone is taken as UTC, as acs:CurrentTime is.
    return format_time(moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC))


def _context(source_ip: str | None, when: str | None, extra: tuple[str, ...]) -> dict[str, object]:
    context: dict[str, object] = {"acs:CurrentTime": _time(when), "acs:SecureTransport": "true"}
    if source_ip is not None:
        try:
            context["acs:SourceIp"] = str(ipaddress.ip_address(source_ip))
        except ValueError:
            raise errors.InvalidParameter("SourceIp", f"Not an IP address: {source_ip[:64]!r}.") from None
    for item in extra:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise errors.InvalidParameter("Context", f"--context takes KEY=VALUE, got {item[:64]!r}.")
        context[key] = value
    return context


@main.command("simulate")
@click.option("--user", default=None, help="Simulate for this RAM user.")
@click.option("--role", default=None, help="Simulate for a session of this role.")
@click.option(
    "--session-policy", type=click.File("r"), default=None, help="Session policy of the role session."
)
@click.option("--action", required=True, help="The action, e.g. oss:GetObject.")
@click.option("--resource", required=True, help="The resource ARN; ${AccountId} means this account.")
@click.option("--source-ip", default=None, help="acs:SourceIp of the request.")
@click.option("--time", "when", default=None, help="acs:CurrentTime, ISO 8601 (default: now).")
@click.option("--context", "extra", multiple=True, help="Another condition key, KEY=VALUE (repeatable).")
@backend_command
def simulate(
    out: Output,
    backend: Backend,
    user: str | None,
    role: str | None,
    session_policy: IO[str] | None,
    action: str,
    resource: str,
    source_ip: str | None,
    when: str | None,
    extra: tuple[str, ...],
) -> None:
    """Would this request be allowed? Prints the decision and the statement that decided it."""
    if bool(user) == bool(role):
        raise click.UsageError("Name exactly one of --user or --role.")
    if session_policy is not None and not role:
        raise click.UsageError("--session-policy applies to --role.")
    policy_text = None if session_policy is None else read_document(session_policy, "session")[0]
    subject = Subject("user", user) if user else Subject("role", str(role), policy_text)
    resource = resource.replace(ACCOUNT_PLACEHOLDER, backend.account_id)
    context = _context(source_ip, when, extra)
    decision = backend.simulate(subject, action, resource, context)
    body = decision_api(decision)
    if out.json_output:
        out.data({**body, "Request": {"Action": action, "Resource": resource, "Context": context}})
        return
    out.say(f"Decision:  {decision.effect}")
    policy = body["Policy"]
    if policy is not None:
        kind = (
            "Deciding statement"
            if decision.effect != "ImplicitDeny"
            else "Nearest statement (a condition failed)"
        )
        name = f"{policy['PolicyName']} {policy['Version']}".strip()
        where = f"{policy['PolicyType']} policy {name} ({policy['AttachedTo']})"
        out.say(f"{kind}: #{decision.statement_index} of {where}")
        out.say(json.dumps(body["Statement"], indent=2))
    out.say(f"Reason:    {decision.reason}")
