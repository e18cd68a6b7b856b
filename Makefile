# Every target accepts CONTENT=dir OUT=dir.
CONTENT ?= content
OUT ?= build
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
GEN := $(BIN)/python -m generator
# NAME=… sets the output file name (default: the main deck's name, made safe for a file name)
NAMEOPT := $(if $(NAME),--name "$(NAME)")
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: deck pdf html all check ids watch test golden bench clean setup sysdeps sysdeps-test

deck: $(STAMP) sysdeps
	$(GEN) build --only deck --content $(CONTENT) --out $(OUT) $(NAMEOPT)

# The HTML cheat sheet inlines the KaTeX CSS and fonts (npm assets, sysdeps).
html: $(STAMP) sysdeps
	$(GEN) build --only html --content $(CONTENT) --out $(OUT) $(NAMEOPT)

# The PDF study guide needs the CJK fonts and the KaTeX fonts (sysdeps).
pdf: $(STAMP) sysdeps
	$(GEN) build --only pdf --content $(CONTENT) --out $(OUT) $(NAMEOPT)

all: $(STAMP) sysdeps
	$(GEN) build --only deck,pdf,html --content $(CONTENT) --out $(OUT) $(NAMEOPT)

check: $(STAMP) sysdeps
	$(GEN) check --content $(CONTENT) --out $(OUT)

# Rebuild on every save and serve a live preview; PORT=8000 for a fixed port, TARGETS=deck (or none)
# for what is rebuilt in the background after the cheat sheet.
watch: $(STAMP) sysdeps
	$(GEN) watch --content $(CONTENT) --out $(OUT) $(NAMEOPT) $(if $(PORT),--port $(PORT)) $(if $(TARGETS),--targets $(TARGETS))

ids: $(STAMP)
	$(GEN) ids --content $(CONTENT)

test: $(STAMP) sysdeps-test
	$(BIN)/python -m pytest -q

# Regenerate the golden files of the emitter tests after an intended change.
golden: $(STAMP) sysdeps-test
	GOLDEN_UPDATE=1 $(BIN)/python -m pytest -q tests -k golden

bench: $(STAMP) sysdeps-test
	$(BIN)/python bench/bench.py --content $(CONTENT)

setup: $(STAMP) sysdeps

# The virtual environment, with the package and its test dependencies.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	rm -f $(VENV)/.installed-* && touch $@

# System packages (CJK fonts; Chromium and poppler for the tests) and the npm KaTeX assets.
sysdeps:
	@scripts/sysdeps.sh

sysdeps-test:
	@scripts/sysdeps.sh --test

clean:
	rm -rf $(OUT)
