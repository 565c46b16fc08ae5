"""Declarative organisation files: ``ram apply`` / ``ram export``.

An organisation file (JSON or YAML) names users, groups, memberships, custom policies, attachments and roles
in the RAM API's own field names (see ``examples/company_x/organisation.json``). :func:`plan` compares it with
an account and lists the changes; :func:`apply` carries them out; :func:`export` writes an account back out.
Applying the same file twice changes nothing the second time, and ``export`` → ``apply`` on a fresh account →
``export`` gives the same file.

All three work on an :class:`OrgTarget` — the RAM operations they need, answering in the RAM API's response
shapes — so the ``ram`` command runs them against the local store or through the RAM API alike. Passing a
:class:`~ram_middleware.service.RamService` and an AccountId wraps them in :class:`ServiceTarget`.

Scope decisions: apply creates and updates what the file declares and reconciles the memberships and
attachments of the users, groups and roles it declares; it never deletes a user, group, policy or role the
file does not mention (a bootstrap admin created by ``ram init`` survives an apply), and it only ever adds
credentials. A user with ``"AccessKey": true`` gets one key if it has none; ``"Console": true`` gets a login
profile with a generated password that must be changed at first logon. New secrets appear once, in the apply
result. On the local store (a RamService) the plan is made and carried out in one store transaction: if a
change fails, all are rolled back and the account is exactly as before (caches and other instances hear of
the changes once, after the commit). Through the RAM API nothing can be undone: the file is checked whole
before the first call, and a failure names the changes already made; applying again carries on from there.
Documents may say ``${AccountId}``; export writes the account's own id that way, so a file moves between
accounts. The account alias is set when the file names one (``{"Account": {"Alias": …}}``).

Modules: ``schema`` (grammar, load/dump), ``target`` (the target protocol, RAM API shapes, ServiceTarget),
``plan`` (plan/apply), ``export``.
"""

from __future__ import annotations

from .export import export as export
from .plan import ApplyResult as ApplyResult
from .plan import Change as Change
from .plan import NewPasswords as NewPasswords
from .plan import PlanChanged as PlanChanged
from .plan import apply as apply
from .plan import as_target as as_target
from .plan import plan as plan
from .plan import run_changes as run_changes
from .schema import ACCOUNT_PLACEHOLDER as ACCOUNT_PLACEHOLDER
from .schema import OrganisationFileError as OrganisationFileError
from .schema import dump_organisation as dump_organisation
from .schema import load_organisation as load_organisation
from .schema import validate_organisation as validate_organisation
from .target import OrgTarget as OrgTarget
from .target import ServiceTarget as ServiceTarget

__all__ = [
    "ACCOUNT_PLACEHOLDER",
    "ApplyResult",
    "Change",
    "NewPasswords",
    "OrgTarget",
    "OrganisationFileError",
    "PlanChanged",
    "ServiceTarget",
    "apply",
    "as_target",
    "dump_organisation",
    "export",
    "load_organisation",
    "plan",
    "run_changes",
    "validate_organisation",
]
