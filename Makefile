# poolscan — set-up and everyday commands. Each target installs what it needs on a fresh machine.
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
IS_ROOT := $(shell [ "$$(id -u)" = 0 ] && echo yes)

.PHONY: help venv sysdeps testdeps test test-fast demo lab-up lab-down eval bench clean

help:
	@echo "make demo   - start the embedded lab and run a full poolscan scan over it"
	@echo "make test   - run the whole test suite"
	@echo "make eval   - replay every recorded conversation; confusion matrix -> results/eval.json"
	@echo "make bench  - benchmarks -> results/bench-<date>.json"

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]'
	@touch $(STAMP)

venv: $(STAMP)

# System packages: masscan and libpcap0.8 (masscan loads it at run time; the Debian package does not depend
# on it), iproute2 (ip netns), ping (keepalive traffic for masscan in the lab).
# Installed only when running as root and only when missing; without root the loopback lab is used.
sysdeps:
ifeq ($(IS_ROOT),yes)
	@command -v masscan >/dev/null && command -v ip >/dev/null && command -v ping >/dev/null && command -v stdbuf >/dev/null \
	  && ldconfig -p | grep -q 'libpcap.so.0.8' || \
	  { (apt-get update -qq || true) && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	      masscan libpcap0.8 iproute2 iputils-ping coreutils >/dev/null; }
else
	@echo "not root: skipping masscan/iproute2 install (the loopback lab and the connect sweep are used)"
endif

# Headless Chromium renders the campaign HTML report in its test (skipped, with a reason, where it is missing).
testdeps:
ifeq ($(IS_ROOT),yes)
	@command -v chromium >/dev/null || { (apt-get update -qq || true) && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null || echo "chromium not installed"; }
endif

test: venv sysdeps testdeps
	$(BIN)/python -m pytest -q -p no:cacheprovider

test-fast: venv
	$(BIN)/python -m pytest -q -x -p no:cacheprovider -m "not netns and not slow"

demo: venv sysdeps
	@bash scripts/demo.sh

eval: venv
	$(BIN)/python -m scanner.evaluate --out results/eval.json

bench: venv sysdeps
	$(BIN)/python -m bench.run --out results

lab-up: venv sysdeps
	$(BIN)/poolscan lab up

lab-down: venv
	$(BIN)/poolscan lab down

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
