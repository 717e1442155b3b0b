"""The AsyncAPI 3.0 document of every topic Takeback reads or writes: schemas/asyncapi.yaml.

    python -m streams.asyncapi              # write schemas/asyncapi.yaml from CHANNELS and the captured examples
    python -m streams.asyncapi --capture    # first replay the corpus and capture real messages as examples

The document is built from CHANNELS below (one entry per topic: adding a topic is one entry, plus its name in
streams/settings.py TopicNames) and tests/test_asyncapi.py checks it against the topics the app really creates.
Payloads are `$ref`s to the exported JSON Schemas (schemas/json/); examples are real messages, headers included,
captured from a replay (schemas/asyncapi-examples.json), never typed by hand.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Literal

from streams.cloudevents import CONTENT_TYPE, SPEC_VERSION, event_type
from streams.kafka_io import CHUNK_HEADER, OVERSIZE_HEADER, SOURCE_FILE_HEADER, SOURCE_ID_HEADER
from streams.settings import Settings, TopicNames

ROOT = Path(__file__).resolve().parents[1]
DOCUMENT_PATH = ROOT / "schemas" / "asyncapi.yaml"
EXAMPLES_PATH = ROOT / "schemas" / "asyncapi-examples.json"
KAFKA_BINDING_VERSION = "0.5.0"
DEFAULTS = Settings()

PROVIDER_PARTITIONING = (
    "Kafka's default partitioner (murmur2 of the key) over TAKEBACK_PARTITIONS partitions: all of a provider's "
    "events are in one partition, in the order Takeback published them."
)


@dataclass(frozen=True)
class Message:
    id: str
    title: str
    summary: str
    key: str  # what the message key is
    event: str | None = None  # an EVENT_TYPES name: a CloudEvent whose payload is that schema
    content_type: str = CONTENT_TYPE
    payload: dict[str, Any] | None = None  # for messages that are not events


@dataclass(frozen=True)
class Operation:
    id: str
    action: Literal["send", "receive"]
    summary: str
    group: str | None = None  # consumer group, for receive operations


@dataclass(frozen=True)
class Channel:
    id: str
    topic: str  # a TopicNames field, or an internal topic's name after the application id ("-ledgers-changelog")
    description: str
    messages: tuple[str, ...]
    operations: tuple[Operation, ...]
    partitioning: str = PROVIDER_PARTITIONING
    internal: bool = False  # written by Faust for its own use (tables, leader election)
    compacted: bool = False
    partitions: int | None = None  # None: TAKEBACK_PARTITIONS

    def address(self) -> str:
        if self.topic.startswith("-"):
            return "{applicationId}" + self.topic
        return "{prefix}" + getattr(TopicNames(), self.topic)

    def topic_name(self, settings: Settings) -> str:
        """The real topic name under these settings."""
        if self.topic.startswith("-"):
            return settings.application_id + self.topic
        return getattr(settings.topic_names, self.topic)


WORKER_GROUP = "the workers' group (TAKEBACK_APP_ID, plus the topic prefix when set)"
SINK_GROUP = "`takeback sink`'s own group: the workers' group id + `-sink`"

MESSAGES: tuple[Message, ...] = (
    Message(
        "era835",
        "An 835 file (or a piece of one)",
        "One input: an X12 835 file as the feed sent it, or a piece cut between ST/SE sets when the file is larger "
        f"than TAKEBACK_MAX_INPUT_BYTES or pays several payees. Headers: `{SOURCE_FILE_HEADER}` (file name), "
        f"`{SOURCE_ID_HEADER}` (id of this input), `{CHUNK_HEADER}` (`<file offset>:<envelope header length>` of a "
        f"piece), `{OVERSIZE_HEADER}` (bytes of a set too large to send; the value is then an excerpt). A `Remittance` "
        "as JSON is accepted too.",
        "The payee id from the first N1*PE (NPI or TIN), so one provider's files are ingested in order; the input's "
        "id when there is none.",
        content_type="application/EDI-X12",
        payload={"type": "string", "description": "The X12 text (or a Remittance as JSON)."},
    ),
    Message(
        "remittance",
        "Remittance",
        "One ST/SE transaction set, read: one payment from one payer to one payee. Fields at their default are left "
        "out (the schema gives the defaults).",
        "The ledger key: `tin-` and a hash of the payee's TIN (REF*TJ, or N104 when N103 = FI), else the payee id "
        "(`payee.id`); the NPIs of one TIN share a ledger (rules §5).",
        event="remittance",
    ),
    Message(
        "takeback",
        "Takeback",
        "A reversal or recoupment, linked to the payment it undoes. Upsert by `event_id`: a higher `revision` "
        "replaces the previous one (its `kind` may change, and it then moves topic); `withdrawn: true` retracts it.",
        "The provider id (`provider_id`).",
        event="takeback",
    ),
    Message(
        "netCashRow",
        "Net cash row",
        "Where a provider stands (cash invariant, rules §8), with a per-payer breakdown. Keep the highest "
        "`revision` per `provider_id`. An NPI paid under several TINs, or with and without one, has a ledger each "
        "(rules §5): its row is the sum of their shares, and `ledger_key` names the one with the most remittances.",
        "The provider id (`provider_id`).",
        event="net_cash_row",
    ),
    Message(
        "netCashShare",
        "Net cash share (internal)",
        "One ledger's share of a provider's net cash row (rules §5, §8): a net cash row whose `ledger_key` is that "
        "ledger and whose `revision` is that ledger's remittance count. Keep the highest `revision` per "
        "(`provider_id`, `ledger_key`); the provider's row is the sum of its shares (`combine_shares`). Internal: "
        "read `net-cash` instead.",
        "The provider id (`provider_id`).",
        event="net_cash_row",
    ),
    Message(
        "deadLetter",
        "Dead letter",
        "An input Takeback could not use, with the reason, where it was, and the input itself (`raw`) for "
        "`takeback dead-letters replay`.",
        "The id of the input (`source.source_id`); `invalid` when unknown.",
        event="dead_letter",
    ),
    Message(
        "receipt",
        "Receipt",
        "Progress of one input: `ingested` (one per input) and `processed` (one per remittance), with the takeback "
        "revisions and the cash share (`ledger_key`, `cash_revision`) it produced. `replay` and operations follow "
        "them to know when work is done.",
        "The id of the input (`source_id`).",
        event="receipt",
    ),
    Message(
        "bankFile",
        "A bank deposit file",
        "One input: a NACHA ACH file (CCD+ healthcare payments with their TRN addenda) or a BAI2 bank statement, "
        f"whole, as the bank sent it (rules §10). Headers: `{SOURCE_FILE_HEADER}` (file name), `{SOURCE_ID_HEADER}` "
        "(id of this input).",
        "The input's id.",
        content_type="text/plain",
        payload={"type": "string", "description": "The NACHA or BAI2 text."},
    ),
    Message(
        "reassociationInput",
        "Reassociation input (internal)",
        "What the reassociate agent matches (rules §10): an ERA's payment facts, a deposit, a takeback, several of "
        "those under one trace (what one input or batch produced), a clock tick (the latest date an input showed, "
        "sent to every partition), a NACHA return (it names no trace: sent to every partition, where each finds "
        "the credit it returns) or a replay's marker. Internal: its format may change in any release.",
        "The trace (TRN02, or a check number) the fact belongs under; empty for ticks, returns and markers.",
        content_type="application/json",
        payload={"type": "string", "description": "Internal JSON; not a contract."},
    ),
    Message(
        "reassociation",
        "Reassociation",
        "An ERA payment and its money in the bank (rules §10): `matched`, `amount_mismatch` (with the difference "
        "and the takebacks that explain it), `era_without_deposit`, `deposit_without_era`, `duplicate_deposit`, "
        "`deposit_returned` (a credit the bank returned: its ERA is open again), or `awaiting_deposit` / "
        "`awaiting_era` until the wait is over. Amounts are signed: a debit ERA expects a bank debit. "
        "Upsert by `event_id`: a higher `revision` replaces the previous one.",
        "The trace (`trace_number`), or the deposit id for money without one.",
        event="reassociation",
    ),
    Message(
        "reassociationRecord",
        "Reassociation table record (internal)",
        "A changelog record of the workers' reassociation table: one trace's facts and records, or a partition's "
        "clock. Internal: its format may change in any release.",
        "The trace, or `\\x00clock\\x00` and the partition number.",
        content_type="application/json",
        payload={"type": "string", "description": "Internal JSON; not a contract."},
    ),
    Message(
        "ledgerRecord",
        "Ledger table record (internal)",
        "A changelog record of the workers' ledger table: a provider's header, or one remittance's facts and the "
        "takeback revisions it published (streams/domain/ledger_records.py). Internal: its format may change in any "
        "release.",
        "The provider id, or `<provider id>\\x1f<position>` for the remittance applied at that position.",
        content_type="application/json",
        payload={"type": "string", "description": "Internal JSON; not a contract."},
    ),
    Message(
        "cashSharesRecord",
        "Cash shares table record (internal)",
        "A changelog record of the workers' table of cash shares: a provider's latest share of each ledger, "
        "`{ledger key: net cash row}` (streams/domain/cash_shares.py). Internal: its format may change in any release.",
        "The provider id.",
        content_type="application/json",
        payload={"type": "string", "description": "Internal JSON; not a contract."},
    ),
    Message(
        "leaderElection",
        "Leader election (internal)",
        "Faust's leader election topic. Takeback sends nothing on it.",
        "None.",
        content_type="application/octet-stream",
        payload={"type": "string", "description": "Not used."},
    ),
)

CHANNELS: tuple[Channel, ...] = (
    Channel(
        "eraRaw",
        "raw",
        "Inputs: 835 files from the feeds (`takeback publish`, `takeback dead-letters replay`).",
        ("era835",),
        (
            Operation("publishInputs", "send", "`takeback publish` puts a feed's files on the topic."),
            Operation("ingest", "receive", "The ingest agent reads each input into remittances.", WORKER_GROUP),
        ),
        partitioning=PROVIDER_PARTITIONING + " `replay` sends every input to partition 0, to keep the given order.",
    ),
    Channel(
        "remittances",
        "remittances",
        "Every remittance read from the inputs: the record of what Takeback applied, for the billing report and "
        "downstream services. Workers do not read it back.",
        ("remittance",),
        (
            Operation("sendRemittances", "send", "The ingest agent publishes each ST/SE it read."),
            Operation("report", "receive", "`takeback report` reads a provider's remittances."),
        ),
    ),
    Channel(
        "remittancesRekeyed",
        "remittances_rekeyed",
        "Internal: the remittances of an input keyed by something other than their ledger key (a feed that does not "
        "key era.raw as `takeback publish` does), on their way to the partition of their ledger. The ingest agent "
        "applies every other remittance where it reads it.",
        ("remittance",),
        (
            Operation(
                "sendRekeyedRemittances",
                "send",
                "The ingest agent forwards a remittance whose ledger lives in another partition.",
            ),
            Operation(
                "match",
                "receive",
                "The match agent applies remittances to the ledger of the payee's TIN (else of the payee).",
                WORKER_GROUP,
            ),
        ),
    ),
    Channel(
        "takebacksReversal",
        "reversals",
        "Takebacks of kind `reversal`: the original payment was not disbursed yet.",
        ("takeback",),
        (
            Operation("sendReversals", "send", "The match agent publishes every revision of a reversal."),
            Operation("sinkReversals", "receive", "`takeback sink` keeps every revision in PostgreSQL.", SINK_GROUP),
        ),
    ),
    Channel(
        "takebacksRecoupment",
        "recoupments",
        "Takebacks of kind `recoupment`: money already disbursed recovered by offset or refund.",
        ("takeback",),
        (
            Operation("sendRecoupments", "send", "The match agent publishes every revision of a recoupment."),
            Operation("sinkRecoupments", "receive", "`takeback sink` keeps every revision in PostgreSQL.", SINK_GROUP),
        ),
    ),
    Channel(
        "netCash",
        "net_cash",
        "Each provider's net cash row, after every remittance that changed it.",
        ("netCashRow",),
        (
            Operation("sendNetCash", "send", "The cash agent publishes a provider's row after each change."),
            Operation("sinkNetCash", "receive", "`takeback sink` keeps the current row in PostgreSQL.", SINK_GROUP),
        ),
    ),
    Channel(
        "netCashShares",
        "net_cash_shares",
        "Internal: each ledger's share of its providers' net cash rows, after every batch that touched the ledger.",
        ("netCashShare",),
        (
            Operation("sendNetCashShares", "send", "The match agent publishes every share of a ledger it changed."),
            Operation(
                "cash",
                "receive",
                "The cash agent sums a provider's shares into its row, publishes it on `net-cash` and keeps the "
                "table the HTTP API serves.",
                WORKER_GROUP,
            ),
            Operation("replayNetCash", "receive", "`takeback replay` sums the shares its receipts announced."),
        ),
    ),
    Channel(
        "deadLetters",
        "dead_letters",
        "Inputs and events Takeback could not use (`takeback dead-letters list|replay`).",
        ("deadLetter",),
        (
            Operation("sendDeadLetters", "send", "Ingest and match publish what they reject."),
            Operation("sinkDeadLetters", "receive", "`takeback sink` keeps them in PostgreSQL.", SINK_GROUP),
        ),
        partitioning="Kafka's default partitioner (murmur2 of the key, the input's id).",
    ),
    Channel(
        "receipts",
        "receipts",
        "Progress of every input through the pipeline.",
        ("receipt",),
        (Operation("sendReceipts", "send", "Ingest and match publish a receipt per input and per remittance."),),
        partitioning="Kafka's default partitioner (murmur2 of the key, the input's id).",
    ),
    Channel(
        "bankRaw",
        "bank_raw",
        "Inputs: bank deposit files, NACHA or BAI2 (`takeback publish` and `replay` tell them from 835s by content).",
        ("bankFile",),
        (
            Operation("publishBankFiles", "send", "`takeback publish` puts a bank file on the topic, whole."),
            Operation("bankIngest", "receive", "The bank-ingest agent reads each file into deposits.", WORKER_GROUP),
        ),
        partitioning="Kafka's default partitioner (murmur2 of the key, the input's id).",
    ),
    Channel(
        "reassociationIn",
        "reassociation_in",
        "Internal: what reassociation matches, keyed by trace so a payment's ERAs, deposits and takebacks meet in "
        "one partition.",
        ("reassociationInput",),
        (
            Operation("sendReassociationInputs", "send", "Ingest, bank-ingest and match hand over their facts."),
            Operation("reassociate", "receive", "The reassociate agent matches them.", WORKER_GROUP),
        ),
        partitioning="Kafka's default partitioner (murmur2 of the trace); clock ticks, NACHA returns and markers "
        "go to every partition.",
    ),
    Channel(
        "reassociations",
        "reassociations",
        "Every revision of every reassociation record (rules §10).",
        ("reassociation",),
        (Operation("sendReassociations", "send", "The reassociate agent publishes each record that changed."),),
        partitioning="Kafka's default partitioner (murmur2 of the trace): a payment's records in one partition.",
    ),
    Channel(
        "ledgersChangelog",
        "-ledgers-changelog",
        "Internal: the changelog of the workers' ledger table (Faust), from which a worker restores its state.",
        ("ledgerRecord",),
        (Operation("storeLedgers", "send", "The match agent writes what a batch changed."),),
        partitioning="Co-partitioned with `remittances`: a provider's records go to its remittances' partition.",
        internal=True,
        compacted=True,
    ),
    Channel(
        "netCashChangelog",
        "-net-cash-changelog",
        "Internal: the changelog of the workers' net cash table (Faust). Values are net cash rows.",
        ("netCashRow",),
        (Operation("storeNetCash", "send", "The cash agent writes a provider's newest row."),),
        partitioning="Co-partitioned with `net-cash`.",
        internal=True,
        compacted=True,
    ),
    Channel(
        "netCashSharesChangelog",
        "-net-cash-shares-changelog",
        "Internal: the changelog of the workers' table of cash shares (Faust): a provider's latest share per ledger.",
        ("cashSharesRecord",),
        (Operation("storeCashShares", "send", "The cash agent writes a provider's shares when one changes."),),
        partitioning="Co-partitioned with `net-cash`.",
        internal=True,
        compacted=True,
    ),
    Channel(
        "reassociationChangelog",
        "-reassociation-changelog",
        "Internal: the changelog of the workers' reassociation table (Faust), from which a worker restores its state.",
        ("reassociationRecord",),
        (Operation("storeReassociation", "send", "The reassociate agent writes the traces and clock it changed."),),
        partitioning="Co-partitioned with `reassociation.in`.",
        internal=True,
        compacted=True,
    ),
    Channel(
        "leader",
        "-__assignor-__leader",
        "Internal: Faust's leader election topic (one partition).",
        ("leaderElection",),
        (Operation("electLeader", "receive", "Faust assigns its one partition to one worker.", WORKER_GROUP),),
        partitioning="One partition.",
        internal=True,
        partitions=1,
    ),
)


# --------------------------------------------------------------------------- the document


def cloudevent_headers_schema(event: str) -> dict[str, Any]:
    return {
        "type": "object",
        "description": "CloudEvents 1.0, Kafka protocol binding, binary content mode: the attributes are headers "
        "(UTF-8), the payload is the event alone.",
        "required": ["ce_specversion", "ce_id", "ce_source", "ce_type", "ce_time", "content-type"],
        "properties": {
            "ce_specversion": {"const": SPEC_VERSION, "description": "CloudEvents version."},
            "ce_id": {
                "type": "string",
                "description": "Unique per event revision and the same on every publication of it (redelivery, a "
                "re-sent input): dedupe by it. Takeback: `<event_id>.<revision>`; net cash: "
                "`<provider_id>.<revision>`; dead letter: `dead_letter_id`; remittance: `remittance_id`; receipt: "
                "`<source_id>.ingested` or `<source_id>.<sequence>.processed`.",
            },
            "ce_source": {
                "type": "string",
                "description": "`/takeback/<application id>`: the Takeback application (consumer group) that "
                "published it.",
            },
            "ce_type": {
                "const": event_type(event),
                "description": "`org.takeback.<event>.v<version>`: the version is raised on a breaking change "
                "(schemas/CHANGELOG.md).",
            },
            "ce_time": {"type": "string", "format": "date-time", "description": "When Takeback published it (UTC)."},
            "ce_subject": {
                "type": "string",
                "description": "The provider id the event is about (the message key, except on `remittances`: "
                "keyed by ledger, its subject is the payee); absent when it names none.",
            },
            "content-type": {"const": CONTENT_TYPE},
        },
    }


def _message(message: Message, examples: dict[str, list[dict]]) -> dict[str, Any]:
    body: dict[str, Any] = {"name": message.id, "title": message.title, "summary": message.summary}
    body["contentType"] = message.content_type
    if message.event is not None:
        body["headers"] = cloudevent_headers_schema(message.event)
        body["payload"] = {"$ref": f"./json/{message.event}.schema.json"}
    else:
        body["payload"] = message.payload
    body["bindings"] = {
        "kafka": {"key": {"type": "string", "description": message.key}, "bindingVersion": KAFKA_BINDING_VERSION}
    }
    if examples.get(message.id):
        body["examples"] = examples[message.id]
    return body


def _channel(channel: Channel) -> dict[str, Any]:
    config: dict[str, Any] = {"cleanup.policy": ["compact"] if channel.compacted else ["delete"]}
    if not channel.internal:
        config |= {"retention.ms": -1, "max.message.bytes": DEFAULTS.max_input_bytes + 1024 * 1024}
    parameter = "applicationId" if channel.topic.startswith("-") else "prefix"
    description = channel.description + "\n\nPartitioning: " + channel.partitioning
    return {
        "address": channel.address(),
        "description": description,
        "parameters": {parameter: {"$ref": f"#/components/parameters/{parameter}"}},
        "messages": {m: {"$ref": f"#/components/messages/{m}"} for m in channel.messages},
        "bindings": {
            "kafka": {
                "partitions": channel.partitions or DEFAULTS.partitions,
                "replicas": DEFAULTS.replication_factor,
                "topicConfiguration": config,
                "bindingVersion": KAFKA_BINDING_VERSION,
            }
        },
    }


def _operation(channel: Channel, operation: Operation) -> dict[str, Any]:
    body: dict[str, Any] = {
        "action": operation.action,
        "channel": {"$ref": f"#/channels/{channel.id}"},
        "summary": operation.summary,
        "messages": [{"$ref": f"#/channels/{channel.id}/messages/{m}"} for m in channel.messages],
    }
    if operation.group:
        body["bindings"] = {
            "kafka": {
                "groupId": {"type": "string", "description": operation.group},
                "bindingVersion": KAFKA_BINDING_VERSION,
            }
        }
    return body


INFO_DESCRIPTION = """\
Takeback reads X12 835 remittance advice from Kafka, finds payer takebacks (reversals and recoupments), links
each to the payment it undoes and keeps a per-provider net cash table. The takeback, net cash and dead letter
topics are its API for other services.

**Topic names.** Each address starts with `{prefix}`, the setting TAKEBACK_TOPIC_PREFIX (empty by default; `replay`
uses `replay-<id>.` to isolate a run). A topic can also be renamed whole with TAKEBACK_TOPIC_<NAME>
(`RAW`, `REMITTANCES`, `REVERSALS`, `RECOUPMENTS`, `DEAD_LETTERS`, `NET_CASH`, `RECEIPTS`). Internal topics start with
the application id instead.

**Events.** Every event Takeback publishes is JSON (money as decimal strings) with CloudEvents 1.0 binary-mode
headers (`ce_specversion`, `ce_id`, `ce_source`, `ce_type`, `ce_time`, `ce_subject`, `content-type`). Delivery is
at least once: dedupe by `ce_id`, upsert takebacks by `event_id` keeping the highest `revision`.

**Compatibility.** Within a `ce_type` version, changes only add optional fields, widen types or add enum values;
anything else raises the version (schemas/CHANGELOG.md, schemas/released/).

Examples are real messages captured from a replay of the repository's ERA corpus.
"""


def build_document(examples: dict[str, list[dict]]) -> dict[str, Any]:
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "Takeback",
            "version": "1.0.0",
            "description": INFO_DESCRIPTION,
            "license": {"name": "Apache-2.0"},
        },
        "defaultContentType": CONTENT_TYPE,
        "servers": {
            "kafka": {
                "host": "localhost:9092",
                "protocol": "kafka",
                "description": "The Kafka cluster in TAKEBACK_BROKER. TLS and SASL (PLAIN, SCRAM) are set with "
                "TAKEBACK_KAFKA_SECURITY_PROTOCOL and TAKEBACK_KAFKA_SASL_* / _SSL_* (streams/security.py).",
            }
        },
        "channels": {channel.id: _channel(channel) for channel in CHANNELS},
        "operations": {op.id: _operation(channel, op) for channel in CHANNELS for op in channel.operations},
        "components": {
            "parameters": {
                "prefix": {
                    "description": "TAKEBACK_TOPIC_PREFIX: put before every topic name (default: empty).",
                    "default": "",
                    "examples": ["", "acme.", "replay-1a2b3c4d5e."],
                },
                "applicationId": {
                    "description": "TAKEBACK_APP_ID (default `takeback`), followed by `-<prefix>` (dots and dashes "
                    "trimmed) when TAKEBACK_TOPIC_PREFIX is set. It is also the workers' consumer group.",
                    "default": DEFAULTS.app_id,
                    "examples": ["takeback", "takeback-acme"],
                },
            },
            "messages": {message.id: _message(message, examples) for message in MESSAGES},
        },
    }


def render(document: dict[str, Any]) -> str:
    import yaml  # a development tool: pyyaml is a test dependency

    header = "# Generated by `python -m streams.asyncapi` from streams/asyncapi.py: edit that, not this file.\n"
    return header + yaml.safe_dump(document, sort_keys=False, width=116, allow_unicode=True)


def load_examples() -> dict[str, list[dict]]:
    return json.loads(EXAMPLES_PATH.read_text()) if EXAMPLES_PATH.exists() else {}


# --------------------------------------------------------------------------- examples from a real run


def _example_topics() -> dict[str, str]:
    """The topics whose records show each message's examples: the first channel that carries it, and every channel
    with an example name of its own (takebacks: reversals and recoupments, either of which a corpus may lack)."""
    chosen: dict[str, str] = {}
    for channel in CHANNELS:
        named = channel.topic in EXAMPLE_NAMES
        if not channel.internal and (named or channel.messages[0] not in chosen.values()):
            chosen[channel.topic] = channel.messages[0]
    return chosen


def capture_examples(corpus: Path) -> dict[str, list[dict]]:
    """Replay the corpus on an embedded broker and keep, per message, the smallest real message of each kind."""
    from streams.runner import feed_and_collect, isolated, running_pipeline

    settings = isolated(Settings())
    with running_pipeline(settings, None, settings.data_dir) as pipeline:
        files = sorted(p for p in corpus.iterdir() if p.is_file() and p.suffix != ".md")
        asyncio.run(feed_and_collect(pipeline, files, timeout=600, progress=False))
        records = asyncio.run(_read_all(pipeline.settings))
    examples: dict[str, list[dict]] = {}
    for field_name, message_id in _example_topics().items():
        topic = getattr(pipeline.settings.topic_names, field_name)
        for label, chosen in _pick(field_name, records[topic]).items():
            examples.setdefault(message_id, []).append(_example(label, chosen))
    return examples


EXAMPLE_NAMES = {
    "raw": "an_835_file",
    "remittances": "remittance",
    "reversals": "reversal",
    "recoupments": "recoupment",
    "net_cash": "net_cash_row",
    "net_cash_shares": "net_cash_share",
    "dead_letters": "dead_letter",
    "reassociations": "reassociation",
}


def _pick(field_name: str, records: list[tuple[bytes, bytes, dict[str, str]]]) -> dict[str, tuple]:
    """Per kind of record on a topic (receipts: ingested and processed), the one that shows the most fields,
    the smallest of those: a reader sees what the fields hold without scrolling through a large remittance."""
    kinds: dict[str, list[tuple]] = {}
    for record in records:
        label = EXAMPLE_NAMES.get(field_name, field_name)
        if field_name == "receipts":
            label = "receipt_" + json.loads(record[1])["stage"]
        kinds.setdefault(label, []).append(record)
    return {label: min(group, key=lambda r: (-_filled(r[1]), len(r[1]), r[1])) for label, group in kinds.items()}


def _filled(value: bytes) -> int:
    """Top-level fields with a value (not null, not empty); 0 for an input that is not JSON."""
    try:
        document = json.loads(value)
    except ValueError:
        return 0
    return sum(1 for v in document.values() if v not in (None, [], {}, "")) if isinstance(document, dict) else 0


def _example(label: str, record: tuple[bytes, bytes, dict[str, str]]) -> dict[str, Any]:
    key, value, headers = record
    try:
        payload: Any = json.loads(value)
    except ValueError:
        payload = value.decode("latin-1")
    return {
        "name": label,
        "summary": f"Captured from a replay of corpus/era; message key: {key.decode('latin-1')}",
        "headers": headers,
        "payload": payload,
    }


async def _read_all(settings: Settings) -> dict[str, list[tuple[bytes, bytes, dict[str, str]]]]:
    from aiokafka import TopicPartition

    from streams.kafka_io import consumer_for

    names = settings.topic_names
    topics = [getattr(names, f.name) for f in fields(TopicNames)]
    consumer = consumer_for(settings)
    await consumer.start()
    records: dict[str, list[tuple[bytes, bytes, dict[str, str]]]] = {t: [] for t in topics}
    try:
        partitions = [TopicPartition(t, p) for t in topics for p in range(settings.partitions)]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        quiet = 0
        while quiet < 5:  # a second without records: everything replay waited for has been read
            batches = await consumer.getmany(timeout_ms=200, max_records=5000)
            quiet = 0 if batches else quiet + 1
            for tp, messages in batches.items():
                for m in messages:
                    headers = {k: v.decode("utf-8", "replace") for k, v in m.headers}
                    records[tp.topic].append((m.key or b"", m.value or b"", headers))
    finally:
        await consumer.stop()
    return records


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m streams.asyncapi", description=__doc__.splitlines()[0])
    parser.add_argument("--capture", action="store_true", help="replay corpus/era and capture examples first")
    args = parser.parse_args(argv)
    if args.capture:
        from streams.samples import CORPUS_DIR

        EXAMPLES_PATH.write_text(json.dumps(capture_examples(CORPUS_DIR), indent=1, sort_keys=True) + "\n")
        print(f"wrote {EXAMPLES_PATH.relative_to(ROOT)}")
    DOCUMENT_PATH.write_text(render(build_document(load_examples())))
    print(f"wrote {DOCUMENT_PATH.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
