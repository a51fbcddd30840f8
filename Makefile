# Two commands do everything: `make demo` and `make test`. Both set themselves up first.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup debian test lint fmt demo diagrams docs bench soak clean

setup: debian $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $(STAMP)

# Debian packages the tests and the demo need; installed only where missing (we run as root).
debian:
	@missing=""; \
	command -v dot >/dev/null || missing="$$missing graphviz"; \
	fc-list 2>/dev/null | grep -q "Noto Sans CJK" || missing="$$missing fonts-noto-cjk fontconfig"; \
	test -x /usr/lib/postgresql/15/bin/initdb || missing="$$missing postgresql-15"; \
	command -v chromium >/dev/null || missing="$$missing chromium"; \
	command -v chromedriver >/dev/null || missing="$$missing chromium-driver"; \
	command -v pdftoppm >/dev/null || missing="$$missing poppler-utils"; \
	command -v soffice >/dev/null || missing="$$missing libreoffice-calc-nogui"; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi

# mypy cannot follow setuptools' editable finder, so it reads the package through a tree of
# symlinks, .typecheck/jiekun/<folder> -> the folder (errors are reported at the link's path).
TYPECHECK := .typecheck
PACKAGES := states policies workflow persistence scheduler diagrams

lint: setup
	$(BIN)/ruff check .
	@mkdir -p $(TYPECHECK)/jiekun
	@for p in $(PACKAGES); do ln -sfn ../../$$p $(TYPECHECK)/jiekun/$$p; done
	MYPYPATH=$(TYPECHECK) $(BIN)/mypy

fmt: setup
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

test: setup lint
	$(BIN)/pytest

demo: setup
	$(BIN)/jiekun demo

# Performance figures, each next to a baseline measured in the same run: one markdown table on
# stdout, progress on stderr (tests/bench/run.py; ~9 minutes on 2 cores). Not part of `make test`.
bench: setup
	@$(BIN)/python -m tests.bench.run

# The long run CI's budget leaves out (issue 8): the engine killed with SIGKILL ≥ 200 times on
# SQLite and on PostgreSQL, the store checked after each restart, then the randomized tests at
# ten times their examples; one markdown report on stdout (tests/soak.py; SOAK_KILLS=20 for a
# quick try). Not part of `make test`.
soak: setup
	@$(BIN)/python -m tests.soak

# The lifecycle document, generated from the definition (a test checks it is current).
docs: setup
	$(BIN)/python -m jiekun.states.document > states/LIFECYCLE.md

# The diagrams the README shows, drawn from the definition the engine runs (a test checks
# that the committed DOT sources are current).
diagrams: setup
	for lang in zh en; do \
	  for ext in svg png dot; do \
	    $(BIN)/jiekun diagram --lang $$lang -o diagrams/lifecycle-$$lang.$$ext || exit 1; \
	  done; \
	done
	$(BIN)/jiekun handbook -o diagrams/handbook-zh.html

clean:
	rm -rf $(VENV) $(TYPECHECK) build dist demo-output .pytest_cache .mypy_cache .ruff_cache
