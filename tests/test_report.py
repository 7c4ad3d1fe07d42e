"""The evidence format every runbook shares (fablink_ops/report.py), on its own."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest

from fablink_ops.report import ABORTED, FAIL, PASS, SKIPPED, Aborted, Report

from .timeline import FakeClock

WALL = datetime(2031, 5, 6, 7, 8, 9, 250000, tzinfo=timezone.utc)


def make(clock=None, **kw) -> Report:
    clock = clock or FakeClock()
    return Report("backup.verify", "fablink-prod", "sandbox", "arn:aws:sts::853963783084:user/ops",
                  parameters={"table": "fablink-prod-sessions"}, clock=clock.monotonic, wall=WALL, **kw)


def test_steps_measurements_verdict_and_timestamps_from_one_clock():
    clock = FakeClock()
    seen = []
    report = make(clock, echo=seen.append)
    with report.step("restore requested") as step:
        clock.sleep(2.5)
        step.detail = "restore job 1"
    with pytest.raises(Aborted):
        with report.step("restored table checked"):
            clock.sleep(1)
            raise Aborted("item count differs: 10 != 12")
    report.record("cleanup", SKIPPED, "nothing to clean")
    report.measure("restore_seconds", 2.5)
    report.measure("tables", {"sessions": {"items": 12}})
    report.conclude(FAIL, "item count differs")
    clock.sleep(0.75)
    report.finish({"reads": 3, "writes": 1, "by_operation": {"dynamodb:RestoreTableToPointInTime": 1}})

    doc = report.to_json()
    assert doc["started"] == "2031-05-06T07:08:09.250Z"
    assert doc["finished"] == "2031-05-06T07:08:13.500Z"
    assert [(s["name"], s["status"], s["started"], s["finished"], s["detail"]) for s in doc["steps"]] == [
        ("restore requested", "ok", "2031-05-06T07:08:09.250Z", "2031-05-06T07:08:11.750Z", "restore job 1"),
        ("restored table checked", "failed", "2031-05-06T07:08:11.750Z", "2031-05-06T07:08:12.750Z", "item count differs: 10 != 12"),
        ("cleanup", "skipped", "2031-05-06T07:08:12.750Z", "2031-05-06T07:08:12.750Z", "nothing to clean"),
    ]
    assert [s.name for s in seen] == ["restore requested", "restored table checked", "cleanup"]
    assert (doc["verdict"], doc["reason"]) == ("fail", "item count differs")
    assert doc["measurements"] == {"restore_seconds": 2.5, "tables": {"sessions": {"items": 12}}}
    assert report.exit_code == 1


def test_exit_code_is_0_for_pass_only():
    for verdict, code in ((PASS, 0), (FAIL, 1), (ABORTED, 1)):
        report = make()
        report.conclude(verdict, "why")
        assert report.exit_code == code
    with pytest.raises(ValueError):
        make().conclude("ok", "not a verdict")


def test_no_verdict_is_never_a_pass_and_open_steps_are_closed():
    report = make()
    with pytest.raises(KeyboardInterrupt):
        with report.step("waiting"):
            raise KeyboardInterrupt
    report.finish()
    assert report.verdict == "aborted" and report.exit_code == 1
    assert report.steps[0].status == "failed" and report.steps[0].detail == "interrupted by the operator (Ctrl-C)"


def test_written_files_hold_the_same_record(tmp_path):
    report = make()
    report.record("a | tricky\nstep", "ok", "pipes | and\nnewlines")
    report.measure("nested", {"x": 1.25, "none": None, "flag": True, "list": [1, 2]})
    report.conclude(PASS, "all good")
    report.finish({"reads": 2, "writes": 0, "by_operation": {"sts:GetCallerIdentity": 1, "dynamodb:DescribeTable": 1}})
    json_path, md_path = report.write(tmp_path / "reports")

    assert json_path.name == "20310506T070809Z-backup.verify.json" and md_path.suffix == ".md"
    doc = json.loads(json_path.read_text())
    assert doc == report.to_json()
    assert doc["evidence"] == {"json": str(json_path), "markdown": str(md_path)}
    assert doc["parameters"] == {"table": "fablink-prod-sessions"}
    md = md_path.read_text()
    assert md.startswith("# backup.verify: PASS\n\n**Verdict: pass**: all good\n")
    assert "| Parameter `table` | fablink-prod-sessions |" in md
    assert "| 1 | a \\| tricky step | ok |" in md and "pipes \\| and newlines |" in md
    assert "| nested.x | 1.25 |" in md and "| nested.none | — |" in md and "| nested.flag | yes |" in md
    assert "| nested.list | 1, 2 |" in md
    assert "2 reads, 0 writes." in md and "- `dynamodb:DescribeTable`: 1" in md

    # a second report started in the same second gets its own files
    again = make()
    again.conclude(ABORTED, "stopped")
    again.finish()
    second, _ = again.write(tmp_path / "reports")
    assert second.name == "20310506T070809Z-backup.verify-2.json"
    assert json.loads(json_path.read_text())["verdict"] == "pass"
