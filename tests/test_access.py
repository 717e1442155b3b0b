"""Access: TLS/SASL settings reach every Kafka client; the API needs a token off loopback; no secret in logs."""

from __future__ import annotations

import os
import subprocess
import sys
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import faust
import pytest

from streams.broker import EmbeddedBroker, free_port
from streams.runner import WorkerProcess
from streams.security import faust_credentials, kafka_client_kwargs
from streams.settings import Settings, settings_from_env

SECRET = "s3cr3t-" + uuid.uuid4().hex[:8]
# Lines every worker logs at debug level when it starts, becomes ready and stops (faust's service log).
WORKER_LIFE_LINES = ("[DEBUG]", "[^Worker]: Starting", "[^Worker]: Ready", "[^Worker]: Closing event loop")


def test_plaintext_is_the_default_and_passes_nothing_else() -> None:
    assert kafka_client_kwargs(Settings()) == {"security_protocol": "PLAINTEXT"}
    assert faust_credentials(Settings()) is None


def test_sasl_scram_over_tls_reaches_raw_clients_and_faust() -> None:
    settings = settings_from_env(
        {
            "TAKEBACK_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
            "TAKEBACK_KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
            "TAKEBACK_KAFKA_SASL_USERNAME": "takeback",
            "TAKEBACK_KAFKA_SASL_PASSWORD": SECRET,
        }
    )
    kwargs = kafka_client_kwargs(settings)
    assert kwargs["security_protocol"] == "SASL_SSL"
    assert (kwargs["sasl_mechanism"], kwargs["sasl_plain_username"]) == ("SCRAM-SHA-512", "takeback")
    assert kwargs["sasl_plain_password"] == SECRET and kwargs["ssl_context"] is not None
    credentials = faust_credentials(settings)
    assert isinstance(credentials, faust.SASLCredentials)
    assert credentials.mechanism.value == "SCRAM-SHA-512" and credentials.ssl_context is not None
    assert SECRET not in repr(settings)


def test_a_worker_refuses_to_expose_the_api_beyond_loopback_without_a_token(tmp_path: Path) -> None:
    env = {**os.environ, "TAKEBACK_WEB_HOST": "0.0.0.0", "TAKEBACK_BROKER": "kafka://127.0.0.1:1"}
    run = subprocess.run(
        [sys.executable, "-m", "streams.cli", "worker"], env=env, capture_output=True, text=True, timeout=60
    )
    assert run.returncode != 0
    assert run.stderr.strip().splitlines() == [run.stderr.strip()]
    assert "TAKEBACK_API_TOKEN" in run.stderr


def status_of(url: str, token: str | None = None) -> int:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code
    except urllib.error.URLError:
        return 0


@pytest.mark.broker
def test_the_api_asks_for_the_bearer_token_and_never_logs_it(broker: EmbeddedBroker, tmp_path: Path) -> None:
    settings = Settings(
        broker=broker.url,
        topic_prefix=f"access-{uuid.uuid4().hex[:8]}.",
        session_timeout=2.0,
        web_port=free_port(),
        api_token=SECRET,
        log_level="debug",
        data_dir=tmp_path / "state",
    )
    base = f"http://127.0.0.1:{settings.web_port}"
    log_path = tmp_path / "worker.log"
    with WorkerProcess(settings, log_path) as worker:
        assert worker.wait_ready(timeout=60), f"the worker never became ready: {worker.problem() or 'still joining'}"
        assert status_of(f"{base}/healthz") == 200  # probes stay open
        assert status_of(f"{base}/providers") == 401
        assert status_of(f"{base}/providers", token="wrong") == 401
        assert status_of(f"{base}/providers/123/takebacks") == 401
        assert status_of(f"{base}/metrics") == 401  # net cash per NPI: Prometheus sends the token
        assert status_of(f"{base}/metrics", token=SECRET) == 200
        assert status_of(f"{base}/providers", token=SECRET) == 200
    log = log_path.read_text(errors="replace")
    # An empty or cut-short log would pass the secret check below without proving anything: the log must hold
    # the worker's whole life at debug level, from start through ready to a clean stop.
    for line in WORKER_LIFE_LINES:
        assert line in log, f"the worker log lacks {line!r}; its end: {log[-800:]!r}"
    assert SECRET not in log
