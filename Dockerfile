# syntax=docker/dockerfile:1

# acs-exporter container image.
#   docker build -t acs-exporter:0.1.0 .
#   docker run --rm --read-only -p 10142:10142 acs-exporter:0.1.0
# The build stage turns the package and every dependency into wheels and installs only those
# (no index) into a virtualenv made without pip; the runtime stage copies that virtualenv and
# nothing else: no pip, setuptools or wheel (the base image's are removed), no compiler, no
# source tree. It runs as a numeric non-root user and writes nothing outside
# /var/lib/acs-exporter, so a read-only root filesystem works.

# The base image, pinned by digest (the multi-platform index digest of the tag): a tag can be
# moved to other content, a digest cannot. To update (docs/kubernetes.md, "Updating the base
# image"):
#   docker buildx imagetools inspect python:3.11-slim-bookworm   # "Digest:" of the index
# then set tag and digest here together, rebuild and run the tests.
ARG PYTHON_IMAGE=python:3.11.14-slim-bookworm@sha256:65a93d69fa75478d554f4ad27c85c1e69fa184956261b4301ebaf6dbb0a3543d
# VERSION must equal pyproject.toml's version (tools/release/release_info.py checks it on every
# release). REVISION (the git commit) and CREATED (ISO 8601) come from the release workflow and
# are what `acs-exporter --version` prints; a local build without them says "unknown".
ARG VERSION=0.1.0
ARG REVISION=unknown
ARG CREATED=unknown

FROM ${PYTHON_IMAGE} AS build
ARG VERSION
ARG REVISION
ARG CREATED
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1
WORKDIR /src
# LICENSE: setuptools puts it in the wheel (.dist-info/licenses/), so the image ships it.
COPY pyproject.toml README.md LICENSE ./
COPY exporter ./exporter
# `pip --python` runs this stage's pip against the virtualenv's interpreter, so the virtualenv
# itself never holds an installer; pip compiles the .pyc files here (the runtime root is
# read-only). Console scripts point at /opt/acs-exporter/bin/python, where the runtime copies it.
# Last, the installed package records the commit and build date for `--version`
# (acs_exporter/build_info.json; a bad REVISION or CREATED fails the build, naming the value).
RUN pip wheel --no-cache-dir --wheel-dir /wheels . \
    && python -m venv --without-pip /opt/acs-exporter \
    && pip --python /opt/acs-exporter/bin/python install --no-cache-dir --no-index --find-links /wheels "acs-exporter==${VERSION}" \
    && /opt/acs-exporter/bin/python -m acs_exporter.build_info --revision "${REVISION}" --built "${CREATED}"

FROM ${PYTHON_IMAGE}
ARG VERSION
ARG REVISION
ARG CREATED
ARG PYTHON_IMAGE
LABEL org.opencontainers.image.title="acs-exporter" \
      org.opencontainers.image.description="Prometheus exporter for Azure Communication Services call end reasons" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.licenses="MIT" \
      org.opencontainers.image.base.name="${PYTHON_IMAGE}"

# No .pyc writes at run time (the root filesystem may be read-only; the build stage compiled
# them), unbuffered logs so every line reaches `kubectl logs` at once.
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PATH=/opt/acs-exporter/bin:$PATH

# Nothing installs at run time: remove the base image's pip, setuptools and wheel (with their
# console scripts) and ensurepip, which bundles pip and setuptools wheels.
RUN rm -rf /usr/local/bin/pip /usr/local/bin/pip3 /usr/local/bin/pip3.* /usr/local/bin/wheel \
        /usr/local/lib/python3.*/site-packages/pip \
        /usr/local/lib/python3.*/site-packages/pip-*.dist-info \
        /usr/local/lib/python3.*/site-packages/setuptools \
        /usr/local/lib/python3.*/site-packages/setuptools-*.dist-info \
        /usr/local/lib/python3.*/site-packages/pkg_resources \
        /usr/local/lib/python3.*/site-packages/_distutils_hack \
        /usr/local/lib/python3.*/site-packages/distutils-precedence.pth \
        /usr/local/lib/python3.*/site-packages/wheel \
        /usr/local/lib/python3.*/site-packages/wheel-*.dist-info \
        /usr/local/lib/python3.*/ensurepip \
    && install -d -o 10142 -g 10142 -m 0750 /var/lib/acs-exporter

COPY --from=build /opt/acs-exporter /opt/acs-exporter
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
