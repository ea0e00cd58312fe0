# syntax=docker/dockerfile:1
# weightguard: the deploy gate for model weights, as a Kubernetes init container or CI step.
#
#   make image       # = scripts/image.sh: wheelhouse, (local base,) build, smoke run
#   docker build -t weightguard .   # after `scripts/image.sh --wheelhouse-only`
#   docker run --rm --read-only --network none -v "$PWD/model:/models/m:ro" \
#     -v "$PWD/trust:/etc/weightguard/trust:ro" weightguard \
#     verify /models/m --key /etc/weightguard/trust/signing-key.pub.pem
#
# Slim (no torch, numpy or compilers), non-root (65532), entrypoint `python -I -m weightguard`
# (isolated: no PYTHON* variable, user site or working directory can inject code; the
# `weightguard` console script's shebang carries -I too). It writes nothing but the paths
# given with --report/--termination-log, so a read-only root filesystem and a read-only HOME
# work, and it needs no network: the production Sigstore trusted root ships inside the
# sigstore package and is also copied to /usr/share/weightguard/sigstore/.
#
# No network inside the build either: every wheel comes from build/wheelhouse/, filled
# outside by `pip download` (scripts/image.sh) and checked here against the hashes pinned in
# requirements/image.txt and requirements/build.txt (regenerate with requirements/lock.py).
#
# The base is pinned by digest (python:3.11-slim-bookworm, multi-arch index). To move it:
#   docker buildx imagetools inspect python:3.11-slim-bookworm   # take the index digest
# or let Dependabot/Renovate (docker ecosystem) propose the bump. Any Debian bookworm image
# with python3 (3.11) and python3-venv works too, e.g. one made with debootstrap where no
# registry is reachable: --build-arg PYTHON_BASE=localhost/bookworm-python:latest.
ARG PYTHON_BASE=python:3.11-slim-bookworm@sha256:2e32f7d302adc1c37428355c1e646897c0c53f4fd60b6a551245fb90ee129f91

# ---- build: a virtualenv with the pinned wheels and weightguard itself ----
FROM ${PYTHON_BASE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_INPUT=1 \
    PIP_NO_INDEX=1 \
    PIP_FIND_LINKS=/wheels \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
COPY requirements/image.txt requirements/build.txt requirements/
COPY build/wheelhouse/ /wheels/
# Wheels only (no compiler in either stage), from the wheelhouse, every file checked against
# its pinned hash.
RUN python3 -m venv /opt/build \
 && /opt/build/bin/pip install --no-index --no-deps --only-binary=:all: --require-hashes -r requirements/build.txt \
 && python3 -m venv /opt/weightguard \
 && /opt/weightguard/bin/pip install --no-index --no-deps --only-binary=:all: --require-hashes -r requirements/image.txt
COPY pyproject.toml README.md ./
COPY weightguard/ weightguard/
# The console script's shebang gets -I as well, for whoever overrides the entrypoint with it.
RUN /opt/build/bin/pip wheel --no-index --no-deps --no-build-isolation --wheel-dir /dist . \
 && /opt/weightguard/bin/pip install --no-index --no-deps /dist/weightguard-*.whl \
 && /opt/weightguard/bin/pip check \
 && /opt/weightguard/bin/pip uninstall --yes pip setuptools \
 && sed -i '1s|^#!.*$|#!/opt/weightguard/bin/python -I|' /opt/weightguard/bin/weightguard \
 && /opt/weightguard/bin/python -m compileall -q /opt/weightguard/lib
# The production (and staging) Sigstore trusted roots, at a stable path for --trusted-root.
RUN mkdir -p /opt/weightguard/share/sigstore \
 && store="/opt/weightguard/lib/python3.11/site-packages/sigstore/_store" \
 && cp "$store/https%3A%2F%2Ftuf-repo-cdn.sigstore.dev/trusted_root.json" \
       /opt/weightguard/share/sigstore/trusted_root.json \
 && cp "$store/https%3A%2F%2Ftuf-repo-cdn.sigstage.dev/trusted_root.json" \
       /opt/weightguard/share/sigstore/trusted_root.staging.json
# Fail the build if the image would not work as promised (isolated: PYTHONPATH is ignored).
RUN PYTHONPATH=/nonexistent /opt/weightguard/bin/python -I -m weightguard verify --help > /dev/null \
 && /opt/weightguard/bin/weightguard verify --help > /dev/null \
 && /opt/weightguard/bin/python -I -c "import json, sys; json.load(open(sys.argv[1]))" \
      /opt/weightguard/share/sigstore/trusted_root.json \
 && if /opt/weightguard/bin/python -I -c "import torch" 2> /dev/null; then exit 1; fi

# ---- runtime: the same base, the virtualenv, no pip, no build tools ----
FROM ${PYTHON_BASE} AS runtime
LABEL org.opencontainers.image.title="weightguard" \
      org.opencontainers.image.description="Sign, verify and scan model weights: a deploy gate for init containers and CI" \
      org.opencontainers.image.licenses="Apache-2.0"
# Drop the base image's own pip/setuptools; HOME is a directory nobody can write;
# /etc/weightguard holds the mount points for the policy (ConfigMap) and trust/ (Secret).
RUN if python3 -m pip --version > /dev/null 2>&1; then \
      python3 -m pip uninstall --yes --quiet pip setuptools wheel; fi \
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
# -I: isolated mode (ignores PYTHON* variables and the user site; nothing from the
# working directory is importable). The admission policy also refuses any env on the guard.
ENTRYPOINT ["/opt/weightguard/bin/python", "-I", "-m", "weightguard"]
CMD ["--help"]
