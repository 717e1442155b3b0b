"""Settings of a Takeback worker and CLI, read from the environment (``TAKEBACK_*``) with defaults.

One place for every knob, so the worker, the CLI, docker-compose and the
Kubernetes manifests all speak the same names.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from streams.domain.match_policy import MatchPolicy

ENV_PREFIX = "TAKEBACK_"
KAFKA_SCHEME = "kafka://"


def broker_url(address: str) -> str:
    """A broker address as faust wants it: HOST:PORT gets the kafka:// scheme, a URL stays as it is."""
    return address if "://" in address else KAFKA_SCHEME + address


@dataclass(frozen=True)
class TopicNames:
    raw: str = "era.raw"
    remittances: str = "remittances"
    # internal: remittances whose input was keyed by something other than their ledger key, on their way to it
    remittances_rekeyed: str = "remittances.rekeyed"
    reversals: str = "takebacks.reversal"
    recoupments: str = "takebacks.recoupment"
    dead_letters: str = "remittances.dead-letter"
    net_cash: str = "net-cash"
    net_cash_shares: str = "net-cash.shares"  # internal: each ledger's share of an NPI's row, keyed by NPI
    receipts: str = "takeback.receipts"
    bank_raw: str = "bank.raw"  # bank deposit files (NACHA, BAI2), one message per file
    reassociation_in: str = "reassociation.in"  # internal: facts keyed by trace, and clock ticks (rules §10)
    reassociations: str = "deposits.reassociation"  # Reassociation events

    def prefixed(self, prefix: str) -> TopicNames:
        if not prefix:
            return self
        return TopicNames(**{f.name: prefix + getattr(self, f.name) for f in fields(self)})


@dataclass(frozen=True)
class Settings:
    broker: str = "kafka://127.0.0.1:9092"
    app_id: str = "takeback"
    topic_prefix: str = ""
    partitions: int = 4
    replication_factor: int = 1
    # Table store: "memory://" or "rocksdb://" (state restored from the changelog either way).
    store: str = "memory://"
    data_dir: Path = Path(".takeback-data")
    # Tansu joins a group in session_timeout/2; 6 s keeps start-up and crash recovery short
    # without false evictions on a busy 2-core machine.
    session_timeout: float = 6.0
    # How long a rebalance waits for every member to rejoin: a member killed mid-rebalance holds the whole group
    # this long (faust's default 60 s). A member must finish its current batch within it.
    rebalance_timeout: float = 60.0
    # faust hard-codes a 1.5 s fetch wait; Tansu answers a fetch only when it expires, so each hop waits this long.
    # Apache Kafka answers as soon as data arrives: its deploy files set 500 (fewer idle fetches).
    fetch_max_wait_ms: int = 10
    # The match agent takes up to this many remittances at once (waiting at most match_batch_wait seconds):
    # one table write per provider per batch instead of one per remittance.
    match_batch_size: int = 200
    match_batch_wait: float = 0.005
    web_host: str = "127.0.0.1"
    web_port: int = 6066
    # The URL other workers use to reach this one (request routing); default: web_host and web_port.
    canonical_url: str = ""
    web_enabled: bool = True
    include_patient_data: bool = False
    max_input_bytes: int = 16 * 1024 * 1024
    # POST /eras and /bank-files: the largest body taken (a larger one is answered 413 unread). Above
    # max_input_bytes, a file is cut between transaction sets as `takeback publish` cuts it.
    feed_max_bytes: int = 64 * 1024 * 1024
    # Caps per 835 transaction set (streams/domain/x12/reader.py ReaderLimits: why these numbers); a set past one is
    # a `set_too_large` dead letter, so a hostile file cannot exhaust the reader's memory or stall its partition.
    max_set_segments: int = 1_000_000
    max_set_claims: int = 100_000
    max_set_adjustments: int = 300_000
    log_level: str = "info"
    # After SIGTERM or Ctrl-C a worker stops gracefully (commits, leaves its group) for at most this long, then
    # exits anyway: with its broker gone the graceful stop never ends. Under Kubernetes' 30 s before SIGKILL.
    stop_grace_seconds: float = 10.0
    # Rules §5: flag a reversal still without its correction after this many days of remittance time.
    correction_wait_days: int = 30
    # Rules §11: the operator's payer profiles (CSV, the columns of streams/domain/deadlines/data/payer_profiles.csv)
    # and providers (CSV: provider_id,state,name: the state whose look-back limit applies); empty: none.
    payer_profiles: str = ""
    providers: str = ""
    # Rules §10: an ERA's money (or a deposit's ERA) is late after this many business days of stream time.
    deposit_wait_business_days: int = 3
    # Prometheus label sets are capped; providers/payers past the cap are summed under "_other".
    metrics_max_providers: int = 500
    metrics_max_payers: int = 100
    # Access (streams/security.py). Kafka: PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL; SASL PLAIN or SCRAM.
    kafka_security_protocol: str = "PLAINTEXT"
    kafka_ssl_cafile: str = ""
    kafka_ssl_certfile: str = ""
    kafka_ssl_keyfile: str = ""
    kafka_sasl_mechanism: str = "PLAIN"
    kafka_sasl_username: str = ""
    kafka_sasl_password: str = field(default="", repr=False)
    # Required when the HTTP API listens beyond loopback; clients send "Authorization: Bearer <token>".
    api_token: str = field(default="", repr=False)
    # `takeback sink`: PostgreSQL connection string (libpq URI or key=value), events per write, metrics port.
    sink_dsn: str = field(default="", repr=False)
    sink_batch_size: int = 500
    sink_metrics_port: int = 6067
    # `takeback watch`: its metrics port (0: none); --metrics-port overrides it.
    watch_metrics_port: int = 6068
    topics: TopicNames = field(default_factory=TopicNames)

    @property
    def application_id(self) -> str:
        """The Faust app id (its consumer group, the prefix of its tables' changelog topics): app_id, plus the
        topic prefix so isolated runs (replay) never share a group."""
        return self.app_id + (f"-{self.topic_prefix.strip('.-')}" if self.topic_prefix else "")

    @property
    def topic_names(self) -> TopicNames:
        return self.topics.prefixed(self.topic_prefix)

    @property
    def bootstrap_servers(self) -> str:
        """host:port list without the kafka:// scheme, for raw aiokafka clients."""
        return ",".join(url.split("://", 1)[-1] for url in self.broker.split(";"))

    def with_overrides(self, **overrides: object) -> Settings:
        return replace(self, **{k: v for k, v in overrides.items() if v is not None})


def match_policy(settings: Settings) -> MatchPolicy:
    """The policy every ledger applies: the rules' choices the settings make, and the rule tables with the
    operator's files, loaded once (a bad file raises RuleTableError naming the file and line)."""
    return _policy(settings.correction_wait_days, settings.payer_profiles, settings.providers)


@functools.cache
def _policy(correction_wait_days: int, payer_profiles: str, providers: str) -> MatchPolicy:
    from streams.domain.deadlines.rule_tables import load_rule_book, shipped_rule_book
    from streams.domain.match_policy import MatchPolicy

    rules = shipped_rule_book()
    if payer_profiles or providers:
        rules = load_rule_book(
            payer_profiles=Path(payer_profiles) if payer_profiles else None,
            providers=Path(providers) if providers else None,
        )
    return MatchPolicy(correction_wait_days=correction_wait_days, rules=rules)


def _coerce(raw: str, like: object) -> object:
    if isinstance(like, bool):
        return raw.strip().lower() in ("1", "true", "yes", "on")
    if isinstance(like, int):
        return int(raw)
    if isinstance(like, float):
        return float(raw)
    if isinstance(like, Path):
        return Path(raw)
    return raw


def settings_from_env(environ: dict[str, str] | None = None) -> Settings:
    """Settings with every ``TAKEBACK_<FIELD>`` variable applied (e.g. TAKEBACK_BROKER, TAKEBACK_STORE)."""
    env = os.environ if environ is None else environ
    defaults = Settings()
    overrides: dict[str, object] = {}
    for f in fields(Settings):
        if f.name == "topics":
            continue
        raw = env.get(ENV_PREFIX + f.name.upper())
        if raw is not None:
            overrides[f.name] = _coerce(raw, getattr(defaults, f.name))
    topic_overrides = {
        f.name: env[f"{ENV_PREFIX}TOPIC_{f.name.upper()}"]
        for f in fields(TopicNames)
        if f"{ENV_PREFIX}TOPIC_{f.name.upper()}" in env
    }
    if topic_overrides:
        overrides["topics"] = TopicNames(**topic_overrides)
    return replace(defaults, **overrides)


def settings_to_env(settings: Settings) -> dict[str, str]:
    """The environment that makes ``settings_from_env`` return these settings (for worker subprocesses)."""
    env: dict[str, str] = {}
    for f in fields(Settings):
        value = getattr(settings, f.name)
        if f.name == "topics":
            for t in fields(TopicNames):
                env[f"{ENV_PREFIX}TOPIC_{t.name.upper()}"] = getattr(value, t.name)
        elif isinstance(value, bool):
            env[ENV_PREFIX + f.name.upper()] = "true" if value else "false"
        else:
            env[ENV_PREFIX + f.name.upper()] = str(value)
    return env
