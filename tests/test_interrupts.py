"""Ctrl-C at any moment (issue 20 item 4): exit 130 with the resume line from
the moment tasks.py loads to the end of the work; after the work is done, the
command's own exit code stands."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from fablink_ops import cli, interrupts, startup_sigint

from .conftest import ROOT
from .test_cli_e2e import _invoke_cmd, clean_env


@pytest.fixture
def our_handler():
    before = signal.getsignal(signal.SIGINT)
    interrupts.install()
    yield
    signal.signal(signal.SIGINT, before)


def test_ctrl_c_after_the_work_is_done_keeps_the_exit_code(our_handler, capsys):
    def command(opts):
        print("done: 3 of 3 changes applied")
        interrupts.done()
        os.kill(os.getpid(), signal.SIGINT)  # the operator presses Ctrl-C right after "done"
        time.sleep(0.05)
        return 0

    assert cli.run(command, cli.Options()) == 0
    assert "interrupted" not in capsys.readouterr().err


def test_ctrl_c_while_running_is_130_with_the_resume_line(our_handler, capsys):
    def command(opts):
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(1)
        return 0

    assert cli.run(command, cli.Options()) == 130
    assert capsys.readouterr().err == f"error: {interrupts.RESUME}\n"


def test_ctrl_c_while_tasks_py_loads_is_130_with_the_resume_line():
    """The first thing tasks.py does: from then on, before any command runs
    (its imports: boto3, rich, ... ~0.4 s), Ctrl-C is ours, not Invoke's
    (which exited 1 with no message)."""
    code = ("from fablink_ops import interrupts; interrupts.install(); import os, signal, time; "
            "os.kill(os.getpid(), signal.SIGINT); time.sleep(10)")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=30)
    assert result.returncode == 130
    assert result.stderr == f"error: {interrupts.RESUME}\n"


@pytest.mark.parametrize("delay", [0.8, 1.2, 2.0])
def test_ctrl_c_at_any_instant_of_a_real_command_exits_130_with_the_resume_line(tmp_path, delay):
    """A real `invoke plan`, interrupted while it loads, starts the sandbox, plans."""
    env = clean_env(FABLINK_SANDBOX_DIR=str(tmp_path / "sandbox"))
    proc = subprocess.Popen([*_invoke_cmd(), "plan"], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, stdin=subprocess.DEVNULL)
    try:
        time.sleep(delay)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        subprocess.run([*_invoke_cmd(), "sandbox.down"], cwd=ROOT, env=env, capture_output=True, timeout=60)
    if proc.returncode == 0:
        pytest.skip(f"the plan finished within {delay}s")
    assert proc.returncode == 130, err
    # still in Invoke's start-up on a busy machine: the start-up handler's line
    assert err.strip().splitlines()[-1] in (f"error: {interrupts.RESUME}", f"error: {startup_sigint.NOTHING_CHANGED}"), err
    assert "Traceback" not in err


# --------------------------------------------------------------------------
# before tasks.py: Invoke's own start-up (startup_sigint.py, armed by the
# _fablink_ops_sigint.pth line the package installs)


def _interrupt_when_imported(module: str) -> subprocess.CompletedProcess:
    """`invoke version`, Ctrl-C'd the moment ``module`` has been imported:
    Python reports each finished import (PYTHONPROFILEIMPORTTIME), so the
    instant is the same on a busy machine as on an idle one."""
    env = clean_env(PYTHONPROFILEIMPORTTIME="1")
    proc = subprocess.Popen([*_invoke_cmd(), "version"], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, stdin=subprocess.DEVNULL)
    seen = []
    for line in proc.stderr:
        seen.append(line)
        if line.startswith("import time:") and line.rsplit("|", 1)[-1].strip() == module:
            proc.send_signal(signal.SIGINT)
            break
    out, err = proc.communicate(timeout=60)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, "".join(seen) + err)


@pytest.mark.parametrize("module, said", [
    ("fablink_ops.startup_sigint", startup_sigint.NOTHING_CHANGED),  # site's .pth line: the earliest of ours
    ("invoke.program", startup_sigint.NOTHING_CHANGED),              # Invoke importing its modules
    ("invoke.loader", startup_sigint.NOTHING_CHANGED),               # the last of them
    ("fablink_ops.interrupts", None),                                 # tasks.py's first line: interrupts' own handler
])
def test_ctrl_c_in_invokes_start_up_is_130_and_one_line(module, said):
    result = _interrupt_when_imported(module)
    assert result.returncode == 130, result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last in (f"error: {said}" if said else f"error: {interrupts.RESUME}", f"error: {startup_sigint.NOTHING_CHANGED}"), last


def test_the_start_up_handler_arms_only_for_invoke_on_our_tasks_file(tmp_path):
    ours = ["/venv/bin/python3", "/venv/bin/invoke", "provision"]
    assert startup_sigint.should_arm(ours, ROOT / "docs")  # tasks.py found upwards, as Invoke finds it
    assert startup_sigint.should_arm(["python", "-m", "invoke", "plan"], ROOT)
    assert not startup_sigint.should_arm(["/venv/bin/python3", "/venv/bin/pytest"], ROOT)
    assert not startup_sigint.should_arm([*ours, "-c", "other"], ROOT)  # another collection
    (tmp_path / "tasks.py").write_text("from invoke import task\n")  # another project's
    assert not startup_sigint.should_arm(ours, tmp_path)
    # the .pth line's own handler (set before anything is imported) says the same line
    assert startup_sigint.NOTHING_CHANGED.encode() in (ROOT / "_fablink_ops_sigint.pth").read_bytes()
