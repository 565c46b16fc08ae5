"""Audit sinks and event serialisation."""

from __future__ import annotations

import io
import json
import logging
import multiprocessing
import os
import signal
import threading
import time
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


def test_a_logging_sink_on_an_unconfigured_logger_still_records(caplog: pytest.LogCaptureFixture) -> None:
    # The root logger's default level (WARNING) used to drop every INFO event without a word.
    name = f"ram.audit.unconfigured{os.getpid()}"
    LoggingSink(name).emit(EVENT)
    assert [json.loads(r.getMessage())["request_id"] for r in caplog.records if r.name == name] == ["RID"]


def test_a_rotated_audit_file_is_reopened(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    sink = JsonLinesSink.open(path)
    sink.emit(EVENT)
    path.rename(tmp_path / "audit.jsonl.1")  # logrotate: rename, then the writer should start a new file
    sink.emit(EVENT._replace(request_id="AFTER"))
    (tmp_path / "audit.jsonl.1").unlink()
    sink.emit(EVENT._replace(request_id="LAST"))
    sink.close()
    assert _request_ids(path) == ["AFTER", "LAST"]


def test_stream_batches_are_written_in_whole_lines_of_at_most_pipe_buf_bytes() -> None:
    # Several worker processes share stderr (a pipe to journald or a container log): a write of more than
    # PIPE_BUF bytes may interleave with another process's and cut a line.
    writes: list[str] = []

    class Pipe(io.StringIO):
        def write(self, text: str) -> int:
            writes.append(text)
            return len(text)

    sink = JsonLinesSink(Pipe(), flush_interval=3600)
    for n in range(200):
        sink.emit(EVENT._replace(request_id=f"R{n}"))
    sink.flush()
    sink.close()
    assert len(writes) > 1 and all(len(w.encode()) <= 4096 and w.endswith("\n") for w in writes)
    assert [json.loads(line)["request_id"] for line in "".join(writes).splitlines()] == [
        f"R{n}" for n in range(200)
    ]


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


def _request_ids(path: Path) -> list[str]:
    return [json.loads(line)["request_id"] for line in path.read_text().splitlines()]


def test_write_behind_writes_within_the_interval_and_everything_at_close(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    sink = JsonLinesSink.open(path, flush_interval=0.05)
    sink.emit(EVENT._replace(request_id="first"))
    deadline = time.monotonic() + 5
    while not path.read_text() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert _request_ids(path) == ["first"]  # the writer thread wrote it without anyone asking
    for index in range(500):
        sink.emit(EVENT._replace(request_id=f"r{index}"))
    sink.close()
    assert _request_ids(path) == ["first", *(f"r{index}" for index in range(500))]  # in order, none lost


def test_write_behind_from_many_threads_loses_nothing(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    sink = JsonLinesSink.open(path, flush_interval=0.01)

    def worker(thread: int) -> None:
        for index in range(300):
            sink.emit(EVENT._replace(request_id=f"{thread}-{index}"))

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    sink.close()
    ids = _request_ids(path)
    assert sorted(ids) == sorted(f"{t}-{i}" for t in range(8) for i in range(300))
    for number in range(8):  # each thread's events stay in the order it emitted them
        mine = [int(i.split("-")[1]) for i in ids if i.startswith(f"{number}-")]
        assert mine == sorted(mine)


def test_a_failed_write_behind_refuses_later_events(tmp_path: Path) -> None:
    """Fail closed: once a batch could not be written, emit raises (the authorizer then answers 503)."""
    stream = (tmp_path / "audit.jsonl").open("a", encoding="utf-8")
    sink = JsonLinesSink(stream, flush_interval=3600)
    sink.emit(EVENT)
    stream.close()  # the next batch write fails, as a full or vanished disk would
    with pytest.raises(ValueError):
        sink.flush()
    with pytest.raises(OSError, match="refusing to drop events"):
        sink.emit(EVENT)


def test_a_closed_write_behind_sink_refuses_events(tmp_path: Path) -> None:
    sink = JsonLinesSink.open(tmp_path / "audit.jsonl", flush_interval=0.05)
    sink.close()
    with pytest.raises(OSError):
        sink.emit(EVENT)


def test_open_sink_writes_behind_by_default_and_at_once_when_asked(tmp_path: Path) -> None:
    behind = open_sink(str(tmp_path / "behind.jsonl"))
    at_once = open_sink(str(tmp_path / "now.jsonl"), flush_interval=0)
    behind.emit(EVENT)
    at_once.emit(EVENT)
    assert (tmp_path / "now.jsonl").read_text().count("\n") == 1
    assert isinstance(behind, JsonLinesSink) and isinstance(at_once, JsonLinesSink)
    behind.close()
    at_once.close()
    assert (tmp_path / "behind.jsonl").read_text().count("\n") == 1
    with pytest.raises(ValueError):
        JsonLinesSink.open(tmp_path / "x.jsonl", flush_interval=-1)


def test_any_text_encodes_so_one_event_cannot_poison_a_batch(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    sink = JsonLinesSink.open(path, flush_interval=3600)
    odd = EVENT._replace(request_id="odd", path="/caf\u00e9/\udc80/\u2603")  # a lone surrogate included
    sink.emit(odd)
    sink.emit(EVENT._replace(request_id="next"))
    sink.close()
    lines = path.read_text(encoding="ascii").splitlines()
    assert [json.loads(line)["request_id"] for line in lines] == ["odd", "next"]
    assert json.loads(lines[0])["path"] == odd.path


def _emit_on_a_disk_that_fills_up(path: Path) -> None:
    """In a worker: the file may grow only to 2.5 lines (RLIMIT_FSIZE, a full disk as the kernel reports
    it, with a short write first), then has room again."""
    import resource

    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG from write() instead of a killed worker
    sink = JsonLinesSink.open(path, flush_interval=0)
    line = len(EVENT._replace(request_id="before-0").to_json()) + 1
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (line * 5 // 2, hard))
    refused = []
    for number in range(3):
        try:
            sink.emit(EVENT._replace(request_id=f"before-{number}"))
        except OSError:
            refused.append(number)
    assert refused == [2]
    resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
    sink.emit(EVENT._replace(request_id="after"))
    sink.close()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")  # 3.12+
def test_an_event_written_after_a_full_disk_is_not_glued_to_the_cut_line(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    worker = multiprocessing.get_context("fork").Process(target=_emit_on_a_disk_that_fills_up, args=(path,))
    worker.start()
    worker.join(timeout=30)
    assert worker.exitcode == 0
    lines = path.read_text().splitlines()
    assert len(lines) == 4 and lines[2].startswith('{"time"') and not lines[2].endswith("}")  # the cut one
    assert [json.loads(line)["request_id"] for line in lines[:2] + lines[3:]] == [
        "before-0",
        "before-1",
        "after",
    ]


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")  # 3.12+
def test_a_forked_worker_writes_its_own_events_not_the_parents_pending_ones(tmp_path: Path) -> None:
    """Pre-fork servers (gunicorn) build the app, then fork: each worker must write exactly its events."""
    path = tmp_path / "audit.jsonl"
    sink = JsonLinesSink.open(path, flush_interval=3600)
    sink.emit(EVENT._replace(request_id="parent"))  # pending in the parent when it forks
    pid = os.fork()
    if pid == 0:  # the child: emit one event, write it, leave without running the parent's handlers
        try:
            sink.emit(EVENT._replace(request_id="child"))
            sink.flush()
        finally:
            os._exit(0)
    os.waitpid(pid, 0)
    sink.close()
    assert sorted(_request_ids(path)) == ["child", "parent"]  # each once


def _emit_in_worker(sink: JsonLinesSink, request_id: str) -> None:
    sink.emit(EVENT._replace(request_id=request_id))  # queued only: the writer would wait an hour


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")  # 3.12+
def test_a_multiprocessing_worker_writes_its_queued_events_when_it_ends(tmp_path: Path) -> None:
    # A fork-started worker ends with os._exit, which skips atexit: its queued events once vanished.
    path = tmp_path / "audit.jsonl"
    sink = JsonLinesSink.open(path, flush_interval=3600)
    worker = multiprocessing.get_context("fork").Process(target=_emit_in_worker, args=(sink, "worker"))
    worker.start()
    worker.join(timeout=30)
    assert worker.exitcode == 0
    assert _request_ids(path) == ["worker"]
    sink.close()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")  # 3.12+
@pytest.mark.parametrize("interval", [0.0, 3600.0])
def test_a_worker_forked_while_the_writer_holds_its_locks_neither_hangs_nor_repeats(
    tmp_path: Path, interval: float
) -> None:
    path = tmp_path / "audit.jsonl"
    sink = JsonLinesSink.open(path, flush_interval=interval)
    sink.emit(EVENT._replace(request_id="parent"))  # pending in the parent (write-behind) when it forks
    with sink._lock, sink._flushing:  # as if the parent's writer thread were mid-write at the fork
        pid = os.fork()
        if pid == 0:
            signal.alarm(10)  # SIGALRM interrupts a hang: the child exits non-zero instead of never
            code = 1
            try:
                sink.flush()  # what the at-exit hook does in a worker that served nothing
                sink.emit(EVENT._replace(request_id="child"))
                sink.close()
                code = 0
            finally:
                os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    sink.close()
    assert sorted(_request_ids(path)) == ["child", "parent"]  # each once
