"""The blue-green release runbook: ``invoke release``, ``release.rollback``,
``release.status``. Human runbook: runbooks/release.md.

    stage.py    the stage's colour variables and canary settings (API Gateway)
    gates.py    stop alarms, the new colour's targets, the canary's metrics
    run.py      preflight, deploy, checks, canary steps, approval, promotion, rollback
    command.py  the three commands: options, evidence, exit codes
"""

from __future__ import annotations

from .command import PERMISSIONS, ReleaseOptions, command, rollback_command, status_command
from .stage import colour_images

__all__ = ["PERMISSIONS", "ReleaseOptions", "colour_images", "command", "rollback_command", "status_command"]
