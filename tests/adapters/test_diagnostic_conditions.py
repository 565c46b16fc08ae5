"""The encoded diagnostic of a denial lists the condition context as the policy compared it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ram_middleware.facts import RequestFacts
from ram_middleware.identity import Principal

from .harness import make_harness
from .world import World, make_world


def _tags(facts: RequestFacts, principal: Principal | None) -> dict[str, object]:
    return {"app:Tags": ["blue", "green"], "app:Beta": True, "app:Weight": 2, "app:Absent": None}


@pytest.fixture
def world() -> Iterator[World]:
    made = make_world(context_hook=_tags)
    yield made
    made.ram.close()


def test_multi_valued_and_typed_keys_are_listed_as_compared(world: World) -> None:
    harness = make_harness("starlette", world)
    reply = harness.call("GET", "/instances/i-1", signer=world.signer("eve"))
    assert reply.status == 403
    encoded = reply.json()["AccessDeniedDetail"]["EncodedDiagnosticMessage"]
    conditions = {
        item["ConditionKey"]: item["ConditionValues"]
        for item in world.ram.authorizer.diagnostics.decode(encoded)["AuthConditions"]
    }
    assert conditions["app:Tags"] == ["blue", "green"]  # not the text "['blue', 'green']"
    assert conditions["app:Beta"] == ["true"] and conditions["app:Weight"] == ["2"]
    assert "app:Absent" not in conditions  # absent to the policy, so not listed as "None"
    assert conditions["acs:SecureTransport"] == ["false"]
