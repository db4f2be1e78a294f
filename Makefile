# Set-up and entry points. `make demo` and `make test` each do the set-up they need.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
DEB_PACKAGES := espeak-ng flite fortune-mod fortunes wordnet-base bible-kjv festival festvox-kallpc16k festvox-kdlpc16k festvox-us-slt-hts festlex-cmu festvox-rablpc16k festvox-don rhvoice rhvoice-english sword-text-web libsword-utils
# festvox-don is in Debian's contrib and rhvoice in non-free: enabled by this sources file when missing.
CONTRIB_SOURCES := /etc/apt/sources.list.d/asr-kd-contrib-non-free.sources

.PHONY: setup deb venv demo recipe test clean-demo

setup: deb venv

# Debian packages the default corpus needs (synthesisers and text), installed when missing.
deb:
	@missing=$$(for p in $(DEB_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages: $$missing"; \
	  sudo=$$([ "$$(id -u)" -eq 0 ] || echo sudo); \
	  if [ "$$(. /etc/os-release; echo $$ID)" = debian ] && \
	     ! { grep -rqsE '^(Components:|deb ).* contrib( |$$)' /etc/apt/sources.list /etc/apt/sources.list.d/ && \
	         grep -rqsE '^(Components:|deb ).* non-free( |$$)' /etc/apt/sources.list /etc/apt/sources.list.d/; }; then \
	    echo "enabling Debian contrib and non-free in $(CONTRIB_SOURCES)"; \
	    codename=$$(. /etc/os-release; echo $$VERSION_CODENAME); \
	    printf 'Types: deb\nURIs: http://deb.debian.org/debian\nSuites: %s %s-updates\nComponents: contrib non-free\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
	      $$codename $$codename | $$sudo tee $(CONTRIB_SOURCES) >/dev/null; \
	  fi; \
	  $$sudo apt-get update -qq && $$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[train,test]'
	touch $@

# Main job, demo size (~1 h of synthetic audio, no augmented copy so that it stays within minutes):
# prepare -> teacher -> students -> decode (greedy, beam + LM, robustness sets) -> tables.
demo: setup
	cd egs/synth/s0 && ./run.sh --hours 1.0 --kokoro-hours 0.05 --eval-utts 15 --augment false --unlab-hours 0.5 \
		--conf conf/demo --data data_demo --exp exp_demo

# The full recipe (several hours of audio; about 2 h on 2 CPU cores).
recipe: setup
	cd egs/synth/s0 && ./run.sh

# One worker per core (pytest-xdist); a module's tests stay on one worker so that its fixtures
# (a tiny recipe run) are built once.
test: setup
	$(VENV)/bin/ruff check asr_kd data_prep tests
	$(VENV)/bin/pytest -q -n auto --dist loadscope tests

clean-demo:
	rm -rf egs/synth/s0/data_demo egs/synth/s0/exp_demo
