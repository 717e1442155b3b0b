"""POST /eras and /bank-files: one file per request, published as `takeback publish` publishes it, exactly once;
GET /inputs/{id}: what became of it.

* The body is read in chunks and given up as soon as it passes TAKEBACK_FEED_MAX_BYTES (413); a Content-Length
  above the limit is answered 413 before a byte of the body is read. A body holds at most that limit in memory.
* A retried request publishes once: its id comes from the `Idempotency-Key` header, or else from the body's
  SHA-256, and the worker's journal (streams/feeds/delivery.py, in TAKEBACK_DATA_DIR) says whether that id was
  published. A key sent again with another body is a 409.
* The answer is `202 Accepted` with the input id and a Location to poll: GET /inputs/{id} reads the receipts and
  dead-letter topics from the offsets they had when the input was published (from their start for an id this
  worker did not publish, e.g. a watch-folder input) and says `pending`, `ingested` or `dead_lettered` with each
  dead letter's code and message (never patient data). An answer that is no longer pending is kept in memory.

Access is the API's (streams/security.py): with TAKEBACK_API_TOKEN set, a request needs the bearer token; a
worker listening beyond loopback refuses to start without one.
"""

from __future__ import annotations

import asyncio
from typing import Any

from faust.web import Request, Response, View

from schemas import DeadLetter, Receipt
from streams.container import TakebackApp
from streams.domain.bank.detect import bank_file_format
from streams.feeds.delivery import Journal, JournalRecord, OncePublisher, content_hash, input_id_for, not_an_input
from streams.kafka_io import end_offsets_of, read_since
from streams.settings import Settings

ID_PREFIX = "http"
JOURNAL_FILE = "http-inputs.jsonl"
MAX_KEY_LENGTH = 200
CHUNK_BYTES = 64 * 1024


class BodyTooLarge(Exception):
    pass


class HttpFeed:
    """The worker's journal of posted inputs and the statuses it has worked out."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._journal: Journal | None = None
        self._lock = asyncio.Lock()  # one publish at a time: two retries of one request must not both publish
        self._final: dict[str, dict[str, Any]] = {}  # input id -> its status once not pending

    @property
    def journal(self) -> Journal:
        if self._journal is None:  # opened on first use: the worker creates its data folder when it starts
            self._journal = Journal(self.settings.data_dir / JOURNAL_FILE)
        return self._journal

    async def accept(self, name: str, data: bytes, key: str | None) -> tuple[int, dict[str, Any]]:
        digest = content_hash(data)
        input_id = input_id_for(ID_PREFIX, f"key:{key}" if key else f"sha256:{digest}")
        async with self._lock:
            earlier = self.journal.inputs.get(input_id)
            if earlier is not None and earlier.sha256 != digest:
                return 409, {"error": "this Idempotency-Key was used for another body", "input_id": input_id}
            if earlier is None or earlier.state != "published":
                names = self.settings.topic_names
                record = JournalRecord(input_id=input_id, state="publishing", sha256=digest, name=name, size=len(data))
                record.status_since = await end_offsets_of(self.settings, [names.receipts, names.dead_letters])
                async with OncePublisher(self.settings, self.journal) as publisher:
                    await publisher.publish(record, data)
        return 202, {"input_id": input_id, "status": "pending", "location": f"/inputs/{input_id}"}

    async def status(self, input_id: str) -> dict[str, Any] | None:
        if input_id in self._final:
            return self._final[input_id]
        record = self.journal.published(input_id)
        since = record.status_since if record is not None else None
        names = self.settings.topic_names
        messages = await read_since(self.settings, [names.receipts, names.dead_letters], since)
        answer = input_status(input_id, record, messages, names.receipts)
        if answer is not None and answer["status"] != "pending":
            self._final[input_id] = answer
        return answer


def _ours(source_id: str, input_id: str) -> bool:
    return source_id == input_id or source_id.startswith(input_id + ".")


def input_status(input_id: str, record: JournalRecord | None, messages: list, receipts_topic: str) -> dict | None:
    """An input's status from the receipts and dead letters read; None when nothing names an input unknown here."""
    ingested: dict[str, Receipt] = {}
    dead: dict[str, DeadLetter] = {}
    needle = input_id.encode()
    for message in messages:
        if message.value is None or needle not in message.value:  # most are other inputs': skip them unparsed
            continue
        if message.topic == receipts_topic:
            receipt = Receipt.model_validate_json(message.value)
            if receipt.stage == "ingested" and _ours(receipt.source_id, input_id):
                ingested[receipt.source_id] = receipt
        else:
            letter = DeadLetter.model_validate_json(message.value)
            if _ours(letter.source.source_id or "", input_id):
                dead[letter.dead_letter_id] = letter
    if record is None and not ingested:
        return None
    pieces = record.pieces if record is not None else len(ingested)
    status = "pending" if len(ingested) < pieces else "dead_lettered" if dead else "ingested"
    return {
        "input_id": input_id,
        "status": status,
        "file": record.name if record is not None else next(iter(ingested.values())).file,
        "pieces": pieces,
        "pieces_ingested": len(ingested),
        "remittances": sum(r.remittances for r in ingested.values()),
        "dead_letters": [
            {
                "dead_letter_id": d.dead_letter_id,
                "stage": d.stage,
                "error_code": d.error_code,
                "message": d.message,
                "byte_offset": d.source.byte_offset,
            }
            for d in dead.values()
        ],
    }


async def read_body(request: Request, limit: int) -> bytes:
    """The request's body, read in chunks; BodyTooLarge as soon as it is known to pass `limit`."""
    if request.content_length is not None and request.content_length > limit:
        raise BodyTooLarge
    chunks: list[bytes] = []
    total = 0
    async for chunk in request.content.iter_chunked(CHUNK_BYTES):
        total += len(chunk)
        if total > limit:
            raise BodyTooLarge
        chunks.append(chunk)
    return b"".join(chunks)


def wrong_kind(kind: str, data: bytes) -> str | None:
    """Why a body does not belong on this endpoint, or None."""
    problem = not_an_input(data)
    if problem:
        return problem
    bank = bank_file_format(data) is not None
    if kind == "era" and bank:
        return "this is a bank file (NACHA or BAI2): POST it to /bank-files"
    if kind == "bank" and not bank:
        return "this is not a NACHA or BAI2 bank file: POST an 835 to /eras"
    return None


def register_input_views(tb: TakebackApp) -> None:
    feed = HttpFeed(tb.settings)
    limit = tb.settings.feed_max_bytes

    async def post_file(view: View, request: Request, kind: str) -> Response:
        key = request.headers.get("Idempotency-Key")
        if key is not None and not 0 < len(key) <= MAX_KEY_LENGTH:
            return view.json({"error": f"Idempotency-Key must be 1..{MAX_KEY_LENGTH} characters"}, status=400)
        try:
            data = await read_body(request, limit)
        except BodyTooLarge:
            length = request.content_length
            size = f"{length:,} bytes" if length is not None else "larger than that"
            message = f"the body is {size}; the limit is {limit:,} bytes (TAKEBACK_FEED_MAX_BYTES)"
            return view.json({"error": message}, status=413, headers={"Connection": "close"})
        problem = wrong_kind(kind, data)
        if problem:
            return view.json({"error": problem}, status=400)
        name = request.query.get("name") or f"{kind}-upload"
        status, body = await feed.accept(name, data, key)
        headers = {"Location": body["location"]} if status == 202 else {}
        return view.json(body, status=status, headers=headers)

    @tb.app.page("/eras")
    class Eras(View):
        async def post(self, request: Request) -> Response:
            return await post_file(self, request, "era")

    @tb.app.page("/bank-files")
    class BankFiles(View):
        async def post(self, request: Request) -> Response:
            return await post_file(self, request, "bank")

    @tb.app.page("/inputs/{input_id}")
    class Inputs(View):
        async def get(self, request: Request, input_id: str) -> Response:
            answer = await feed.status(input_id)
            if answer is None:
                return self.json({"error": f"no input {input_id} is known"}, status=404)
            return self.json(answer)
