# One Makefile for the whole suite. `make run` and `make test` do all set-up themselves.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
PROTOS := $(shell find protos -name '*.proto')
GEN    := gen

.PHONY: run test proto migrate bench lint clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $(STAMP)

# Generated code lives in gen/ (ignored); a .pth file makes it importable everywhere in the venv.
$(GEN)/.stamp: $(STAMP) $(PROTOS)
	rm -rf $(GEN) && mkdir -p $(GEN)
	$(PY) -m grpc_tools.protoc -Iprotos \
	  -I$$($(PY) -c 'import grpc_tools, os; print(os.path.join(os.path.dirname(grpc_tools.__file__), "_proto"))') \
	  -I$$($(PY) -c 'import google.api.http_pb2 as m, os; print(os.path.dirname(os.path.dirname(os.path.dirname(m.__file__))))') \
	  --python_out=$(GEN) --grpc_python_out=$(GEN) --plugin=protoc-gen-mypy=$(VENV)/bin/protoc-gen-mypy --mypy_out=$(GEN) $(PROTOS)
	find $(GEN)/agentic -type d -exec touch {}/__init__.py \;
	echo "$(CURDIR)/$(GEN)" > $$($(PY) -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')/agentic_gen.pth
	touch $(GEN)/.stamp

proto: $(GEN)/.stamp

run: proto
	$(PY) -m services.launcher

migrate: proto
	$(PY) -m services.launcher --migrate-only

test: proto
	$(PY) -m pytest

bench: proto
	$(PY) -m benchmarks

lint: proto
	$(PY) -m ruff check services gateway tests benchmarks

clean:
	rm -rf $(GEN) $(VENV) .data
