# syntax=docker/dockerfile:1
# Two stages: dependencies are installed from the lock file before the source is copied, so the
# dependency layer is cached; the runtime image holds only the virtual environment.
FROM python:3.11-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY requirements.lock ./
RUN python -m venv /opt/reconciler \
 && /opt/reconciler/bin/pip install --no-deps --only-binary=:all: -r requirements.lock
COPY pyproject.toml README.md ./
COPY reconciler ./reconciler
RUN /opt/reconciler/bin/pip install --no-deps .

FROM python:3.11-slim-bookworm
RUN useradd --uid 10001 --user-group --no-create-home --shell /usr/sbin/nologin reconciler
COPY --from=build /opt/reconciler /opt/reconciler
# No bytecode writes and no home directory needed: the image runs with a read-only root
# filesystem. The manifest is mounted (ConfigMap, volume) at the path RECONCILER_MANIFEST names.
ENV PATH=/opt/reconciler/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    RECONCILER_MANIFEST=/config/manifest.yaml
USER 10001:10001
WORKDIR /tmp
ENTRYPOINT ["reconcile"]
