"""Valid signed requests (ACS3, RPC v1, ROA, OSS V4; long-term and STS keys), mutated: a change the
signature covers is always refused, a replay is refused, and nothing ever yields a 5xx."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.adapters.harness import VARIANTS
from tests.adapters.world import Key, World, make_world

from .fuzzing import Target, check_reply, fuzz_settings, fuzz_timeout, make_target
from .signed import CALLERS, COVERED, NEUTRAL_OR_SCHEME_DEPENDENT, SCHEMES, TEMPLATES, Mutation, key_of, sign

pytestmark = pytest.mark.timeout(fuzz_timeout(240))


@pytest.fixture(scope="module")
def signed_world() -> Iterator[tuple[World, Key]]:
    made = make_world()
    yield made, made.role_session()
    made.ram.close()


@pytest.fixture(scope="module", params=sorted(VARIANTS))
def signed_target(request: pytest.FixtureRequest, signed_world: tuple[World, Key]) -> Iterator[Target]:
    made = make_target(request.param, signed_world[0])
    yield made
    made.driver.close()


def test_mutated_signed_requests(signed_target: Target, signed_world: tuple[World, Key]) -> None:
    world, session = signed_world
    key_ids = [key.access_key_id for key in world.keys.values()] + [session.access_key_id]
    accepted: list[str] = []

    @fuzz_settings(500)
    @given(
        caller=st.sampled_from(CALLERS),
        scheme=st.sampled_from(SCHEMES),
        template=st.sampled_from(TEMPLATES),
        covered=st.one_of(st.none(), st.sampled_from(COVERED)),
        neutral=st.lists(st.sampled_from(NEUTRAL_OR_SCHEME_DEPENDENT), max_size=2),
        number=st.integers(0, 1000),
        other_key=st.sampled_from(key_ids),
        junk=st.binary(max_size=30),
        replay=st.booleans(),
    )
    def run(
        caller: str,
        scheme: str,
        template: object,
        covered: Mutation | None,
        neutral: list[Mutation],
        number: int,
        other_key: str,
        junk: bytes,
        replay: bool,
    ) -> None:
        if scheme == "oss-v4" and caller == "session":
            scheme = "acs3"  # the OSS V4 test signer cannot sign an x-oss-security-token header
        request = sign(world, key_of(world, caller, session), scheme, template)  # type: ignore[arg-type]
        must_fail = False
        for mutation in [*neutral, *([covered] if covered else [])]:
            extra = other_key.encode() if mutation.__name__ == "swap_access_key" else junk
            result = mutation(request, scheme, number, extra)
            if result is not None:
                request, changed_signed_part = result
                must_fail = must_fail or changed_signed_part
        reply = signed_target.send(request)
        check_reply(signed_target, request, reply, signed=True, must_fail=must_fail)
        if 200 <= reply.status < 300:
            accepted.append(scheme)
        if replay and scheme in ("acs3", "v1") and reply.status < 300:
            # A nonce is single-use: the very same bytes again must be refused.
            again = signed_target.send(request)
            check_reply(signed_target, request, again, signed=True, must_fail=True)

    run()
    # The seeds must be genuinely valid, or every "refused" above would prove nothing.
    assert {"acs3", "v1", "roa", "oss-v4"} <= set(accepted), accepted
