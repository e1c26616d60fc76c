"""The studio's answers to calls it cannot serve, wherever they fail: in our handlers, in
Gradio's own reading of the inputs, in the upload route, or when the server is stopping.

Every refusal reaches the caller as words that say what to do and reaches the log as one line
(no traceback: a bad input is not a fault of the server, and a script must not flood the log).
"""
from __future__ import annotations

import asyncio
import functools
import logging
import re

import gradio as gr
from gradio.exceptions import InvalidPathError
from gradio.server_messages import ProcessCompletedMessage
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from core.inference import InputError

LOG = logging.getLogger("spectradepth.studio")
ECHO_CHARS = 80          # user text quoted back in a message is cut to this
MESSAGE_CHARS = 500
RESTARTING = "the studio is restarting, try again in a minute"
INTERNAL = ("the studio could not finish this request (an error on our side, logged); try again, "
            "or with another input")
_LONG_QUOTE = re.compile(r"""(['"])([^'"]{%d,})\1""" % (ECHO_CHARS + 1))
_LONG_WORD = re.compile(r"\S{%d,}" % (ECHO_CHARS + 1))


def cut_echoes(message: str) -> str:
    """``message`` with every quoted run or unbroken word longer than ECHO_CHARS cut (what a
    caller sent, quoted back), and the whole kept short."""
    message = _LONG_QUOTE.sub(lambda m: f"{m[1]}{m[2][:ECHO_CHARS]}…{m[1]}", message)
    message = _LONG_WORD.sub(lambda m: f"{m[0][:ECHO_CHARS]}…", message)
    return message if len(message) <= MESSAGE_CHARS else message[:MESSAGE_CHARS] + "…"


def user_error(message: str) -> gr.Error:
    """A refusal for the visitor to read, logged as one line."""
    message = cut_echoes(message)
    LOG.info("refused: %s", message.replace("\n", " ")[:300])
    return gr.Error(message, print_exception=False)


def refusing(fn):
    """A handler whose InputError (from core.inference) reaches the visitor as a refusal in words."""
    @functools.wraps(fn)
    def handler(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except InputError as err:
            raise user_error(str(err)) from None
    return handler


def _endpoint(block_fn) -> str:
    return f"/{block_fn.api_name}" if block_fn.api_name else (block_fn.name or "this event")


def _labels(block_fn) -> list[str]:
    """The labels of the values a call sends (session state is the server's, not sent)."""
    return [getattr(c, "label", None) or type(c).__name__.lower() for c in block_fn.inputs
            if not isinstance(c, gr.State)]


def input_refusal(block_fn, inputs: list, error: Exception) -> str:
    """Words for inputs Gradio could not read: which value, what was sent, what to send."""
    if isinstance(error, InvalidPathError):
        return (f"{_endpoint(block_fn)} reads only files uploaded to this studio: upload each image "
                "(gradio_client's handle_file does) instead of naming a path on the server")
    labels = _labels(block_fn)
    sent = len(inputs) - (len(block_fn.inputs) - len(labels))   # Gradio fills the state slots itself
    expects = f"{_endpoint(block_fn)} takes {len(labels)} values ({', '.join(labels)})"
    if len(inputs) < len(block_fn.inputs):
        return f"{expects}; this call sent {sent}: send one value for each"
    index = re.search(r"at index (\d+)", str(error))
    if index is not None and int(index.group(1)) < len(block_fn.inputs):
        component = block_fn.inputs[int(index.group(1))]
        label = getattr(component, "label", None) or type(component).__name__.lower()
        value = inputs[int(index.group(1))]
        if isinstance(error.__cause__, gr.Error):   # Gradio's own words (a value out of a slider's range)
            return f"{label}: {error.__cause__.message}"
        kind = "a file" if isinstance(component, gr.File) else f"a {type(component).__name__.lower()} value"
        return (f"{label}: could not read {str(value)[:ECHO_CHARS]!r} (a {type(value).__name__}) as {kind}; "
                f"{expects}")
    return f"{expects}; this call's values could not be read ({type(error).__name__})"


class StudioBlocks(gr.Blocks):
    """gr.Blocks whose every call ends in words: Gradio-level refusals (wrong count or type of
    values, files from outside its cache) and faults of our own alike, and which can tell the
    calls in flight that it is restarting."""

    loop: asyncio.AbstractEventLoop | None = None

    def run_startup_events(self):
        super().run_startup_events()
        self.loop = asyncio.get_running_loop()   # called inside the server's loop

    async def preprocess_data(self, block_fn, inputs, state, explicit_call=False):
        try:
            return await super().preprocess_data(block_fn, inputs, state, explicit_call)
        except gr.Error as err:
            raise user_error(f"{_endpoint(block_fn)}: {err.message}") from None
        except Exception as err:   # noqa: BLE001 - whatever Gradio could not read is refused in words
            raise user_error(input_refusal(block_fn, list(inputs), err)) from None

    async def process_api(self, block_fn, inputs, *args, **kwargs):
        try:
            return await super().process_api(block_fn, inputs, *args, **kwargs)
        except gr.Error:
            raise
        except Exception:   # noqa: BLE001 - a fault of ours: logged in full, answered in words
            LOG.exception("fault in %s", getattr(block_fn, "name", block_fn))
            raise gr.Error(INTERNAL, print_exception=False) from None

    def tell_calls_in_flight(self, message: str = RESTARTING) -> int:
        """Answer every queued or running call with ``message`` (thread-safe); how many there were."""
        queue = getattr(self, "_queue", None)
        if queue is None or self.loop is None or self.loop.is_closed():
            return 0
        events = list(queue.event_ids_to_events.values())
        for event in events:
            reply = ProcessCompletedMessage(output={"error": message}, success=False, title="Restarting")
            self.loop.call_soon_threadsafe(queue.send_message, event, reply)
        return len(events)


class UploadGuard:
    """ASGI middleware: an upload Gradio cannot take (an empty file name, a broken form) is
    answered 400 with words instead of a bare 500."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].endswith("/upload"):
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as err:   # noqa: BLE001 - refused in words, one log line
            if started:
                raise
            LOG.info("refused upload: %s", type(err).__name__)
            response = PlainTextResponse("upload refused: send each image as a multipart file with a file name "
                                         "(PNG, JPEG or TIFF)", status_code=400)
            await response(scope, receive, send)
