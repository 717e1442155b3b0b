"""Broker addresses: one rule for adding the kafka:// scheme (settings.broker_url), and its inverse for raw clients."""

from __future__ import annotations

from streams.broker import EmbeddedBroker
from streams.runner import EMBEDDED_SESSION_TIMEOUT, isolated
from streams.settings import Settings, broker_url


def test_a_host_and_port_gets_the_kafka_scheme_and_a_url_stays_as_given() -> None:
    assert broker_url("10.0.0.5:9093") == "kafka://10.0.0.5:9093"
    assert broker_url("kafka://kafka:9092") == "kafka://kafka:9092"
    assert broker_url("aiokafka://a:1;aiokafka://b:2") == "aiokafka://a:1;aiokafka://b:2"


def test_raw_clients_get_back_the_address_that_was_given() -> None:
    assert Settings(broker=broker_url("10.0.0.5:9093")).bootstrap_servers == "10.0.0.5:9093"


def test_the_embedded_broker_url_follows_the_same_rule() -> None:
    embedded = EmbeddedBroker(port=19092)  # not started: its address only
    assert embedded.url == broker_url(embedded.bootstrap) == "kafka://127.0.0.1:19092"


def test_a_replay_shortens_the_session_only_on_the_embedded_broker() -> None:
    """Apache Kafka refuses sessions under group.min.session.timeout.ms (6 s by default)."""
    configured = Settings(session_timeout=6.0)
    assert isolated(configured).session_timeout == EMBEDDED_SESSION_TIMEOUT < 6.0
    assert isolated(configured, embedded_broker=False).session_timeout == 6.0
