"""The one error type operators see.

Every expected failure (bad config, a guard refusing, a missing prerequisite
stage, an AWS error that survived its retries) is an OpsError: the CLI prints
its message as one line and exits with its code, never a traceback.
"""

USAGE = 2  # usage error, invalid config, guard refusal: nothing was changed
FAILED = 1  # an operation failed (or a runbook verdict is fail/aborted)


class OpsError(Exception):
    def __init__(self, message: str, exit_code: int = FAILED):
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code

    def __str__(self) -> str:
        return self.message


class ConfigError(OpsError):
    """The config file is unreadable or invalid. Raised before any AWS call."""

    def __init__(self, message: str):
        super().__init__(message, USAGE)


class GuardError(OpsError):
    """A safety guard refused (wrong account/region, no confirmation)."""

    def __init__(self, message: str):
        super().__init__(message, USAGE)


class AwsError(OpsError):
    """An AWS call failed after its retries, or a wait ended in failure."""

    def __init__(self, message: str):
        super().__init__(message, FAILED)
