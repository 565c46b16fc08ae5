"""ram-middleware's evaluator side by side with pycasbin and cedarpy on the same requests, in one process.

Run from the repository root: ``python bench/compare.py`` (``--quick`` for a seconds-long smoke run).

1. Company X (``bench/company_x_workload.json``): every engine decides every request; the decisions must
   agree with each other and with the expected effect. Then decisions/s and median µs per decision of each
   engine's decision function, and the ratio peer median / ours. A second table times the same from the raw
   request fields (each engine's request object built inside the timed call).
2. Accounts with 10 → 10,000 custom policies attached across users (``bench/workload.py``): set-up time,
   median µs of each engine, and the growth from the smallest to the largest account.

Timing: ``perf_counter_ns`` around every single call, garbage collection off while timing, every engine warm
(each request decided once, untimed, first: that pass is also the agreement check), engines interleaved in
rounds. Each engine gets about the same wall-clock budget, so fast engines make more calls. Last line:
``RESULT casbin_ratio=<float> cedar_ratio=<float> agree=<true|false>``.
"""

from __future__ import annotations

import argparse
import gc
import math
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from importlib.metadata import version
from pathlib import Path
from typing import Any, TypeVar

HERE = Path(__file__).resolve().parent
# the checkout's ram_middleware, and this folder's modules (bench/ has no __init__.py: scripts live here)
sys.path[:0] = [str(HERE.parent), str(HERE)]

from peers.casbin_peer import CasbinEngine  # noqa: E402
from peers.cedar_peer import CedarEngine, SlicedCedar  # noqa: E402
from workload import Case, company_x_account, ram_policy_sets, synthetic_account  # noqa: E402

from ram_middleware.policy import PolicySet, Request  # noqa: E402

SIZES = (10, 100, 1_000, 10_000)
ROUNDS = 5
RECEIVES = (
    "ram-middleware: the user's PolicySet (dict lookup by user name) and a Request built by make_request("
    "action, ARN, {acs:SourceIp, acs:CurrentTime (UTC), acs:SecureTransport}); local time and weekday in the"
    " policy's zone are derived inside decide()",
    "pycasbin: enforce(user, ARN, action, source IP, 'true'|'false', acs:CurrentTime (UTC)); the custom"
    " localTime() matcher function converts to the zone inside the call",
    "cedarpy: is_authorized(request dict, PolicySet handle, Entities handle); the dict holds User/Action/"
    "Resource uids and context {arn, acs:SourceIp, acs:SecureTransport, local HHMM, local weekday}: Cedar has"
    " no time zones or weekdays, so the adapter computes those two before the call",
)


@dataclass
class Runner:
    """A decision function and the prepared item it takes for each request (same order as the cases)."""

    name: str
    call: Callable[[Any], bool]
    items: Sequence[Any]
    times_ns: list[int] = field(default_factory=list)
    results: list[bool] = field(default_factory=list)
    unstable: bool = False  # a timed pass decided differently from the warm-up pass

    @property
    def median_us(self) -> float:
        """Median of the timed calls, in µs."""
        return statistics.median(self.times_ns) / 1000

    @property
    def per_second(self) -> float:
        """Timed calls divided by their summed time."""
        return len(self.times_ns) / (sum(self.times_ns) / 1e9)


def one_pass(runner: Runner) -> tuple[list[int], list[bool]]:
    """Every item once, each call timed on its own."""
    clock, call = time.perf_counter_ns, runner.call
    times: list[int] = []
    results: list[bool] = []
    for item in runner.items:
        started = clock()
        result = call(item)
        times.append(clock() - started)
        results.append(result)
    return times, results


def measure(runners: Sequence[Runner], budget_s: float, max_reps: int) -> None:
    """Warm-up/agreement pass, then timed passes within about ``budget_s`` per runner, interleaved."""
    reps: dict[str, int] = {}
    for runner in runners:
        warm_times, runner.results = one_pass(runner)
        reps[runner.name] = max(1, min(max_reps, int(budget_s * 1e9 / max(1, sum(warm_times)))))
    rounds = min(ROUNDS, max(reps.values()))
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        for r in range(rounds):
            for runner in runners:
                share = math.ceil(reps[runner.name] / rounds)
                if r * share >= reps[runner.name]:
                    continue
                for _ in range(share):
                    times, results = one_pass(runner)
                    runner.times_ns += times
                    runner.unstable |= results != runner.results
    finally:
        if gc_was_enabled:
            gc.enable()


def disagreements(cases: Sequence[Case], runners: Sequence[Runner]) -> list[str]:
    """One line per request on which an engine differs from another or from the expected effect."""
    lines = []
    for i, case in enumerate(cases):
        decided = {r.name: "Allow" if r.results[i] else "Deny" for r in runners}
        if case.expected is not None:
            decided = {"expected": case.expected, **decided}
        if len(set(decided.values())) > 1:
            lines.append(f"DISAGREE {case.label} {case.action} {case.resource}: " + ", ".join(
                f"{name}={effect}" for name, effect in decided.items()))  # fmt: skip
    lines += [f"DISAGREE {r.name}: decided differently between passes" for r in runners if r.unstable]
    return lines


def _row(name: str, runner: Runner, ours: Runner | None) -> str:
    ratio = f"{runner.median_us / ours.median_us:8.1f}x" if ours is not None else "        -"
    return (f"  {name:<62} {len(runner.times_ns):>8} {runner.per_second:>13,.0f} "
            f"{runner.median_us:>10.2f} {ratio}")  # fmt: skip


def _header() -> str:
    columns = f"{'timed':>8} {'decisions/s':>13} {'median µs':>10} peer/ours"
    return f"  {'engine (decision function)':<62} {columns}"


def ours_decide(sets: Mapping[str, PolicySet]) -> Callable[[tuple[str, Request]], bool]:
    """ram-middleware's decision function: the user's PolicySet decides a prebuilt Request."""

    def decide(item: tuple[str, Request]) -> bool:
        return sets[item[0]].decide(item[1]).allowed

    return decide


# --- Company X -------------------------------------------------------------------------------------------


def _cedar_batch(engine: CedarEngine, requests: list[dict[str, Any]], budget_s: float) -> Runner:
    """is_authorized_batch over all requests in one call; per-request time = call time / len(requests)."""
    batch = Runner("cedarpy is_authorized_batch", lambda _: True, [])
    batch.results = engine.decide_batch(requests)
    started = time.perf_counter()
    reps = 0
    while reps < 3 or time.perf_counter() - started < budget_s:
        t0 = time.perf_counter_ns()
        results = engine.decide_batch(requests)
        per_request = (time.perf_counter_ns() - t0) // len(requests)
        batch.times_ns += [per_request] * len(requests)
        batch.unstable |= results != batch.results
        reps += 1
    return batch


def company_x(budget_s: float) -> tuple[float, float, bool]:
    """Section 1. Returns (casbin ratio, cedar ratio, agreement)."""
    account = company_x_account()
    cases = account.cases
    sets = ram_policy_sets(account)
    casbin, cedar = CasbinEngine.company_x(), CedarEngine.company_x(account)
    allowed = sum(c.expected == "Allow" for c in cases)
    print(f"\n(1) Company X: {len(cases)} requests ({allowed} expected Allow, {len(cases) - allowed} Deny), "
          f"{len(account.members)} users; casbin {len(casbin.enforcer.get_policy())} policy lines, "
          f"cedar {cedar.policy_count} policies")  # fmt: skip
    ours = Runner("ram-middleware", ours_decide(sets), [(c.user, c.ram_request()) for c in cases])
    peers = [
        Runner("pycasbin", casbin.decide, [casbin.arguments(c) for c in cases]),
        Runner("cedarpy", cedar.decide, [cedar.request(c) for c in cases]),
    ]
    measure([ours, *peers], budget_s, max_reps=2000)
    batch = _cedar_batch(cedar, [cedar.request(c) for c in cases], budget_s)
    raw = [
        Runner("ram-middleware raw", lambda c: sets[c.user].decide(c.ram_request()).allowed, cases),
        Runner("pycasbin raw", lambda c: casbin.decide(casbin.arguments(c)), cases),
        Runner("cedarpy raw", lambda c: cedar.decide(cedar.request(c)), cases),
    ]
    measure(raw, budget_s, max_reps=2000)
    idle = Runner("timer", lambda _: True, cases)
    measure([idle], budget_s / 10, max_reps=200)
    errors = [e for c in cases for e in cedar.outcome(cedar.request(c))[1]]
    problems = disagreements(cases, [ours, *peers, batch, *raw]) + [f"CEDAR ERROR {e}" for e in errors]
    verdict = "all engines and the expected table agree on every request" if not problems else "DISAGREEMENT"
    print(f"  agreement: {verdict}")
    for line in problems:
        print("  " + line)
    overhead = f"{idle.median_us:.2f} µs"
    print(f"  timing overhead in every row (perf_counter_ns pair around a trivial call): {overhead}")
    print(_header())
    print(_row("ram-middleware  PolicySet.decide(Request)", ours, None))
    print(_row("pycasbin        Enforcer.enforce(*args)", peers[0], ours))
    print(_row("cedarpy         is_authorized(request, handles)", peers[1], ours))
    print(_row("cedarpy         is_authorized_batch, per request [2nd row]", batch, ours))
    print("  the same from raw request fields (request object built inside the timed call):")
    print(_row("ram-middleware  make_request + decide", raw[0], None))
    print(_row("pycasbin        arguments tuple + enforce", raw[1], raw[0]))
    print(_row("cedarpy         request dict with local time + is_authorized", raw[2], raw[0]))
    return peers[0].median_us / ours.median_us, peers[1].median_us / ours.median_us, not problems


# --- growing accounts ------------------------------------------------------------------------------------


def _statements(document: Any) -> list[Any]:
    found = document["Statement"]
    return [found] if isinstance(found, dict) else list(found)


T = TypeVar("T")


def _timed_build(make: Callable[[], T]) -> tuple[T, float]:
    started = time.perf_counter()
    built = make()
    return built, time.perf_counter() - started


def _sample_size(casbin: CasbinEngine, cases: Sequence[Case], budget_s: float) -> int:
    """How many requests the slowest engine (pycasbin, linear in policy lines) can decide in its budget."""
    probe = [casbin.arguments(c) for c in cases[:3]]
    started = time.perf_counter()
    for arguments in probe:
        casbin.decide(arguments)
    cost = (time.perf_counter() - started) / len(probe)
    return max(40, min(len(cases), int(budget_s / 2 / cost)))


SCALE_ENGINES = ("ram-middleware", "pycasbin", "cedarpy", "cedarpy, per-user slice")
SCALE_HEADER = (
    f"  {'N':>6} {'stmts':>6} {'casbin lines':>12} {'cedar pols':>10} {'requests':>8}  "
    f"{'set-up s: ours/casbin/cedar/sliced':>34}  {'median µs ours':>14} {'casbin':>10} {'cedar':>9}  "
    f"{'casbin/ours':>11} {'cedar/ours':>10}  {'ours, all requests':>18} {'cedar sliced':>12}"
)


def scale_row(n: int, budget_s: float, medians: dict[str, dict[int, float]]) -> bool:
    """One account size: build every engine, time them on the same requests, print a row; True if agreed."""
    account = synthetic_account(n, seed=n)
    sets, t_ours = _timed_build(partial(ram_policy_sets, account))
    casbin, t_casbin = _timed_build(partial(CasbinEngine.translated, account))
    cedar, t_cedar = _timed_build(partial(CedarEngine.translated, account))
    sliced, t_sliced = _timed_build(partial(SlicedCedar, account))
    cases = account.cases[: _sample_size(casbin, account.cases, budget_s)]
    cedar_requests = [cedar.request(c) for c in cases]
    runners = [
        Runner("ram-middleware", ours_decide(sets), [(c.user, c.ram_request()) for c in cases]),
        Runner("pycasbin", casbin.decide, [casbin.arguments(c) for c in cases]),
        Runner("cedarpy", cedar.decide, cedar_requests),
        Runner("cedarpy, per-user slice", sliced.decide, cedar_requests),
    ]
    # ours also over the whole 1,000-request workload: thousands of PolicySets, less cache-friendly
    everyone = Runner("ram-middleware, all requests", ours_decide(sets),
                      [(c.user, c.ram_request()) for c in account.cases])  # fmt: skip
    measure([*runners, everyone], budget_s / 2, max_reps=200)
    for runner in [*runners, everyone]:
        medians.setdefault(runner.name, {})[n] = runner.median_us
    ours, cb, cd, cs = (r.median_us for r in runners)
    statements = sum(len(_statements(a.document)) for a in account.attachments)
    setup = f"{t_ours:>9.2f} /{t_casbin:>6.2f} /{t_cedar:>6.2f} /{t_sliced:>6.2f}"
    print(f"  {n:>6} {statements:>6} {len(casbin.enforcer.get_policy()):>12} {cedar.policy_count:>10} "
          f"{len(cases):>8}  {setup}  {ours:>14.2f} {cb:>10.1f} {cd:>9.1f}  {cb / ours:>10.0f}x "
          f"{cd / ours:>9.0f}x  {everyone.median_us:>18.2f} {cs:>12.1f}")  # fmt: skip
    if len(cases) < len(account.cases):
        print(f"{'':>10}set-up is practical; pycasbin's {cb / 1000:.1f} ms per decision limits this size to "
              f"{len(cases)} of {len(account.cases)} requests, for every engine")  # fmt: skip
    problems = disagreements(cases, runners)
    for line in problems[:20]:
        print("    " + line)
    return not problems


def scale(sizes: Sequence[int], budget_s: float) -> tuple[dict[str, dict[int, float]], bool]:
    """Section 2. Returns median µs by engine and size, and agreement."""
    print(f"\n(2) accounts with N custom policies (5 per user; users in 1-2 groups holding a system policy); "
          f"every engine gets ~{budget_s:.1f} s per size, so large accounts time fewer requests "
          f"(the same requests for every engine)")  # fmt: skip
    print(SCALE_HEADER)
    medians: dict[str, dict[int, float]] = {}
    agree = True
    for n in sizes:
        agree &= scale_row(n, budget_s, medians)
    return medians, agree


def _machine() -> str:
    memory = "?"
    meminfo = Path("/proc/meminfo")
    if meminfo.exists():
        kb = int(meminfo.read_text().split("MemTotal:")[1].split()[0])
        memory = f"{kb / 1024 / 1024:.1f} GiB"
    return (f"Python {platform.python_version()}, {os.cpu_count()} CPUs, {memory} RAM; "
            f"pycasbin {version('pycasbin')}, cedarpy {version('cedarpy')}")  # fmt: skip


def main(argv: Sequence[str] | None = None) -> int:
    """Run both sections; prints the RESULT line last."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="small budgets, sizes 10 and 100 (a smoke run)")
    args = parser.parse_args(argv)
    began = time.perf_counter()
    print(f"ram-middleware vs pycasbin vs cedarpy: {_machine()}")
    print("What each engine receives per decision:")
    for line in RECEIVES:
        print(f"  - {line}")
    budget = 0.2 if args.quick else 2.0
    casbin_ratio, cedar_ratio, agree_x = company_x(budget)
    sizes = SIZES[:2] if args.quick else SIZES
    medians, agree_scale = scale(sizes, 0.4 if args.quick else 12.0)
    first, last = sizes[0], sizes[-1]
    growth = {name: by_size[last] / by_size[first] for name, by_size in medians.items()}
    print(f"\n  growth of the median from N={first:,} to N={last:,}: "
          + ", ".join(f"{name} {g:.1f}x" for name, g in growth.items()))  # fmt: skip
    smallest = min(SCALE_ENGINES[:3], key=lambda name: growth[name])
    print(f"  smallest growth: {smallest}")
    print(f"\nelapsed {time.perf_counter() - began:.1f} s")
    agree = agree_x and agree_scale
    print(f"RESULT casbin_ratio={casbin_ratio:.3f} cedar_ratio={cedar_ratio:.3f} agree={str(agree).lower()}")
    return 0 if agree else 1


if __name__ == "__main__":
    sys.exit(main())
