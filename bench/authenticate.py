"""Median in-process cost of authenticating one signed request (RPC v1 and ACS3).

A batch of requests is signed up front with fresh nonces (signing is not timed). Each timed call is
``Authenticator.authenticate`` on a RequestFacts built just before it (as an adapter would), so the lazy
query/header parsing, the key lookup and the nonce claim are all inside the measurement.
``--breakdown`` also prints the median of each step of ``authenticate`` (the same steps run one by one
on their own batch). Last line: ``RESULT v1_median_us=<float> acs3_median_us=<float>``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ram_middleware.client import RequestSigner
from ram_middleware.credentials.authenticate import Authenticator, detect_scheme
from ram_middleware.facts import RequestFacts
from ram_middleware.guard import MemoryGuard
from ram_middleware.identity import Principal, SigningKey

AK = "LTAI5tBENCHACCESSKEYID01"
SECRET = "BENCHsecret0123456789abcdefABCDEF"
HOST = "127.0.0.1:8080"
N = 20_000
PRINCIPAL = Principal(
    kind="user",
    account_id="1234567890123456",
    name="bench",
    principal_id="203000000000000009",
    arn="acs:ram::1234567890123456:user/bench",
)


class Resolver:
    """The smallest KeyResolver: one key in a dict; uses are counted, not stored."""

    def __init__(self) -> None:
        self.keys = {AK: SigningKey(AK, SECRET, PRINCIPAL)}
        self.uses = 0

    def signing_key(self, access_key_id: str) -> SigningKey | None:
        return self.keys.get(access_key_id)

    def verify_security_token(self, access_key_id: str, token: str) -> SigningKey:
        raise AssertionError("no STS keys in this benchmark")

    def note_key_used(self, access_key_id: str, when: datetime) -> None:
        self.uses += 1


Raw = tuple[str, str, tuple[tuple[str, str], ...]]  # path, query, headers — as on the wire


def signed_batch(scheme: str, count: int) -> list[Raw]:
    """``count`` signed RAM GetUser-like requests (path, query, headers as received)."""
    signer = RequestSigner(AK, SECRET, scheme="v1" if scheme == "v1" else "acs3")
    query = "Action=GetUser&Version=2015-05-01&Format=JSON&RegionId=cn-hangzhou&UserName=alice%20smith"
    if scheme == "acs3":
        query = "UserName=alice%20smith"
    base_headers = [
        ("host", HOST),
        ("user-agent", "bench"),
        ("accept", "application/json"),
        ("x-acs-action", "GetUser"),
        ("x-acs-version", "2015-05-01"),
    ]
    batch = []
    for _ in range(count):
        signed = signer.sign("POST", f"http://{HOST}/?{query}", base_headers, b"")
        merged = dict(base_headers)
        merged.update(signed.headers)
        url = urlsplit(signed.url)
        headers = (*merged.items(), ("content-length", "0"))
        batch.append((url.path, url.query, headers))
    return batch


def facts_of(raw: Raw) -> RequestFacts:
    """What an adapter hands over for one request."""
    return RequestFacts("POST", raw[0], raw[1], raw[2], b"", "127.0.0.1", "http")


def median_us(scheme: str) -> float:
    authenticator = Authenticator(Resolver(), MemoryGuard())
    batch = signed_batch(scheme, N)
    for raw in batch[:500]:  # warm-up (these nonces are then spent; they are not timed again)
        authenticator.authenticate(facts_of(raw))
    timings = []
    clock = time.perf_counter_ns
    authenticate = authenticator.authenticate
    for raw in batch[500:]:
        # Built just before the call, as an adapter does; its lazy parsing happens inside the timed call.
        facts = facts_of(raw)
        start = clock()
        principal = authenticate(facts)
        timings.append(clock() - start)
        if principal is None or principal.arn != PRINCIPAL.arn:
            raise SystemExit(f"{scheme}: a signed request did not authenticate")
    return statistics.median(timings) / 1000


STEPS = (
    "header map", "parameters (acs3: query)", "detect_scheme", "parse", "clock + skew", "key lookup",
    "signature", "nonce claim", "last used + principal",
)  # fmt: skip


def breakdown_us(scheme: str) -> dict[str, float]:
    """Median µs of each step of ``Authenticator.authenticate``, run one by one (private methods)."""
    authenticator = Authenticator(Resolver(), MemoryGuard())
    clock = time.perf_counter_ns
    timings: dict[str, list[int]] = {step: [] for step in STEPS}
    for raw in signed_batch(scheme, N):
        facts = facts_of(raw)
        marks = [clock()]
        facts.header_map  # noqa: B018 (the lazy views detect_scheme reads, timed on their own)
        marks.append(clock())
        facts.params if scheme == "v1" else facts.query_pairs  # noqa: B018 (what each parse reads)
        marks.append(clock())
        scheme_found = detect_scheme(facts)
        marks.append(clock())
        signed = authenticator._parse(scheme_found or "", facts)
        marks.append(clock())
        now = authenticator._clock()
        if abs(signed.signed_at - now.timestamp()) > authenticator._max_skew:
            raise SystemExit(f"{scheme}: the clock moved past the skew window")
        marks.append(clock())
        key = authenticator._signing_key(signed)
        marks.append(clock())
        if not signed.matches(key.secret):
            raise SystemExit(f"{scheme}: a signed request did not verify")
        marks.append(clock())
        authenticator._guard.claim(f"nonce:{signed.access_key_id}:{signed.nonce}", authenticator._nonce_ttl)
        marks.append(clock())
        authenticator._resolver.note_key_used(signed.access_key_id, now)
        authenticator._principal(key.principal, signed.scheme, signed.access_key_id)
        marks.append(clock())
        for step, start, end in zip(STEPS, marks[:-1], marks[1:], strict=True):
            timings[step].append(end - start)
    return {step: statistics.median(times[500:]) / 1000 for step, times in timings.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description="Median in-process cost of authenticating a request.")
    parser.add_argument("--breakdown", action="store_true", help="also time each step on its own")
    args = parser.parse_args()
    v1 = median_us("v1")
    acs3 = median_us("acs3")
    print(f"authenticate, median of {N - 500} requests each (in-process, MemoryGuard, dict resolver)")
    print(f"  RPC v1 (HMAC-SHA1):     {v1:.2f} us")
    print(f"  ACS3-HMAC-SHA256:       {acs3:.2f} us")
    if args.breakdown:
        steps = {"v1": breakdown_us("v1"), "acs3": breakdown_us("acs3")}
        print("  steps, medians of separate timings (us; each includes ~0.05 us of timer):")
        for step in STEPS:
            print(f"    {step:24s} v1 {steps['v1'][step]:6.2f}   acs3 {steps['acs3'][step]:6.2f}")
    print(f"RESULT v1_median_us={v1:.2f} acs3_median_us={acs3:.2f}")


if __name__ == "__main__":
    main()
