"""The run lock (fablink_ops/lock.py) on moto: one holder at a time, stale
locks taken over, only our own lock released, `invoke unlock` confirmed."""

from __future__ import annotations

import threading

import pytest

from fablink_ops import cli, lock
from fablink_ops.errors import GuardError

from .conftest import make_target

ENV = "fablink-prod"


def run_lock(cfg, command="provision", clock=None, lease=600.0, said=None):
    kwargs = {"clock": clock} if clock else {}
    return lock.RunLock(make_target(cfg), ENV, "fablink", command, lease=lease,
                        say=(said.append if said is not None else (lambda t: None)), **kwargs)


def test_a_second_holder_is_refused_naming_the_first(aws, cfg):
    first = run_lock(cfg, "provision")
    first.acquire()
    with pytest.raises(GuardError) as refused:
        run_lock(cfg, "drill.failover").acquire()
    assert refused.value.exit_code == 2
    assert f"pid " in refused.value.message and "running `provision`" in refused.value.message
    assert "invoke unlock" in refused.value.message
    first.release()
    second = run_lock(cfg, "drill.failover")
    second.acquire()  # free again once released
    assert lock.read(make_target(cfg), ENV).command == "drill.failover"
    second.release()
    assert lock.read(make_target(cfg), ENV) is None


def test_many_at_the_same_instant_exactly_one_wins(aws, cfg):
    barrier = threading.Barrier(6)
    won, lost = [], []

    def contend():
        held = run_lock(cfg)
        barrier.wait()
        try:
            held.acquire()
            won.append(held)
        except GuardError:
            lost.append(held)

    threads = [threading.Thread(target=contend) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(won) == 1 and len(lost) == 5
    won[0].release()


def test_a_stale_lock_is_taken_over_and_said_so(aws, cfg):
    now = [1_000_000.0]
    dead = run_lock(cfg, clock=lambda: now[0], lease=60)
    dead.acquire()
    dead._stop.set()  # killed: it renews no more
    with pytest.raises(GuardError):
        run_lock(cfg, clock=lambda: now[0] + 30).acquire()  # within its lease
    said: list[str] = []
    taker = run_lock(cfg, "backup.verify", clock=lambda: now[0] + 61, said=said)
    taker.acquire()
    assert said and "took over the stale lock" in said[0] and "provision" in said[0]
    dead.release()  # the dead run's release (if it ever came back) does not free the taker's lock
    assert lock.read(make_target(cfg), ENV).run_id == taker.run_id
    taker.release()


def test_the_lease_is_renewed_while_held(aws, cfg):
    held = run_lock(cfg, lease=0.2)
    held.acquire()
    first = lock.read(make_target(cfg), ENV).expires
    threading.Event().wait(0.3)
    assert lock.read(make_target(cfg), ENV).expires > first
    held.release()


def test_an_ambiguous_put_that_went_through_is_ours(aws, cfg):
    held = run_lock(cfg)
    held.acquire()
    held._renewer = None
    held.acquire()  # the same put again (a retry after a lost answer): still ours, no refusal
    held.release()


def test_unlock_needs_the_typed_name(aws, cfg, monkeypatch, capsys):
    run_lock(cfg).acquire()
    monkeypatch.setattr(cli, "open_session", lambda opts: _session(cfg, opts))
    monkeypatch.setattr("sys.stdin.isatty", lambda: False)
    assert cli.run(cli.cmd_unlock, cli.Options()) == 2
    assert "no terminal" in capsys.readouterr().err
    assert lock.read(make_target(cfg), ENV) is not None
    assert cli.run(cli.cmd_unlock, cli.Options(yes=True)) == 0
    assert "removed the lock of" in capsys.readouterr().out
    assert lock.read(make_target(cfg), ENV) is None
    assert cli.run(cli.cmd_unlock, cli.Options(yes=True)) == 0
    assert "is not locked" in capsys.readouterr().out


def _session(cfg, opts):
    from fablink_ops.output import make_console
    return cli.Session(opts, cfg, make_target(cfg, wait_scale=0.01), make_console(opts.json), identity="sandbox")


@pytest.mark.parametrize("which", ["verify", "cleanup"])
def test_the_acting_backup_runbooks_refuse_while_another_run_holds_the_lock(aws, cfg, which, monkeypatch, tmp_path, capsys):
    from .backup_util import run_sweep, run_verify
    monkeypatch.chdir(tmp_path)
    run_lock(cfg, "provision").acquire()
    run = run_verify(cfg) if which == "verify" else run_sweep(cfg)
    assert run.code == 2 and run.doc is None  # refused: nothing done, no evidence
    assert "is locked by" in capsys.readouterr().err
    assert run.target.meter.writes == 0


def test_verify_checks_only_takes_no_lock(aws, cfg, monkeypatch, tmp_path):
    from .backup_util import run_verify
    monkeypatch.chdir(tmp_path)
    run_lock(cfg, "provision").acquire()
    run = run_verify(cfg, checks_only=True)
    assert run.code != 2  # read-only: runs whoever holds the lock
