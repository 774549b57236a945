# syntax=docker/dockerfile:1

# acs-exporter container image.
#   docker build -t acs-exporter:0.1.0 .
#   docker run --rm --read-only -p 10142:10142 acs-exporter:0.1.0
# The build stage turns the package and every dependency into wheels; the runtime stage installs
# only those wheels (no index, no compiler, no source tree), runs as a numeric non-root user and
# writes nothing outside /var/lib/acs-exporter, so a read-only root filesystem works.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1
WORKDIR /src
# LICENSE: setuptools puts it in the wheel (.dist-info/licenses/), so the image ships it.
COPY pyproject.toml README.md LICENSE ./
COPY exporter ./exporter
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM ${PYTHON_IMAGE}
ARG VERSION=0.1.0
ARG REVISION=unknown
ARG CREATED=unknown
LABEL org.opencontainers.image.title="acs-exporter" \
      org.opencontainers.image.description="Prometheus exporter for Azure Communication Services call end reasons" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.licenses="MIT" \
      org.opencontainers.image.base.name="${PYTHON_IMAGE}"

# No .pyc writes at run time (the root filesystem may be read-only; pip compiled them at install),
# unbuffered logs so every line reaches `kubectl logs` at once.
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    pip install --no-cache-dir --no-index --find-links /wheels "acs-exporter==${VERSION}" \
    && install -d -o 10142 -g 10142 -m 0750 /var/lib/acs-exporter

COPY deploy/docker/config.yaml /etc/acs-exporter/config.yaml

# The checkpoint (cursor + cumulative counts) lives here; mount a persistent volume to keep
# counters across restarts.
VOLUME ["/var/lib/acs-exporter"]
USER 10142:10142
WORKDIR /var/lib/acs-exporter
EXPOSE 10142

# Exec form: the exporter is PID 1 and receives SIGTERM directly.
ENTRYPOINT ["acs-exporter"]
CMD ["run", "--config.file", "/etc/acs-exporter/config.yaml"]
