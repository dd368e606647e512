# Voyant: the two commands that do everything on a fresh Debian machine (Python 3.11).
#   make demo   create .venv, install, start the embedded broker, the hub and three live rooms
#   make test   create .venv, install, lint, type-check and run the whole suite

# The distribution's Python where it is 3.11 or newer (/usr/bin/python3: Debian's, as on the
# box and the hub's server), else the first python3 on PATH; PYTHON=... chooses (for a new
# .venv: `make clean` first). A python3 earlier on PATH may be a slower build: this
# machine's pyenv 3.11.7 (libpython shared) ran the suite's Python a third slower than
# Debian's 3.11 (issue 18: 11 min of CPU, 8.5 min).
PYTHON ?= $(shell /usr/bin/python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
            2>/dev/null && echo /usr/bin/python3 || echo python3)
VENV   := .venv
BIN    := $(VENV)/bin
#: pytest-xdist workers: one more than the cores (see the pytest target).
WORKERS ?= $(shell echo $$(( $$(nproc) + 1 )))
STAMP  := $(VENV)/.installed-stamp

# (warm-a and warm-b come from a pattern rule, which make does not apply to .PHONY targets.)
.PHONY: demo test lint typecheck typecheck-idle warm pytest install clean

# The packages are installed by uv (Astral's installer, its wheel from PyPI into the venv):
# from a cold cache it resolved the same versions as pip here in a fraction of the time
# (issue 18: 4 s against pip's 20 s). uv is installed into a venv made without pip (installing
# pip into it first took 2.5 s) by the distribution's own pip (Debian's python3-pip, already
# byte-compiled: `pip --python` installs into another environment), else by the pip wheel
# the distribution ships for venvs (python3-venv), run as it is: from the zip, pip compiles
# its own sources at each run (1.3 s more). uv then installs pip with the rest. uv reads no
# pip settings (pip.conf, PIP_*): where neither pip can install it, or uv cannot install (an
# index or a proxy only pip is set up for), the venv gets its pip and pip installs as before.
# Then the venv's packages are compiled on every core, but for those the suite's processes do
# not import (the installers, the packages' own tests, mypy's sources beside its compiled
# modules: mypy's one run imports a few of them): 5 s against 7 s for all. The suite's
# hundred-odd hub, room and CLI processes run with PYTHONDONTWRITEBYTECODE on CI and would
# otherwise compile what they import each time.
PIP_WHEEL := $(lastword $(sort $(wildcard /usr/share/python-wheels/pip-*.whl)))
UV_SPEC   := 'uv>=0.5,<1'
NOT_COMPILED := 'site-packages/((pip|setuptools|pkg_resources|mypy|mypyc)/|.*/(tests?|testing|f2py)/)'
$(STAMP): pyproject.toml
	@.ci/ensure-packages python3-venv
	$(PYTHON) -m venv --without-pip $(VENV)
	if { { $(PYTHON) -m pip --version > /dev/null 2>&1 \
	       && $(PYTHON) -m pip --python $(BIN)/python install --quiet --only-binary :all: $(UV_SPEC); } \
	     || { [ -n "$(PIP_WHEEL)" ] && echo "uv not installed by $(PYTHON)'s pip: trying $(PIP_WHEEL)" \
	          && $(BIN)/python $(PIP_WHEEL)/pip install --quiet --only-binary :all: $(UV_SPEC); }; } \
	    && $(BIN)/uv pip install --python $(BIN)/python --quiet pip -e '.[dev]'; \
	then :; else \
	    echo "uv could not be installed, or could not install the packages: pip does"; \
	    $(BIN)/python -m ensurepip --upgrade > /dev/null \
	    && $(BIN)/python -m pip install --quiet --upgrade pip \
	    && $(BIN)/python -m pip install --quiet -e '.[dev]'; \
	fi
	$(BIN)/python -m compileall -q -j 0 -x $(NOT_COMPILED) \
	    "$$($(BIN)/python -c 'import sysconfig; print(sysconfig.get_path("purelib"))')" \
	    || echo "the files above are left to be compiled by each process that imports them"
	@touch $(STAMP)

install: $(STAMP)

demo: install
	$(BIN)/voyant-sim demo

lint: install
	$(BIN)/ruff check .

typecheck: install
	$(BIN)/mypy

# mosquitto: the broker tests; chromium: the browser tests (Playwright drives Debian's
# /usr/bin/chromium, its own browser download does not work here); shellcheck: the install
# script's lint. The suite runs on one worker more than the cores (pytest-xdist), a test file
# per worker: the tests that drive real processes (Mosquitto, the hub, the paced rooms) wait
# on them, not on the CPU, and left a core idle (2 cores: 404 and 406 s with two workers,
# 374 s with three); the fifteen slowest tests are listed at the end (issue 18: the suite
# within 5 minutes).
# The files go to the workers longest first (tests/conftest.py LONG_FIRST). The project's
# modules are compiled once beforehand: the suite starts some hundred hub, room and CLI
# processes, each of which would otherwise compile them again where PYTHONDONTWRITEBYTECODE
# is set.
pytest: install warm
	@.ci/ensure-packages mosquitto chromium libpango-1.0-0 libpangoft2-1.0-0 shellcheck dcmtk
	$(BIN)/python -m compileall -q -j 0 edge_agent firmware_py hub sim wire tests > /dev/null
	$(BIN)/pytest -q -n $(WORKERS) --dist loadfile --no-loadscope-reorder --durations=15

# pytest rewrites every test module for its assertions, and caches the result beside the
# compiled modules, unless PYTHONDONTWRITEBYTECODE is set (as on CI's machines): then each
# of the suite's workers rewrote all of them again (3 workers on 2 cores: 38 s of CPU before
# the first test, 13 s with the cache). Two collections write the cache first, half of the
# test files each, one per core (2 cores: 5.8 s, 7.6 s for one collection of all).
WARM_a := $(shell ls tests/test_*.py | awk 'NR % 2')
WARM_b := $(shell ls tests/test_*.py | awk '!(NR % 2)')
warm: warm-a warm-b
warm-%: install
	@echo "pytest --collect-only: the assertion cache of half $* of the test files"
	@env -u PYTHONDONTWRITEBYTECODE $(BIN)/pytest --collect-only -q -p no:cacheprovider \
	    $(WARM_$*) > $(VENV)/warm-$*.log || { tail -n 60 $(VENV)/warm-$*.log; exit 1; }

# mypy runs at the lowest priority beside the collections and the suite: it takes the CPU
# time they leave (the suite, waiting on its real processes, leaves a core idle 10 % of the
# time on 2 cores), not theirs. Both run to their end (-k: a type error does not stop the
# suite), and make fails if either does.
test: lint
	$(MAKE) --no-print-directory -k -j 3 typecheck-idle pytest

typecheck-idle: install
	nice -n 19 $(BIN)/mypy

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
