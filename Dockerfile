# syntax=docker/dockerfile:1
# The reconciler as a scheduled container job (see the README, section Running it).
#
# Two stages. The build stage installs the pinned, hash-checked dependencies from
# requirements.lock into a virtual environment *before* the source is copied, so that layer is
# cached until the lock changes. The build backend (setuptools, wheel) comes from its own hashed
# lock, requirements-build.lock, into a second environment that only builds: the wheel is built
# there without build isolation, since an isolated build would fetch whatever setuptools the
# index has that day. The wheel is then installed, without dependencies, into the first
# environment. The runtime stage holds only that environment, runs as a non-root UID and
# writes nothing to its filesystem (read-only root filesystem works).
#
# tests/container/ performs these install steps without Docker and checks this file's shape.
# For a fully reproducible base, pin the image by digest:
#   docker build --build-arg PYTHON_IMAGE=python:3.11-slim-bookworm@sha256:<digest> .
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore
WORKDIR /src
COPY requirements.lock ./
RUN python -m venv /opt/reconciler \
 && /opt/reconciler/bin/pip install --no-deps --require-hashes --only-binary=:all: -r requirements.lock
COPY requirements-build.lock ./
RUN python -m venv /opt/build \
 && /opt/build/bin/pip install --no-deps --require-hashes --only-binary=:all: -r requirements-build.lock
COPY pyproject.toml README.md ./
COPY reconciler ./reconciler
RUN /opt/build/bin/pip wheel --no-deps --no-build-isolation --check-build-dependencies \
      --wheel-dir /src/dist . \
 && /opt/reconciler/bin/pip install --no-deps --no-index /src/dist/reconciler-*.whl \
 && /opt/reconciler/bin/pip check

FROM ${PYTHON_IMAGE}
RUN useradd --uid 10001 --user-group --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin reconciler
# pip compiled the bytecode at install time; nothing is written at run time.
COPY --from=build /opt/reconciler /opt/reconciler
ENV PATH=/opt/reconciler/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    RECONCILER_MANIFEST=/config/manifest.yaml
USER 10001:10001
WORKDIR /config
ENTRYPOINT ["reconcile"]
