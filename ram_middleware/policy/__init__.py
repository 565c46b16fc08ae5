"""The RAM policy language: parse and validate documents, evaluate requests against them.

``parse_policy`` turns a document into an immutable :class:`CompiledPolicy`; a :class:`PolicySet` (built
once per principal) decides :class:`Request` objects made with :func:`make_request`.
"""

from __future__ import annotations

from ram_middleware.policy.conditions import OPERATORS as OPERATORS
from ram_middleware.policy.conditions import Condition as Condition
from ram_middleware.policy.conditions import canonical_operator as canonical_operator
from ram_middleware.policy.document import CompiledPolicy as CompiledPolicy
from ram_middleware.policy.document import PolicyKind as PolicyKind
from ram_middleware.policy.document import PrincipalSpec as PrincipalSpec
from ram_middleware.policy.document import Statement as Statement
from ram_middleware.policy.document import parse_policy as parse_policy
from ram_middleware.policy.evaluate import AttachedPolicy as AttachedPolicy
from ram_middleware.policy.evaluate import Decision as Decision
from ram_middleware.policy.evaluate import Effect as Effect
from ram_middleware.policy.evaluate import PolicySet as PolicySet
from ram_middleware.policy.evaluate import decide as decide
from ram_middleware.policy.evaluate import decide_with_session as decide_with_session
from ram_middleware.policy.evaluate import evaluate_trust as evaluate_trust
from ram_middleware.policy.extensions import LOCAL_TIME_OF_DAY as LOCAL_TIME_OF_DAY
from ram_middleware.policy.extensions import LOCAL_WEEKDAY as LOCAL_WEEKDAY
from ram_middleware.policy.request import Request as Request
from ram_middleware.policy.request import make_request as make_request
from ram_middleware.policy.system import SYSTEM_POLICIES as SYSTEM_POLICIES
from ram_middleware.policy.system import SystemPolicy as SystemPolicy
from ram_middleware.policy.system import system_policy as system_policy
