"""Step-up confirmation: for the riskiest policy rows, the requester types the service name before the request exists.

A row with `confirm_phrase = true` makes Discord open a modal asking for the service name; the
request is submitted only with what was typed, and the pipeline — not the modal — decides: a phrase
that is missing or wrong refuses the request with a plain sentence, audited like any refusal. The CLI
fallback passes the phrase with `--phrase`.
"""

from __future__ import annotations

from bot.errors import PermissionDenied
from bot.pipeline.policy import Requirement


def check_phrase(req: Requirement, service: str, action: str, phrase: str | None, *, cli: bool = False) -> None:
    """Refuse (`PermissionDenied`) unless the row needs no phrase or `phrase` is the service name (surrounding
    spaces aside)."""
    if not req.confirm_phrase:
        return
    verb = action.replace("_", " ")
    if phrase is None:
        how = f"run it again with --phrase {service}" if cli else f"type the service name ({service}) to confirm it"
        raise PermissionDenied(f"This {verb} needs a step-up confirmation: {how}. Nothing was requested.")
    if phrase.strip() != service:
        raise PermissionDenied(f"That is not the service name, so the {verb} was not requested. Type {service} "
                               "exactly to confirm it.")

