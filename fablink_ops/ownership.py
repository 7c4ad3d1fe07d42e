"""The ownership guard: a resource found by name is changed only if it is ours.

DESIGN.md principle 9 ("Only ours") and issue 18: a copy of prod.toml with
only ``environment = "staging"`` changed used to plan, and carry out, updates
on prod's resources (re-tagging the VPC ``Environment: prod -> staging``,
attaching a staging gateway to it). Every stage finds its resources by name
and compares their tags with the ones it wants, and every such comparison
yields ``Diff("tag <Key>", found, wanted)`` for our tags that are missing or
wrong. So the plan itself says, per resource, whether the ownership tags
(``ManagedBy``, ``Project``, ``Environment``) match this config: no stage has
to be taught the rule, and a new stage that compares tags is guarded too.

- A resource whose ownership tag holds *another* value belongs to someone
  else (another environment, another project, another tool): refused,
  always, whatever the flags.
- A resource with our name and none of those values set (or only some, none
  conflicting) is unowned: refused unless the operator adopts it explicitly
  (``--adopt``); adopting means the plan's tag updates are carried out.

Both refusals happen before any write (exit 2). The guard covers exactly the
resources whose tags the stages compare. That includes the sandbox's tag gaps
(node groups, REST APIs, API keys, ... : kit.SANDBOX_TAG_GAP), whose drift is
compared, and so guarded, but only corrected on --live.
"""

from __future__ import annotations

from dataclasses import dataclass

from .engine import Change
from .errors import GuardError

OWNERSHIP_KEYS = ("ManagedBy", "Project", "Environment")


@dataclass(frozen=True)
class Stranger:
    """A planned-on resource that is not (or not yet) ours."""

    change: Change
    found: dict[str, str | None]  # the ownership tags that differ, as found (None: absent)

    @property
    def foreign(self) -> bool:
        """Tagged for someone else (never adoptable), not merely untagged."""
        return any(v is not None for v in self.found.values())

    def describe(self) -> str:
        tags = ", ".join(f"{k}={v}" if v is not None else f"no {k}" for k, v in self.found.items())
        return f"{self.change.kind} {self.change.name} ({tags})"


def strangers(changes: list[Change]) -> list[Stranger]:
    """The changes that would act on a resource not tagged as this environment's."""
    out: list[Stranger] = []
    for change in changes:
        found = {
            d.attribute[len("tag "):]: d.before
            for d in change.diffs
            if d.attribute.startswith("tag ") and d.attribute[len("tag "):] in OWNERSHIP_KEYS
        }
        if found:
            out.append(Stranger(change, dict(sorted(found.items()))))
    return out


def check(changes: list[Change], adopt: bool) -> list[Stranger]:
    """Refuse (GuardError, exit 2) when the plan touches what is not ours.

    Returns the unowned resources being adopted (``adopt``), so the caller
    can say so; raises for anything tagged for someone else, and for unowned
    resources without ``adopt``.
    """
    found = strangers(changes)
    foreign = [s for s in found if s.foreign]
    unowned = [s for s in found if not s.foreign]
    if foreign:
        names = "; ".join(s.describe() for s in foreign)
        raise GuardError(
            f"refusing: {len(foreign)} resource(s) with this environment's names belong to another "
            f"environment, project or tool, and are never changed: {names}; nothing was changed"
        )
    if unowned and not adopt:
        names = "; ".join(s.describe() for s in unowned)
        raise GuardError(
            f"refusing: {len(unowned)} resource(s) with this environment's names are not tagged as ours: {names}; "
            "if they are this environment's, run again with --adopt to tag and manage them; nothing was changed"
        )
    return unowned
