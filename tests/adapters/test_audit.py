"""Audit sinks and event serialisation."""

from __future__ import annotations

import io
import json
import logging
from pathlib import Path

import pytest

from ram_middleware.audit import AuditEvent, AuditSink, JsonLinesSink, LoggingSink, MemorySink, open_sink

EVENT = AuditEvent(
    time="2030-01-01T00:00:00.000Z", request_id="RID", decision="ImplicitDeny", status=403, method="GET",
    path="/x", source_ip="203.0.113.7", principal_arn="acs:ram::1:user/a", action="ecs:X", resource="*",
    reason="No statement allows ecs:X on *",
)  # fmt: skip


def test_event_dict_omits_empty_fields() -> None:
    data = EVENT.to_dict()
    assert "policy" not in data and "statement" not in data and "code" not in data
    assert data["decision"] == "ImplicitDeny" and not EVENT.allowed
    assert json.loads(EVENT.to_json()) == data


def test_json_lines_to_a_stream_and_a_file(tmp_path: Path) -> None:
    stream = io.StringIO()
    JsonLinesSink(stream).emit(EVENT)
    assert json.loads(stream.getvalue()) == EVENT.to_dict()
    sink = JsonLinesSink.open(tmp_path / "audit.jsonl")
    sink.emit(EVENT)
    sink.emit(EVENT)
    sink.close()
    lines = (tmp_path / "audit.jsonl").read_text().splitlines()
    assert [json.loads(line)["request_id"] for line in lines] == ["RID", "RID"]


def test_logging_sink(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, "ram.audit.test"):
        LoggingSink("ram.audit.test").emit(EVENT)
    (record,) = caplog.records
    assert json.loads(record.getMessage())["request_id"] == "RID"
    assert record.ram_audit["decision"] == "ImplicitDeny"  # type: ignore[attr-defined]


def test_memory_sink_and_open_sink(tmp_path: Path) -> None:
    memory = open_sink("memory:")
    assert isinstance(memory, MemorySink) and isinstance(memory, AuditSink)
    memory.emit(EVENT)
    assert memory.events == [EVENT]
    memory.clear()
    assert memory.events == []
    assert isinstance(open_sink("logging:x.y"), LoggingSink)
    file_sink = open_sink(str(tmp_path / "a.jsonl"))
    assert isinstance(file_sink, JsonLinesSink)
    file_sink.close()
