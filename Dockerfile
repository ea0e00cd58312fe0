# syntax=docker/dockerfile:1
# weightguard: the deploy gate for model weights, as a Kubernetes init container or CI step.
#
#   docker build -t weightguard .
#   docker run --rm --read-only --network none -v "$PWD/model:/models/m:ro" \
#     -v "$PWD/trust:/etc/weightguard/trust:ro" weightguard \
#     verify /models/m --key /etc/weightguard/trust/signing-key.pub.pem
#
# Slim (no torch, numpy or compilers), non-root (65532), entrypoint `weightguard`. It writes
# nothing but the paths given with --report/--termination-log, so a read-only root filesystem
# and a read-only HOME work, and it needs no network: the production Sigstore trusted root
# ships inside the sigstore package and is also copied to /usr/share/weightguard/sigstore/.
#
# The base is pinned by digest (python:3.11-slim-bookworm, multi-arch index). To move it:
#   docker buildx imagetools inspect python:3.11-slim-bookworm   # take the index digest
# or let Dependabot/Renovate (docker ecosystem) propose the bump. Python dependencies are
# pinned with hashes in requirements/image.txt (regenerate with requirements/lock.py).
ARG PYTHON_BASE=python:3.11-slim-bookworm@sha256:2e32f7d302adc1c37428355c1e646897c0c53f4fd60b6a551245fb90ee129f91

# ---- build: a virtualenv with the pinned wheels and weightguard itself ----
FROM ${PYTHON_BASE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_INPUT=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
COPY requirements/image.txt requirements/build.txt requirements/
# Wheels only (no compiler in either stage), every file checked against its pinned hash.
RUN python -m venv /opt/build \
 && /opt/build/bin/pip install --no-deps --only-binary=:all: --require-hashes -r requirements/build.txt \
 && python -m venv /opt/weightguard \
 && /opt/weightguard/bin/pip install --no-deps --only-binary=:all: --require-hashes -r requirements/image.txt
COPY pyproject.toml README.md ./
COPY weightguard/ weightguard/
RUN /opt/build/bin/pip wheel --no-deps --no-build-isolation --wheel-dir /dist . \
 && /opt/weightguard/bin/pip install --no-deps --no-index /dist/weightguard-*.whl \
 && /opt/weightguard/bin/pip check \
 && /opt/weightguard/bin/pip uninstall --yes pip setuptools \
 && /opt/weightguard/bin/python -m compileall -q /opt/weightguard/lib
# The production (and staging) Sigstore trusted roots, at a stable path for --trusted-root.
RUN mkdir -p /opt/weightguard/share/sigstore \
 && store="/opt/weightguard/lib/python3.11/site-packages/sigstore/_store" \
 && cp "$store/https%3A%2F%2Ftuf-repo-cdn.sigstore.dev/trusted_root.json" \
       /opt/weightguard/share/sigstore/trusted_root.json \
 && cp "$store/https%3A%2F%2Ftuf-repo-cdn.sigstage.dev/trusted_root.json" \
       /opt/weightguard/share/sigstore/trusted_root.staging.json
# Fail the build if the image would not work as promised.
RUN /opt/weightguard/bin/weightguard verify --help > /dev/null \
 && /opt/weightguard/bin/python -c "import json, sys; json.load(open(sys.argv[1]))" \
      /opt/weightguard/share/sigstore/trusted_root.json \
 && if /opt/weightguard/bin/python -c "import torch" 2> /dev/null; then exit 1; fi

# ---- runtime: the same base, the virtualenv, no pip, no build tools ----
FROM ${PYTHON_BASE} AS runtime
LABEL org.opencontainers.image.title="weightguard" \
      org.opencontainers.image.description="Sign, verify and scan model weights: a deploy gate for init containers and CI" \
      org.opencontainers.image.licenses="Apache-2.0"
# Drop the base image's own pip/setuptools; HOME is a directory nobody can write;
# /etc/weightguard holds the mount points for the policy (ConfigMap) and trust/ (Secret).
RUN python -m pip uninstall --yes --quiet pip setuptools wheel \
 && mkdir -p /home/weightguard /usr/share/weightguard /etc/weightguard \
 && chmod 0555 /home/weightguard
COPY --from=build /opt/weightguard /opt/weightguard
COPY --from=build /opt/weightguard/share/sigstore /usr/share/weightguard/sigstore
ENV PATH=/opt/weightguard/bin:/usr/local/bin:/usr/bin:/bin \
    HOME=/home/weightguard \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONNOUSERSITE=1 \
    PYTHONUNBUFFERED=1
USER 65532:65532
WORKDIR /home/weightguard
ENTRYPOINT ["/opt/weightguard/bin/weightguard"]
CMD ["--help"]
