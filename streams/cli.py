"""`takeback`: the command line.

    takeback broker  [--port N]                      an embedded Kafka-compatible broker (Tansu)
    takeback worker  [--broker HOST:PORT]            one pipeline worker (agents, tables, HTTP)
    takeback publish FILE... [--canonical-order] [--broker HOST:PORT]    feeds: put 835 files on era.raw
    takeback watch   DIR [--once] [--move] [--settle S] [--interval S] [--state FILE] [--metrics-port N]
                     feeds: publish each ERA or bank file dropped in DIR (and its subfolders), exactly once
    takeback demo    [FILE_OR_DIR...] [--once]       broker + worker + sample ERAs, prints what it found
    takeback replay  FILE_OR_DIR... --out DIR [--broker HOST:PORT]
    takeback dead-letters list|replay [--code CODE] [--id ID] [--broker HOST:PORT]
    takeback dead-letters replay --accept ID [--broker HOST:PORT]
    takeback sink    [--from-beginning] [--dsn DSN] [--broker HOST:PORT]   history in PostgreSQL
    takeback report  --provider ID [--from DATE --to DATE] --out FILE.xlsx|FILE.csv [--broker HOST:PORT]

Every failure ends with a one-line reason on stderr and a non-zero exit code,
never a traceback.  Settings come from TAKEBACK_* variables (streams/settings.py).
SIGTERM stops a command as Ctrl-C does: its broker and workers are stopped, one
line on stderr, exit code 143 (130 for Ctrl-C); see streams/processes.py.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import logging
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from streams.broker import BrokerError, EmbeddedBroker
from streams.domain.deadlines.rule_tables import RuleTableError
from streams.inputs import expand_inputs
from streams.processes import Interrupted, exit_interrupted, stop_like_ctrl_c
from streams.security import InsecureConfiguration, check_api_exposure
from streams.settings import Settings, broker_url, match_policy, settings_from_env
from streams.sink import SinkError

if TYPE_CHECKING:
    from schemas import DeadLetter

# The Kafka client and the event contracts are imported by the commands that use them: `replay` starts its worker
# before loading them, so they load while the worker starts (docs/benchmarks.md).

EXIT_FAILURE = 1
EMBEDDED_COMMANDS = ("demo", "replay")  # they start their own broker unless --broker names one
EXIT_INTERRUPTED = 130


def _broker_arg(parser: argparse.ArgumentParser, *, embedded: bool = False) -> None:
    """``embedded``: the command runs its own pipeline (demo, replay), on an embedded broker unless told otherwise;
    the others use the configured broker, which outlives them."""
    default = "start an embedded one" if embedded else "TAKEBACK_BROKER, else 127.0.0.1:9092"
    parser.add_argument("--broker", metavar="HOST:PORT", help=f"a running Kafka broker (default: {default})")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="takeback", description="Find takebacks in ERAs (X12 835).")
    commands = parser.add_subparsers(dest="command", required=True)

    broker = commands.add_parser("broker", help="run the embedded broker until Ctrl-C")
    broker.add_argument("--port", type=int, default=9092)

    worker = commands.add_parser("worker", help="run one pipeline worker")
    _broker_arg(worker)

    publish = commands.add_parser(
        "publish", help="put 835 files on the raw topic, bank deposit files (NACHA, BAI2) on bank.raw"
    )
    publish.add_argument("paths", nargs="+", metavar="FILE_OR_DIR")
    publish.add_argument(
        "--canonical-order",
        action="store_true",
        help="a backfill: publish the files in the order their payments were made (each file's earliest "
        "DTM*405, else BPR16, then TRN02), not in the order given; the ledgers then apply them without re-deriving",
    )
    _broker_arg(publish)

    watch = commands.add_parser(
        "watch", help="publish each ERA or bank file dropped in a folder (and its subfolders) once it is complete"
    )
    watch.add_argument("folder", type=Path, metavar="DIR")
    watch.add_argument("--once", action="store_true", help="one pass: publish what is complete, then exit (cron)")
    watch.add_argument(
        "--settle",
        type=float,
        default=5.0,
        metavar="SECONDS",
        help="a file is complete when its size and mtime have not changed for this long (*.part and dot-files "
        "wait until renamed)",
    )
    watch.add_argument("--interval", type=float, default=2.0, metavar="SECONDS", help="seconds between passes")
    watch.add_argument(
        "--move", action="store_true", help="move published files to DIR/processed/, unreadable ones to DIR/rejected/"
    )
    watch.add_argument("--state", type=Path, metavar="FILE", help="the journal (default DIR/.takeback-watch.jsonl)")
    watch.add_argument("--follow-links", action="store_true", help="also read links that point out of DIR")
    watch.add_argument(
        "--metrics-port",
        type=int,
        metavar="N",
        help="serve Prometheus metrics on this port (0: none; default TAKEBACK_WATCH_METRICS_PORT, 6068)",
    )
    _broker_arg(watch)

    demo = commands.add_parser("demo", help="broker + worker + sample ERAs; prints takebacks and net cash")
    demo.add_argument("paths", nargs="*", metavar="FILE_OR_DIR")
    demo.add_argument("--once", action="store_true", help="exit after printing instead of serving")
    _broker_arg(demo, embedded=True)

    dead = commands.add_parser("dead-letters", help="list rejected inputs, or run them again after a fix")
    dead_commands = dead.add_subparsers(dest="dead_command", required=True)
    listing = dead_commands.add_parser("list", help="one line per dead letter (or --json)")
    listing.add_argument("--json", action="store_true", help="print the dead letters as JSON lines")
    rerun = dead_commands.add_parser("replay", help="publish dead letters' inputs to the raw topic again")
    rerun.add_argument(
        "--accept",
        metavar="ID",
        help="apply this unbalanced_remittance dead letter after checking it; the difference is booked as unexplained",
    )
    for sub in (listing, rerun):
        sub.add_argument("--code", action="append", help="only this error code (repeatable)")
        sub.add_argument("--id", action="append", dest="ids", help="only this dead_letter_id (repeatable)")
        _broker_arg(sub)

    replay = commands.add_parser("replay", help="run files through the pipeline and write the results")
    replay.add_argument("paths", nargs="+", metavar="FILE_OR_DIR")
    replay.add_argument("--out", required=True, type=Path, metavar="DIR")
    replay.add_argument("--timeout", type=float, default=600.0, help="seconds to wait for the pipeline")
    _broker_arg(replay, embedded=True)

    sink = commands.add_parser("sink", help="keep the takeback topics' history in PostgreSQL")
    sink.add_argument("--dsn", help="PostgreSQL connection string (default: TAKEBACK_SINK_DSN)")
    sink.add_argument("--from-beginning", action="store_true", help="re-read every topic from its start (rebuild)")
    _broker_arg(sink)
    report = commands.add_parser("report", help="write a provider's statement (summary, takebacks, balances, payments)")
    report.add_argument("--provider", required=True, metavar="ID")
    report.add_argument("--from", dest="start", type=_date_arg, metavar="YYYY-MM-DD")
    report.add_argument("--to", dest="end", type=_date_arg, metavar="YYYY-MM-DD")
    report.add_argument("--out", required=True, type=Path, metavar="FILE.xlsx|FILE.csv")
    report.add_argument(
        "--today", type=_date_arg, metavar="YYYY-MM-DD", help="the day the forecast counts from (default: today)"
    )
    _broker_arg(report)
    return parser


def _date_arg(value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{value}' is not a date (YYYY-MM-DD)") from None


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    settings = settings_from_env()
    # The client library logs every failed connection attempt; we report the outcome in one line instead.
    # (A running worker sets its own logging: streams.logging_setup.configure_logging.)
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    stop_like_ctrl_c()  # SIGTERM too unwinds the `with` blocks that stop the broker and workers
    try:
        match_policy(settings)  # rules §11: a bad operator rule file stops here, naming its file and line
        return COMMANDS[args.command](args, settings)
    except Interrupted as stop:
        exit_interrupted(stop, "takeback")
    except KeyboardInterrupt:
        print("takeback: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as exc:
        print(f"takeback: {_failure_line(exc, args, settings)}", file=sys.stderr)
        return EXIT_FAILURE


def _failure_line(exc: Exception, args: argparse.Namespace, settings: Settings) -> str:
    """The one line a failure ends with: the reason for the failures we expect, the exception's type otherwise."""
    from aiokafka.errors import KafkaConnectionError, KafkaError

    from streams.kafka_io import PipelineStalled

    if isinstance(exc, (BrokerError, PipelineStalled, InsecureConfiguration, SinkError, FileNotFoundError, OSError)):
        return str(exc)
    if isinstance(exc, RuleTableError):
        return str(exc)
    if isinstance(exc, KafkaConnectionError) and (args.broker or args.command not in EMBEDDED_COMMANDS):
        # a broker the user named or configured: say which setting named it, and how to name or start another
        if args.broker:
            return f"no broker reachable at {args.broker} (--broker)"
        configured = "TAKEBACK_BROKER" if os.environ.get("TAKEBACK_BROKER") else "the default; set TAKEBACK_BROKER"
        return (
            f"no broker reachable at {settings.bootstrap_servers} ({configured}, or pass --broker HOST:PORT; "
            "`takeback broker` runs one)"
        )
    if isinstance(exc, KafkaError):
        where = args.broker or ("embedded" if args.command in EMBEDDED_COMMANDS else settings.bootstrap_servers)
        return f"cannot use the broker ({where}): {exc}"
    return f"unexpected error: {type(exc).__name__}: {exc}"


def _normalize(broker: str | None) -> str | None:
    return None if broker is None else broker_url(broker)


# --------------------------------------------------------------------------- commands


def cmd_broker(args: argparse.Namespace, settings: Settings) -> int:
    with EmbeddedBroker(port=args.port) as broker:
        print(f"embedded broker listening on {broker.bootstrap} (memory storage); Ctrl-C stops it", flush=True)
        while broker.process is not None and broker.process.poll() is None:
            time.sleep(0.5)
        code = broker.process.returncode if broker.process is not None else None
    raise BrokerError(f"the embedded broker exited by itself with code {code}")


def cmd_worker(args: argparse.Namespace, settings: Settings) -> int:
    from streams.app import create_app
    from streams.kafka_io import ensure_topics
    from streams.logging_setup import configure_logging
    from streams.process_tuning import keep_state_out_of_full_collections, return_large_buffers_to_the_os
    from streams.worker import Worker

    if args.broker:
        settings = settings.with_overrides(broker=_normalize(args.broker))
    check_api_exposure(settings)
    asyncio.run(ensure_topics(settings))
    configure_logging(settings.log_level)
    return_large_buffers_to_the_os()
    keep_state_out_of_full_collections()
    takeback = create_app(settings)

    @takeback.app.task
    async def _logging_after_faust_setup() -> None:
        configure_logging(settings.log_level)  # faust's worker reconfigures logging when it starts

    worker = Worker(takeback.app, loglevel=settings.log_level, stop_grace=settings.stop_grace_seconds)
    worker.execute_from_commandline()
    return 0


def cmd_publish(args: argparse.Namespace, settings: Settings) -> int:
    from streams.inputs import in_canonical_order
    from streams.kafka_io import ensure_topics, publish_files

    files = expand_inputs(args.paths)
    if args.canonical_order:
        files = in_canonical_order(files)
    live = settings.with_overrides(broker=_normalize(args.broker))
    asyncio.run(ensure_topics(live))
    for item in asyncio.run(publish_files(live, files)):
        print(f"published {item.file} as {item.source_id}")
    return 0


def cmd_watch(args: argparse.Namespace, settings: Settings) -> int:
    from streams.feeds.watch import WatchOptions, watch
    from streams.kafka_io import ensure_topics

    live = settings.with_overrides(broker=_normalize(args.broker))
    asyncio.run(ensure_topics(live))
    options = WatchOptions(
        folder=args.folder,
        settle=args.settle,
        interval=args.interval,
        move=args.move,
        follow_links=args.follow_links,
        state=args.state,
        once=args.once,
    )
    port = live.watch_metrics_port if args.metrics_port is None else args.metrics_port
    result = watch(live, options, metrics_port=port)
    print(
        f"{result.published} published, {result.duplicates} duplicates, {result.rejected} rejected, "
        f"{len(result.waiting)} still being written",
        file=sys.stderr,
    )
    return 0


def cmd_replay(args: argparse.Namespace, settings: Settings) -> int:
    from streams.runner import replay

    started = time.monotonic()
    results = replay(settings, args.paths, args.out, broker=_normalize(args.broker), timeout=args.timeout)
    print(
        f"replayed {len(results.ingested)} inputs in {time.monotonic() - started:.1f} s: "
        f"{len(results.processed)} remittances, {len(results.takebacks)} takebacks, "
        f"{len(results.dead_letters)} dead letters -> {args.out}",
        file=sys.stderr,
    )
    return 0


def cmd_demo(args: argparse.Namespace, settings: Settings) -> int:
    from streams.report import print_report
    from streams.runner import feed_and_collect, running_pipeline
    from streams.samples import demo_inputs, describe_inputs

    files = expand_inputs(args.paths or demo_inputs())
    print(f"feeding {describe_inputs(files)}", file=sys.stderr)
    work_dir = settings.data_dir
    work_dir.mkdir(parents=True, exist_ok=True)
    with running_pipeline(settings, _normalize(args.broker), work_dir) as pipeline:
        live = pipeline.settings
        print(f"broker {live.bootstrap_servers}; worker log {work_dir / 'worker.log'}", file=sys.stderr)
        results = asyncio.run(feed_and_collect(pipeline, files, timeout=600.0, progress=True))
        print_report(results)
        if args.once:
            return 0
        print(
            f"\nserving: broker {live.bootstrap_servers}; the billing pages: http://{live.web_host}:{live.web_port}/ "
            "- publish more with `takeback publish FILE --broker "
            f"{live.bootstrap_servers}`; Ctrl-C stops",
            flush=True,
        )
        while True:
            time.sleep(1)


def _selected_dead_letters(args: argparse.Namespace, settings: Settings) -> list[DeadLetter]:
    from schemas import DeadLetter
    from streams.kafka_io import read_topic

    values = asyncio.run(read_topic(settings, settings.topic_names.dead_letters))
    letters = []
    for value in values:
        try:
            letter = DeadLetter.model_validate_json(value)
        except ValueError:
            continue  # not ours: the topic may be shared
        if (not args.code or letter.error_code in args.code) and (not args.ids or letter.dead_letter_id in args.ids):
            letters.append(letter)
    return list({d.dead_letter_id: d for d in letters}.values())  # a re-sent input is rejected once


def cmd_sink(args: argparse.Namespace, settings: Settings) -> int:
    from streams.logging_setup import configure_logging
    from streams.sink.consumer import run_sink

    if args.broker:
        settings = settings.with_overrides(broker=_normalize(args.broker))
    configure_logging(settings.log_level)
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    asyncio.run(run_sink(settings, args.dsn or settings.sink_dsn, from_beginning=args.from_beginning))
    return 0


def cmd_dead_letters(args: argparse.Namespace, settings: Settings) -> int:
    if args.broker:
        settings = settings.with_overrides(broker=_normalize(args.broker))
    letters = _selected_dead_letters(args, settings)
    if args.dead_command == "list":
        for d in letters:
            if args.json:
                print(d.model_dump_json())
            else:
                where = f"{d.source.file or d.source.topic}@{d.source.byte_offset or d.source.offset}"
                print(f"{d.dead_letter_id}  {d.stage:<8} {d.error_code:<22} {where:<40} {d.message}")
        print(f"{len(letters)} dead letters", file=sys.stderr)
        return 0
    if args.accept:
        return _accept_dead_letter(args.accept, letters, settings)
    from streams.kafka_io import publish_payloads

    payloads = [(f"dead-letter-{d.dead_letter_id}", d.raw.encode("latin-1")) for d in letters if d.raw]
    published = asyncio.run(publish_payloads(settings, payloads, f"dlq-{int(time.time())}"))
    print(f"published {len(published)} dead letters to {settings.topic_names.raw} again", file=sys.stderr)
    return 0


def _accept_dead_letter(dead_letter_id: str, letters: list[DeadLetter], settings: Settings) -> int:
    """Rules §7: a person checked an unbalanced remittance; put its input on era.raw again, naming the dead letter."""
    from streams.kafka_io import ACCEPT_HEADER, publish_payloads

    letter = next((d for d in letters if d.dead_letter_id == dead_letter_id), None)
    if letter is None or letter.error_code != "unbalanced_remittance" or not letter.raw:
        print(f"takeback: {_not_acceptable(dead_letter_id, letter)}", file=sys.stderr)
        return EXIT_FAILURE
    payload = [(f"dead-letter-{dead_letter_id}", letter.raw.encode("latin-1"))]
    headers = [(ACCEPT_HEADER, dead_letter_id.encode())]
    asyncio.run(publish_payloads(settings, payload, f"dlq-accept-{int(time.time())}", headers=headers))
    print(f"accepted dead letter {dead_letter_id}: published to {settings.topic_names.raw} again", file=sys.stderr)
    return 0


def _not_acceptable(dead_letter_id: str, letter: DeadLetter | None) -> str:
    if letter is None:
        return f"no dead letter {dead_letter_id} (see `takeback dead-letters list`)"
    if letter.error_code != "unbalanced_remittance":
        return f"dead letter {dead_letter_id} is {letter.error_code}: only an unbalanced_remittance can be accepted"
    return f"dead letter {dead_letter_id} kept no input to apply"


def cmd_report(args: argparse.Namespace, settings: Settings) -> int:
    from streams.pages.report_command import UnknownProvider, write_report

    live = settings.with_overrides(broker=_normalize(args.broker))
    try:
        print(write_report(live, args.provider, args.start, args.end, args.out, args.today), file=sys.stderr)
    except (UnknownProvider, ValueError) as exc:
        print(f"takeback: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    return 0


COMMANDS = {
    "dead-letters": cmd_dead_letters,
    "broker": cmd_broker,
    "worker": cmd_worker,
    "publish": cmd_publish,
    "watch": cmd_watch,
    "demo": cmd_demo,
    "replay": cmd_replay,
    "sink": cmd_sink,
    "report": cmd_report,
}

if __name__ == "__main__":
    sys.exit(main())
