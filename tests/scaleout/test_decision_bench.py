"""The decision bench on PostgreSQL stays within 10% of SQLite (decisions come from the snapshot)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

from tests.scaleout.servers import pg_schema_url, require_shared_postgres

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

BENCH = Path(__file__).resolve().parents[2] / "bench"


def _bench() -> ModuleType:
    sys.path.insert(0, str(BENCH))  # the bench imports its sibling bench/decisions.py
    try:
        spec = importlib.util.spec_from_file_location("decisions_postgres", BENCH / "decisions_postgres.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    finally:
        sys.path.remove(str(BENCH))


def test_postgres_decisions_are_within_ten_percent_of_sqlite(tmp_path: Path) -> None:
    require_shared_postgres()
    bench = _bench()
    ratios = []
    with pg_schema_url() as pg:
        # A shared machine can stall one round; the claim holds if a clean measurement shows it.
        for attempt in range(3):
            medians = bench.compare({"sqlite": f"sqlite:///{tmp_path}/ram{attempt}.db", "postgres": pg})
            ratio = medians["postgres"] / medians["sqlite"]
            ratios.append(ratio)
            print(
                f"\ndecision via Directory snapshot: SQLite {medians['sqlite']:.2f} µs, "
                f"PostgreSQL {medians['postgres']:.2f} µs (ratio {ratio:.3f})"
            )
            if ratio <= 1.10:
                break
    assert min(ratios) <= 1.10, ratios
