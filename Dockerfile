# Takeback worker image: `docker build -t takeback .`, then `docker run takeback` runs `takeback worker`
# (settings from TAKEBACK_* variables; see docker-compose.yml and deploy/k8s).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# Locked, hash-checked dependencies first: this layer is rebuilt only when the lock changes.
COPY requirements-runtime.lock ./
RUN pip install --require-hashes -r requirements-runtime.lock

COPY pyproject.toml README.md ./
COPY schemas ./schemas
COPY streams ./streams
RUN pip install --no-deps . && rm -rf build *.egg-info

# Non-root, numeric uid (Kubernetes' runAsNonRoot checks it); /data holds the RocksDB table state.
RUN groupadd --system --gid 10001 takeback \
    && useradd --system --uid 10001 --gid 10001 --home-dir /data --no-create-home --shell /usr/sbin/nologin takeback \
    && mkdir -p /data \
    && chown 10001:10001 /data
USER 10001:10001
WORKDIR /data

ENV TAKEBACK_WEB_HOST=0.0.0.0 \
    TAKEBACK_STORE=rocksdb:// \
    TAKEBACK_DATA_DIR=/data

EXPOSE 6066
VOLUME ["/data"]

ENTRYPOINT ["takeback"]
CMD ["worker"]
