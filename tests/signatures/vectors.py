"""Loading the signature vectors of tests/vectors/ as RequestFacts, with the clock each was signed at."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

from ram_middleware.facts import RequestFacts

VECTORS = Path(__file__).resolve().parent.parent / "vectors"
SCHEMES = ("rpc-v1", "roa", "acs3-hmac-sha256", "sts-token-request", "oss-v1", "oss-v4", "aws-sigv4")


@dataclass(frozen=True)
class Vector:
    name: str
    data: dict[str, Any]

    @property
    def expected(self) -> dict[str, str]:
        return dict(self.data["expected"])

    @property
    def secret(self) -> str:
        return str(self.data["access_key_secret"])

    @property
    def signed_at(self) -> datetime:
        if "fixed_timestamp" in self.data:
            return datetime.fromisoformat(self.data["fixed_timestamp"])
        if "fixed_date" in self.data:
            return parsedate_to_datetime(self.data["fixed_date"])
        return datetime.strptime(self.data["fixed_datetime"], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)

    def facts(self) -> RequestFacts:
        request = self.data["request"]
        return RequestFacts(
            method=request["method"],
            path=request["path"],
            query=request["raw_query"],
            headers=tuple((name, value) for name, value in request["headers"]),
            body=base64.b64decode(request["body_base64"]),
            peer="127.0.0.1",
        )


def load_all() -> list[Vector]:
    found = []
    for scheme in SCHEMES:
        document = json.loads((VECTORS / f"{scheme}.json").read_text(encoding="utf-8"))
        for index, data in enumerate(document["vectors"]):
            found.append(Vector(f"{scheme}[{index}]", data))
    return found
