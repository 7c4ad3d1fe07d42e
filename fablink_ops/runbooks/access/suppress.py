"""Suppressions: accepted findings, each with a reason and an expiry date.

A finding is suppressed by an entry naming its check id and its resource
(``*`` and ``?`` match any characters, for ARNs with generated parts), until
the entry's ``expires`` date (inclusive, UTC). After that the finding is open
again and says which suppression expired, so nobody accepts a risk forever by
forgetting it. Entries that match nothing are reported, to be removed.
"""

from __future__ import annotations

from datetime import date
from fnmatch import fnmatchcase

from ...config import Suppression
from .checks import SUPPRESSED, Finding


def matches(sup: Suppression, finding: Finding) -> bool:
    return sup.check == finding.check and fnmatchcase(finding.resource, sup.resource)


def apply(findings: list[Finding], suppressions: tuple[Suppression, ...], today: date) -> list[Suppression]:
    """Mark suppressed findings; returns the suppressions that matched no finding."""
    used: set[int] = set()
    for finding in findings:
        hits = [(i, sup) for i, sup in enumerate(suppressions) if matches(sup, finding)]
        active = [(i, sup) for i, sup in hits if sup.expires >= today]
        if active:
            i, sup = active[0]
            finding.status, finding.suppression = SUPPRESSED, sup
            used.add(i)
        elif hits:
            i, sup = max(hits, key=lambda hit: hit[1].expires)
            finding.expired = sup
            used.add(i)
    return [sup for i, sup in enumerate(suppressions) if i not in used]
