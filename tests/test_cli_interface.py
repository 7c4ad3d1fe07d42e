"""The daily interface (issue 18): one meaning per short flag, quiet output by
default with the trace behind -v, heartbeats where there is no terminal,
sandbox notes as footnotes, and the operator steps at the end."""

from __future__ import annotations

import importlib
import io

from rich.console import Console

from fablink_ops.engine import CREATE, SKIP, Change
from fablink_ops.output import ConsoleReporter, make_console, plan_table, split_sandbox_notes


def _all_tasks(collection):
    for task in collection.tasks.values():
        yield task
    for sub in collection.collections.values():
        yield from _all_tasks(sub)


def test_a_short_flag_means_one_thing_on_every_task():
    tasks = importlib.import_module("tasks")
    meaning: dict[str, set[str]] = {}
    for task in _all_tasks(tasks.ns):
        for arg in task.get_arguments():
            for short in (n for n in arg.names if len(n) == 1):
                meaning.setdefault(short, set()).add(arg.name)
            if arg.name == "config":
                assert "c" in arg.names, task.name
    assert {s: names for s, names in meaning.items() if len(names) > 1} == {}
    assert set(meaning) <= set(tasks.SHORT_FLAGS.values())


def _reporter(terminal: bool, verbose: bool = False) -> tuple[ConsoleReporter, io.StringIO]:
    buffer = io.StringIO()
    console = Console(file=buffer, force_terminal=terminal, width=200, highlight=False)
    return ConsoleReporter(console, verbose=verbose), buffer


def test_the_dependency_trace_is_only_shown_with_verbose():
    change = Change(stage="network", kind="subnet", name="a", action=CREATE)
    quiet, quiet_out = _reporter(False)
    loud, loud_out = _reporter(False, verbose=True)
    for reporter in (quiet, loud):
        reporter.started(change, ["vpc:v"], ["x", "y"])
        reporter.applied(change, "subnet-1")
    assert "after vpc:v" not in quiet_out.getvalue() and "created subnet a" in quiet_out.getvalue()
    assert "after vpc:v" in loud_out.getvalue() and "running alongside: 2" in loud_out.getvalue()


def test_waits_without_a_terminal_print_a_heartbeat():
    reporter, out = _reporter(False)
    handle = reporter.wait_started("NAT gateway n", 600)
    for elapsed in range(0, 95, 5):
        reporter.wait_progress(handle, "pending", float(elapsed))
    reporter.wait_finished(handle, "available", 95.0)
    lines = out.getvalue().splitlines()
    assert lines[0] == "  waiting for NAT gateway n (budget 600s)"
    beats = [line for line in lines if "still waiting" in line]
    assert beats == [f"  still waiting for NAT gateway n: pending, {s}s of 600s budget" for s in (30, 60, 90)]
    assert lines[-1].strip() == "NAT gateway n: available after 95s"


def test_not_a_terminal_width_follows_columns(monkeypatch):
    monkeypatch.setenv("COLUMNS", "97")
    assert make_console(False).width == 97
    monkeypatch.delenv("COLUMNS")
    assert make_console(False).width == 160  # pytest's stdout is not a terminal: wide, so ids are never cut


def test_sandbox_notes_become_one_footnote():
    note = "the sandbox (moto) cannot emulate EKS add-ons: not installed here; on --live it is installed and waited for"
    assert split_sandbox_notes(note) == ("on --live it is installed and waited for", ["the sandbox (moto) cannot emulate EKS add-ons: not installed here"])
    assert split_sandbox_notes("pending DNS validation: record r; sandbox: no DNS validation") == (
        "pending DNS validation: record r", ["sandbox: no DNS validation"])
    changes = [Change(stage="eks", kind="eks-addon", name=n, action=SKIP, note=note) for n in ("vpc-cni", "other")]
    footnotes: list[str] = []
    out = io.StringIO()
    Console(file=out, width=300).print(plan_table(changes, footnotes=footnotes))
    assert footnotes == ["the sandbox (moto) cannot emulate EKS add-ons: not installed here"]
    assert out.getvalue().count("[1]") == 2 and "cannot emulate" not in out.getvalue()


def test_documents_diff_key_by_key():
    from fablink_ops.output import diff_text

    before = {"volume": {"size": 20, "type": "gp3", "encrypted": True}, "tags": {"Name": "n", "Stage": "eks"}, "imds": "required"}
    after = {"volume": {"size": 20, "type": "gp3", "encrypted": True}, "tags": {"Name": "n", "Stage": "eks", "Owner": "p"}, "imds": "required"}
    assert diff_text("template", before, after) == "template.tags.Owner: — → p"
    policy_before = '{"Statement": [{"Effect": "Allow", "Action": "s3:GetObject"}]}'
    policy_after = '{"Statement": [{"Effect": "Allow", "Action": "s3:*"}]}'
    assert diff_text("key policy", policy_before, policy_after) == "key policy.Statement[0].Action: s3:GetObject → s3:*"
    many_before = {f"k{i}": i for i in range(12)}
    many_after = {f"k{i}": i + 1 for i in range(12)}
    text = diff_text("body", many_before, many_after)
    assert text.count("→") == 8 and text.endswith("… and 4 more in body")
    assert diff_text("cidr", None, "10.0.0.0/16") == "cidr: — → 10.0.0.0/16"
    assert diff_text("subnets", ["a", "b"], ["a", "c"]) == "subnets: a, b → a, c"


def test_an_html_error_page_is_one_line_naming_the_call():
    from botocore.exceptions import ClientError

    from fablink_ops.target import wrap_aws_error

    page = "<!DOCTYPE html>\n<html><head><title>500 Internal Server Error</title></head>\n<body><h1>Internal Server Error</h1>\n<pre>Traceback ...</pre></body></html>"
    exc = ClientError({"Error": {"Code": "500", "Message": page}, "ResponseMetadata": {"HTTPStatusCode": 500}}, "DescribeVpcs")
    text = wrap_aws_error(exc, "plan").message
    assert text == "plan: 500: DescribeVpcs was answered with an HTML error page, HTTP 500 (500 Internal Server Error), not an AWS error"
    plain = ClientError({"Error": {"Code": "Throttling", "Message": "Rate\nexceeded"}}, "DescribeVpcs")
    assert wrap_aws_error(plain, "plan").message == "plan: Throttling: Rate exceeded"


def test_a_node_groups_desired_size_is_shown_as_the_autoscalers(cfg):
    from fablink_ops.resources.eks.nodegroups import _not_managed
    from tests.conftest import make_ctx

    ctx = make_ctx(cfg)
    assert _not_managed(ctx, {"scalingConfig": {"desiredSize": cfg.eks.nodegroups.desired_size}}) == []
    (note,) = _not_managed(ctx, {"scalingConfig": {"desiredSize": 5}})
    assert note.startswith(f"desired size 5 (config {cfg.eks.nodegroups.desired_size}): the autoscaler's, not managed here")


def test_output_reads_what_exists_and_says_what_does_not(aws, cfg, monkeypatch, capsys):
    import json

    from fablink_ops import cli
    from fablink_ops.output import make_console as console
    from tests.conftest import make_target
    from tests.util import provision

    _, changes = provision(cfg, stages=("network", "dynamodb"))
    monkeypatch.setattr(cli, "open_session", lambda opts: cli.Session(opts, cfg, make_target(cfg), console(opts.json)))
    assert cli.run(cli.cmd_output, cli.Options(json=True)) == 0
    doc = json.loads(capsys.readouterr().out)
    vpc = next(c for c in changes if c.kind == "vpc")
    assert doc["network"]["vpc"].startswith("vpc-") and doc["network"]["vpc_cidr"] == cfg.network.vpc_cidr
    assert sorted(doc["network"]["subnets"]) == sorted(f"fablink-prod-{t}-{z.suffix}" for z in cfg.network.zones for t in ("public", "private"))
    assert sorted(doc["dynamodb"]["tables"]) == sorted(t.name for t in cfg.dynamodb.tables)
    assert doc["eks"]["arn"] is None and doc["edge"]["nlb_dns"] is None  # not built: said, not invented
    assert doc["monitoring"]["alarm_topics"]["critical"].endswith(":fablink-prod-alarms-critical")
    assert vpc.action == "create"
    assert cli.run(cli.cmd_output, cli.Options()) == 0
    text = capsys.readouterr().out
    assert f"network.vpc: {doc['network']['vpc']}" in text and "eks.arn: (not built yet)" in text


def test_readme_lists_every_task_and_the_options_it_names_exist():
    """README's tasks table and the code agree (issue 18: it listed --yes for
    tasks that reject it, and a config file that did not exist)."""
    import re

    from tests.conftest import ROOT

    tasks = importlib.import_module("tasks")
    readme = (ROOT / "README.md").read_text()
    table = [line for line in readme.splitlines() if line.startswith("| `invoke ")]
    listed = {}
    for line in table:  # a row may name several tasks: `invoke sandbox.up` / `sandbox.down`
        for name in re.findall(r"`(?:invoke )?([a-z][\w]*(?:\.[\w]+)?)[^`]*`", re.split(r"(?<!\\)\|", line)[1]):
            listed[name] = line
    by_name = {}
    for task in _all_tasks(tasks.ns):
        by_name[task.name] = task
    names = set(tasks.ns.task_names)
    for name in names:
        short = name.removesuffix(".list").removesuffix(".run")
        assert short in listed or name in listed, f"{name} is not in README's tasks table"
    for name, line in listed.items():
        task = tasks.ns[name if name in tasks.ns.task_names else f"{name}.run" if name == "release" else f"{name}.list"]
        flags = {f"--{a.name.replace('_', '-')}" for a in task.get_arguments()}
        for flag in re.findall(r"--[a-z][a-z-]*", re.split(r"(?<!\\)\|", line)[1]):
            assert flag in flags, f"README's {name} row names {flag}, which the task does not take"
    for path in re.findall(r"`(config/[\w.]+\.toml)`", readme):
        assert (ROOT / path).is_file(), path
