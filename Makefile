# The two commands a new user needs: `make demo` (the studio) and `make test` (the tests).
# Each bootstraps .venv from requirements.txt (and packages.txt when root) on first use.
PY := .venv/bin/python
STAMP := .venv/.installed

.PHONY: demo test samples bench screenshots figures

$(STAMP): requirements.txt packages.txt scripts/setup.sh
	./scripts/setup.sh

demo: $(STAMP)
	$(PY) -m app

test: $(STAMP)
	HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 $(PY) -m pytest -q tests

samples: $(STAMP)
	$(PY) -m core.data.samples --out assets/samples

bench: $(STAMP)
	HF_HUB_OFFLINE=1 $(PY) -m bench

# The README's screenshots, taken by the browser test with the shipped default model.
screenshots: $(STAMP)
	SPECTRADEPTH_SCREENSHOTS=docs SPECTRADEPTH_SCREENSHOT_MODEL=msynth-fuse HF_HUB_OFFLINE=1 \
		$(PY) -m pytest -q tests/test_browser.py tests/test_browser_streamlit.py

# The README's attention figure (CLIP / DINO maps of every spectrum on a night sample).
figures: $(STAMP)
	HF_HUB_OFFLINE=1 $(PY) scripts/attention_figure.py --out docs/attention.png
