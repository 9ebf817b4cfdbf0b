# One image for every service: python -m services.<name> serve|migrate, or python -m gateway.
FROM python:3.11-slim AS build
WORKDIR /app
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
COPY pyproject.toml ./
COPY services ./services
COPY gateway ./gateway
COPY protos ./protos
RUN python -m venv /opt/venv && /opt/venv/bin/pip install . \
 && mkdir gen \
 && /opt/venv/bin/python -m grpc_tools.protoc -Iprotos \
      -I"$(/opt/venv/bin/python -c 'import grpc_tools, os; print(os.path.join(os.path.dirname(grpc_tools.__file__), "_proto"))')" \
      -I"$(/opt/venv/bin/python -c 'import google.api.http_pb2 as m, os; print(os.path.dirname(os.path.dirname(os.path.dirname(m.__file__))))')" \
      --python_out=gen --grpc_python_out=gen $(find protos -name '*.proto') \
 && find gen/agentic -type d -exec touch {}/__init__.py \;

FROM python:3.11-slim
WORKDIR /app
ENV PATH=/opt/venv/bin:$PATH PYTHONPATH=/app:/app/gen PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
COPY --from=build /opt/venv /opt/venv
COPY --from=build /app/gen ./gen
COPY services ./services
COPY gateway ./gateway
RUN useradd --uid 10001 --no-create-home --shell /usr/sbin/nologin agentic
USER 10001
EXPOSE 8080 50051 50052
CMD ["python", "-m", "gateway"]
