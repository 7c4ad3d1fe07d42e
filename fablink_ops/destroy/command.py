"""The command behind `invoke destroy`: refuse, plan, confirm, delete, list
what is left. Exit 0: nothing of the environment is left (apart from what is
kept on purpose); 1: something is left or a delete failed (run it again);
2: refused (production, deletion protection, no confirmation): nothing was
deleted.

Unlike provision, destroy asks for the typed environment name in the sandbox
too: whatever the target, what it deletes is gone.
"""

from __future__ import annotations

import sys
from rich.markup import escape
from rich.table import Table

from .. import paths
from ..output import ConsoleReporter
from ..session import Options, Session, open_session, take_run_lock
from ..session import fail as _fail
from ..stages import select_stages
from ..config import load_config
from ..engine import Context
from ..errors import GuardError, OpsError
from ..output import calls_line, print_json
from . import Inventory, delete, discover, production_refusal, refusal, still_needed
from .common import Doomed


def cmd_destroy(opts: Options, session: Session | None = None) -> int:
    """``session``: tests pass one on moto; otherwise it is opened here."""
    stages = select_stages(opts.stage)
    cfg = session.cfg if session else load_config(paths.config_path(opts.config))
    if cfg.project.production:  # before any AWS call: not even a read
        raise GuardError(production_refusal(cfg))
    s = session or open_session(opts)
    ctx = Context(s.cfg, s.target, reporter=ConsoleReporter(s.console, verbose=s.opts.verbose))
    inv = discover(ctx, stages)
    s.document = {"command": "destroy", "target": s.target.mode, "environment": cfg.project.environment_name,
                  "stages": stages, "plan": [d.to_json() for d in inv.deletable()], "kept": [d.to_json() for d in inv.kept()],
                  "blocked": [d.to_json() for d in inv.blocked()],
                  "notes": inv.notes}
    _show_plan(s, inv)
    why = refusal(ctx, inv) or still_needed(ctx, stages)
    if why:
        raise GuardError(why)
    if not inv.deletable():
        return _finish(s, ctx, stages, [], None)
    _confirm(s, len(inv.deletable()))
    # One operator at a time (fablink_ops/lock.py): a provision of the same
    # environment never runs while it is being destroyed. Under the lock,
    # read again: a run that held it may have changed what is there.
    held = take_run_lock(s, "destroy")
    try:
        ctx.writing = True  # from here on, discovery reads afresh
        inv = discover(ctx, stages)
        why = refusal(ctx, inv)
        if why:
            raise GuardError(why)
        deleted: list[Doomed] = []
        error: OpsError | None = None
        try:
            delete(ctx, inv, lambda d: (deleted.append(d), s.console.print(f"  deleted {d.stage} {d.kind} {d.name}", markup=False)))
        except OpsError as exc:
            error = exc
        return _finish(s, ctx, stages, deleted, error)
    finally:
        held.release()


def _show_plan(s: Session, inv: Inventory) -> None:
    if s.opts.json:
        return
    if inv.deletable():
        s.console.print(f"destroy {s.cfg.project.environment_name}: {len(inv.deletable())} resource(s) to delete, in this order:")
        s.console.print(_table(inv.deletable()))
    stores = [d for d in inv.deletable() if d.data]
    lost = [d for d in stores if d.data.startswith("NO ")]
    if stores:
        s.console.print(f"data stores: {len(stores)}, {len(stores) - len(lost)} with a final snapshot or backup (named above)")
    for d in lost:
        s.console.print(f"[bold red]data lost[/]: {escape(d.kind)} {escape(d.name)}: {escape(d.data)}")
    for d in inv.kept():
        s.console.print(f"kept: {d.kind} {d.name}: {d.keep}", markup=False)
    for d in inv.blocked():
        s.console.print(f"not deleted: {d.kind} {d.name}: {d.blocked}", markup=False)
    for note in inv.notes:
        s.console.print(f"note: {note}", markup=False)


def _table(doomed: list[Doomed]) -> Table:
    table = Table(show_header=True, header_style="bold", box=None, pad_edge=False)
    for col in ("stage", "resource", "name", "data / protection"):  # ids: in --json
        table.add_column(col, overflow="fold")
    for d in doomed:
        table.add_row(*map(escape, (d.stage, d.kind, d.name, "; ".join(x for x in (d.data, d.protected) if x))))
    return table


def _confirm(s: Session, count: int) -> None:
    """The typed environment name, whatever the target; --yes for pipelines."""
    if s.opts.yes:
        return
    name = s.cfg.project.environment_name
    if not sys.stdin.isatty():
        raise GuardError("refusing: destroy needs confirmation; no terminal to ask on, and no --yes given; nothing was changed")
    where = f"the LIVE account {s.cfg.project.account_id}" if s.target.is_live else "the sandbox"
    s.console.print(f"This DELETES {count} resource(s) of {name} in {where}. Type [bold]{name}[/] to go ahead:")
    s.console.print("> ", end="")
    answer = sys.stdin.readline().strip()
    if answer != name:
        raise GuardError(f"refusing: confirmation {answer!r} does not match {name!r}; nothing was changed")


def _finish(s: Session, ctx: Context, stages: list[str], deleted: list[Doomed], error: OpsError | None) -> int:
    after = discover(ctx, stages)  # what AWS still has, read afresh
    left = after.deletable() + after.blocked()
    s.document.update(deleted=[d.to_json() for d in deleted], left=[d.to_json() for d in left],
                      kept=[d.to_json() for d in after.kept()], calls=s.target.meter.summary())
    result = "error" if error else ("incomplete" if left else "ok")
    s.document["result"] = result
    if error:
        s.document["error"] = error.message
    if s.opts.json:
        print_json(s.document)
    else:
        for d in left:
            why = f": {d.blocked}" if d.blocked else ""
            s.console.print(f"left: {d.stage} {d.kind} {d.name} ({d.id}){why}", markup=False)
        for d in after.kept():
            s.console.print(f"kept: {d.stage} {d.kind} {d.name}: {d.keep}", markup=False)
        s.console.print(f"[bold]{'done' if result == 'ok' else 'stopped' if error else 'incomplete'}[/]: "
                        f"{len(deleted)} deleted, {len(left)} left, {len(after.kept())} kept. {calls_line(s.target.meter)}")
    if error:
        return _fail(s.opts, f"{error.message}; run invoke destroy again to carry on", error.exit_code, printed=True)
    if left:
        return _fail(s.opts, f"{len(left)} resource(s) of {s.cfg.project.environment_name} are left: "
                     + ", ".join(f"{d.kind} {d.name}" for d in left), 1, printed=True)
    return 0
