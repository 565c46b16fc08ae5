"""``ram simulate``: the policy simulator — the decision and the statement that decided it.

For a user (their own and their groups' policies) or a role session (optionally narrowed by a session
policy), any action and resource, with the source IP, time and any other condition keys the request would
carry. Locally it is :meth:`RamService.simulate`, the request path's own evaluation; remotely the same
evaluator runs over the policies the RAM API reports.

``sts:AssumeRole`` on one role (``acs:ram::<account>:role/<name>``) is decided as AssumeRole decides it: the
caller's policies must allow it and the role's trust policy must trust the caller (the account root never
may). The decision is the first of the two that refuses, naming its statement; ``TrustPolicy`` (text: the
"Trust policy" lines) shows the trust policy's own decision. Give ``--context sts:ExternalId=…`` for a trust
policy that asks for one. A role that does not exist is ``EntityNotExist.Role``, as a missing user is
``EntityNotExist.User``. Through the RAM API only this account's roles can be read.
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
    try:
        statements = json.loads(decision.policy.policy.source).get("Statement")
    except ValueError:  # an integer of thousands of digits: the Reason still names the statement
        return None
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
        # A time without a zone is taken as UTC, as acs:CurrentTime is; one whose UTC falls outside the years
        # 1-9999 (0001-01-01T00:00:00+14:00) has no acs:CurrentTime to write.
        return format_time(moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC))
    except (ValueError, OverflowError):
        raise errors.InvalidParameter(
            "Time", "--time must be ISO 8601 in the years 1-9999, e.g. 2024-06-04T10:00:00+08:00."
        ) from None


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
    simulated = backend.simulate(subject, action, resource, context)
    body = decision_api(simulated.decision)
    trust = None if simulated.trust is None else decision_api(simulated.trust)
    if out.json_output:
        shown = body if trust is None else {**body, "TrustPolicy": trust}
        out.data({**shown, "Request": {"Action": action, "Resource": resource, "Context": context}})
        return
    out.say(f"Decision:  {simulated.decision.effect}")
    _say_statement(out, body)
    out.say(f"Reason:    {simulated.decision.reason}")
    if trust is not None and trust != body:  # a trust policy that refused is already shown above
        out.say(f"Trust policy: {trust['Effect']}")
        _say_statement(out, trust)
        out.say(f"Reason:    {trust['Reason']}")


def _say_statement(out: Output, body: dict[str, Any]) -> None:
    """The deciding (or nearest) statement of a :func:`decision_api` body, if it names one."""
    policy = body["Policy"]
    if policy is None:
        return
    near = body["Effect"] == "ImplicitDeny"
    kind = "Nearest statement (a condition failed)" if near else "Deciding statement"
    name = f"{policy['PolicyName']} {policy['Version']}".strip()
    where = f"{policy['PolicyType']} policy {name} ({policy['AttachedTo']})"
    out.say(f"{kind}: #{body['StatementIndex']} of {where}")
    out.say(json.dumps(body["Statement"], indent=2))
