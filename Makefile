# golden: the two commands a new machine needs are `make demo` and `make test`.
# Both install what they need first (Debian packages, the venv, services).

SHELL := /bin/bash
VENV ?= .venv
GOLDEN := $(VENV)/bin/golden
PYTEST := $(VENV)/bin/pytest
N ?= 3

.PHONY: all setup test test-fast demo bench clean

all: test

setup:
	@./scripts/bootstrap.sh

test: setup
	$(PYTEST) -ra

test-fast: setup
	$(PYTEST) -ra -m "not system"

demo: setup
	$(GOLDEN) validate profiles/*.yaml
	$(GOLDEN) plan demo

bench: setup
	$(VENV)/bin/python bench/plan.py

# Pattern rules to copy into your own Makefile.
plan/%: setup
	$(GOLDEN) plan $*

clean:
	rm -rf images clones
