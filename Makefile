# golden: the two commands a new machine needs are `make demo` and `make test`.
# Both install what they need first (Debian packages, the venv); golden starts
# libvirtd and virtlogd itself when no init system runs them.
#
# The pattern rules below are meant to be copied into your own Makefile:
#   make images/NAME.qcow2     build profile NAME (golden's stage cache makes a no-op rebuild take < 1 s)
#   make clones/NAME N=5       N linked clones of it, identities set, defined in libvirt and verified
#   make plan/NAME             what a build of NAME would write and run
# They are safe under `make -j`: every build locks its own name, and domain
# names, MACs and temp files never collide between profiles.

SHELL := /bin/bash
VENV ?= .venv
GOLDEN := $(VENV)/bin/golden
PYTEST := $(VENV)/bin/pytest
PROFILES ?= profiles
IMAGES ?= images
CLONES ?= clones
N ?= 3
# The order test modules run in; a new one each run, printed in pytest's header.
SEED ?= $(shell date +%s)
CONNECT ?=
connect_arg = $(if $(CONNECT),--connect $(CONNECT))

.PHONY: all setup test test-fast demo bench clean FORCE

all: test

setup:
	@./scripts/bootstrap.sh

test: setup
	$(PYTEST) -ra --shuffle-modules=$(SEED)

test-fast: setup
	$(PYTEST) -ra -m "not system" --shuffle-modules=$(SEED)

# Demo media -> build the demo profile -> three linked clones -> boot and verify each.
demo: setup
	$(GOLDEN) validate $(PROFILES)/*.yaml
	$(GOLDEN) demo-media
	$(MAKE) --no-print-directory $(IMAGES)/demo.qcow2 $(CLONES)/demo N=$(N)
	@echo
	@echo "golden image: $(IMAGES)/demo.qcow2"
	@echo "manifest:     $(IMAGES)/demo.manifest.json"
	@echo "report:       $(IMAGES)/demo.report.html"
	@echo "clones:       $$(cd $(CLONES)/demo && ls *.qcow2 | tr '\n' ' ')(verified: $(CLONES)/demo/clones.json)"

bench: setup
	$(VENV)/bin/python bench/plan.py
	$(VENV)/bin/python bench/remaster.py
	$(VENV)/bin/python bench/pipeline.py
	$(VENV)/bin/python bench/install.py
	$(VENV)/bin/python bench/seal.py
	$(VENV)/bin/python bench/clone.py
	$(VENV)/bin/python bench/publish.py

# Always ask golden: it knows the profile's whole input set (bases, secrets,
# media, templates, tools) and leaves the image untouched when nothing changed,
# so rules that depend on the image only rerun when it really changed.
$(IMAGES)/%.qcow2: FORCE | setup
	$(GOLDEN) build $(PROFILES)/$*.yaml --output-dir $(IMAGES) $(connect_arg)

$(CLONES)/%: $(IMAGES)/%.qcow2 | setup
	$(GOLDEN) clone $< --name '$*-{n}' --count $(N) --linked --replace --dir $@ $(connect_arg)
	$(GOLDEN) verify $$(seq -f '$*-%g' 1 $(N)) $(connect_arg)
	$(GOLDEN) report $(IMAGES)/$*.build -o $(IMAGES)/$*.report.html
	@touch $@

plan/%: | setup
	$(GOLDEN) plan $(PROFILES)/$*.yaml

FORCE:

clean:
	-test -x $(GOLDEN) && for d in $(CLONES)/*/; do [ -d "$$d" ] && $(GOLDEN) clone --remove-batch "$$d" $(connect_arg); done; true
	rm -rf $(IMAGES) $(CLONES)
