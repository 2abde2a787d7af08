"""Interaction callbacks and the interaction webhook (followups, @original); no Authorization header.

Rules enforced as Discord does: the first callback within 3 s of dispatch (else 404 10062), only
one callback (else 400 40060), followups only after it, and the token valid for 15 minutes. Every
message a response creates carries ``interaction_metadata``, so the bot can find it in history.
"""

from __future__ import annotations

from aiohttp import web

from bot.sandbox.emulator.http_utils import (
    ALREADY_ACKNOWLEDGED,
    INVALID_WEBHOOK_TOKEN,
    UNKNOWN_INTERACTION,
    UNKNOWN_MESSAGE,
    UNKNOWN_WEBHOOK,
    DiscordError,
    no_content,
    not_found,
    read_body,
    read_message,
    reply,
    snowflake,
    state_of,
)
from bot.sandbox.emulator.interactions import (
    APPLICATION_COMMAND,
    AUTOCOMPLETE,
    CALLBACK_DEADLINE_S,
    COMPONENT,
    MODAL_SUBMIT,
    InteractionCallback,
    InteractionHandle,
)
from bot.sandbox.emulator.models import JSON, LOADING_FLAG, Message, Upload
from bot.sandbox.emulator.state import EmulatorState
from bot.sandbox.emulator.validation import INVALID_FORM_BODY, PayloadError, check_choices, check_message, check_modal

routes = web.RouteTableDef()

MESSAGE, DEFERRED_MESSAGE, DEFERRED_UPDATE, UPDATE, AUTOCOMPLETE_RESULT, MODAL = 4, 5, 6, 7, 8, 9
ALLOWED_CALLBACKS = {
    APPLICATION_COMMAND: {MESSAGE, DEFERRED_MESSAGE, MODAL},
    COMPONENT: {MESSAGE, DEFERRED_MESSAGE, DEFERRED_UPDATE, UPDATE, MODAL},
    AUTOCOMPLETE: {AUTOCOMPLETE_RESULT},
    MODAL_SUBMIT: {MESSAGE, DEFERRED_MESSAGE, DEFERRED_UPDATE, UPDATE},
}
APPLICATION_COMMAND_MESSAGE = 20


def _refuse(handle: InteractionHandle, status: int, code: int, message: str) -> DiscordError:
    handle.refused.append({"status": status, "code": code, "message": message, "after_s": handle.elapsed_s()})
    return DiscordError(status, code, message)


def _apply_callback(
    state: EmulatorState, handle: InteractionHandle, kind: int, data: JSON, files: list[Upload]
) -> Message | None:
    """Check and apply one callback; return the message it created or changed, if any."""
    if kind in (MESSAGE, UPDATE):
        check_message(data, creating=kind == MESSAGE, file_count=len(files))
    elif kind == AUTOCOMPLETE_RESULT:
        check_choices(data.get("choices"))
    elif kind == MODAL:
        check_modal(data)
    if kind in (MESSAGE, DEFERRED_MESSAGE):
        ephemeral = bool(int(data.get("flags") or 0) & 64)
        body = data if kind == MESSAGE else {"flags": LOADING_FLAG}
        message = state.create_message(
            handle.channel_id, state.bot_user.id, body, files, ephemeral_for=handle.user_id if ephemeral else None,
            interaction_id=handle.id, webhook=True, message_type=APPLICATION_COMMAND_MESSAGE,
            interaction_metadata=handle.metadata(),
        )
        handle.original_id = message.id
        return message
    if kind in (UPDATE, DEFERRED_UPDATE) and handle.message_id is not None:
        clicked = state.messages.get(handle.message_id)
        if clicked is not None and kind == UPDATE:
            state.edit_message(clicked, data, files)
        return clicked
    if kind == AUTOCOMPLETE_RESULT:
        handle.choices = list(data.get("choices") or [])
    elif kind == MODAL:
        handle.modal = data
    return None


@routes.post("/api/v10/interactions/{interaction}/{token}/callback")
async def create_callback(request: web.Request) -> web.Response:
    """The initial response. Answered with the callback resource JSON (never 204)."""
    state = state_of(request)
    handle = state.interactions.get(snowflake(request, "interaction"))
    if handle is None or handle.token != request.match_info["token"]:
        raise not_found(UNKNOWN_INTERACTION, "interaction")
    if handle.callback is not None:
        raise _refuse(handle, 400, ALREADY_ACKNOWLEDGED, "Interaction has already been acknowledged.")
    elapsed = handle.elapsed_s()
    if elapsed > CALLBACK_DEADLINE_S:
        raise _refuse(handle, 404, UNKNOWN_INTERACTION, f"Unknown interaction (callback after {elapsed:.2f}s > 3s)")
    body, files = await read_body(request)
    kind = int(body.get("type") or 0)
    data: JSON = body.get("data") or {}
    if kind not in ALLOWED_CALLBACKS.get(handle.type, set()):
        problem = f"Callback type {kind} is not valid for interaction type {handle.type}."
        handle.refused.append({"status": 400, "code": INVALID_FORM_BODY, "message": problem})
        raise PayloadError([("type", problem)])
    try:
        message = _apply_callback(state, handle, kind, data, files)
    except PayloadError as exc:
        error = exc.within("data") if exc.code == INVALID_FORM_BODY else exc
        handle.refused.append({"status": error.status, "code": error.code, "message": error.summary()})
        raise error from None
    handle.callback = InteractionCallback(kind, data, files, at_ms=handle.elapsed_s() * 1000)
    if message is not None and kind == DEFERRED_UPDATE:
        handle.baseline_edits = message.edited
    interaction: JSON = {"id": str(handle.id), "type": handle.type}
    resource: JSON = {"type": kind}
    if message is not None:
        interaction.update(
            response_message_id=str(message.id),
            response_message_loading=message.loading,
            response_message_ephemeral=message.ephemeral,
        )
        resource["message"] = state.message_json(message)
    return reply({"interaction": interaction, "resource": resource})


def _webhook_handle(request: web.Request) -> InteractionHandle:
    state = state_of(request)
    token = request.match_info["token"]
    if snowflake(request, "app") != state.application_id:
        raise not_found(UNKNOWN_WEBHOOK, "Webhook")
    handle = state.interaction_tokens.get(token)
    if handle is None:
        raise not_found(UNKNOWN_WEBHOOK, "Webhook")
    if not handle.token_valid():
        raise DiscordError(401, INVALID_WEBHOOK_TOKEN, "Invalid Webhook Token")
    if handle.callback is None:
        raise _refuse(handle, 404, UNKNOWN_WEBHOOK, "Unknown Webhook (no initial response yet)")
    return handle


def _webhook_message(request: web.Request, handle: InteractionHandle) -> Message:
    state = state_of(request)
    raw = request.match_info["message"]
    message_id = handle.original_id if raw == "@original" else snowflake(request, "message")
    if message_id is None or not handle.owns_message(message_id) or message_id not in state.messages:
        raise not_found(UNKNOWN_MESSAGE, "Message")
    return state.messages[message_id]


@routes.post("/api/v10/webhooks/{app}/{token}")
async def create_followup(request: web.Request) -> web.Response:
    """A followup; after a deferred response the first one fills the "thinking" @original, as on Discord."""
    state = state_of(request)
    handle = _webhook_handle(request)
    payload, files = await read_message(request, creating=True)
    original = handle.original
    if original is not None and original.loading and handle.response_type == DEFERRED_MESSAGE:
        message = state.edit_message(original, payload, files)
        message.edited = 0
        message.edited_at = None
    else:
        ephemeral = bool(int(payload.get("flags") or 0) & 64)
        message = state.create_message(
            handle.channel_id, state.bot_user.id, payload, files, interaction_id=handle.id, webhook=True,
            ephemeral_for=handle.user_id if ephemeral else None,
            interaction_metadata=handle.metadata(original_response_id=handle.original_id),
        )
    handle.followup_ids.append(message.id)
    if request.query.get("wait", "false").lower() in ("1", "true"):
        return reply(state.message_json(message))
    return no_content()


@routes.get("/api/v10/webhooks/{app}/{token}/messages/{message}")
async def get_webhook_message(request: web.Request) -> web.Response:
    """@original or a followup."""
    handle = _webhook_handle(request)
    return reply(state_of(request).message_json(_webhook_message(request, handle)))


@routes.patch("/api/v10/webhooks/{app}/{token}/messages/{message}")
async def edit_webhook_message(request: web.Request) -> web.Response:
    """Edit @original (which also ends a deferred "thinking" state) or a followup."""
    state = state_of(request)
    handle = _webhook_handle(request)
    message = _webhook_message(request, handle)
    payload, files = await read_message(request, creating=False)
    state.edit_message(message, payload, files)
    return reply(state.message_json(message))


@routes.delete("/api/v10/webhooks/{app}/{token}/messages/{message}")
async def delete_webhook_message(request: web.Request) -> web.Response:
    """Delete @original or a followup."""
    state = state_of(request)
    handle = _webhook_handle(request)
    state.delete_message(_webhook_message(request, handle))
    return no_content()
