"""The image each colour runs, as the release runbook recorded it on the
stage: what the workload stage renders per colour (the contract between the
workload stage and ``invoke release``). Here, below both, so a stage need not
import a runbook."""

from __future__ import annotations

from .common import COLOUR_VARIABLE, COLOURS, IMAGE_VARIABLES


def colour_images(stage: dict, default_image: str) -> dict[str, str]:
    """colour -> image, from the stage's image variables (the contract with the
    workload stage). A colour the release never deployed runs ``default_image``
    if it is live, and is not rendered otherwise. A bare tag (``v2``) is the
    default image's repository at that tag."""
    variables = stage.get("variables") or {}
    live = variables.get(COLOUR_VARIABLE) if variables.get(COLOUR_VARIABLE) in COLOURS else "blue"
    out = {}
    for colour in COLOURS:
        image = variables.get(IMAGE_VARIABLES[colour]) or (default_image if colour == live else None)
        if image:
            out[colour] = with_repository(image, default_image)
    return out


def with_repository(image: str, default_image: str) -> str:
    if "/" in image or ":" in image:
        return image
    repository = default_image.rsplit(":", 1)[0] if ":" in default_image.rsplit("/", 1)[-1] else default_image
    return f"{repository}:{image}"
