# The two commands a new user needs: `make demo` (the studio) and `make test` (the tests).
# Each bootstraps .venv from requirements.txt (and packages.txt when root) on first use.
PY := .venv/bin/python
STAMP := .venv/.installed

.PHONY: demo test test-fast samples bench screenshots figures

$(STAMP): requirements.txt packages.txt scripts/setup.sh
	./scripts/setup.sh

demo: $(STAMP)
	$(PY) -m app

test: $(STAMP)
	HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 $(PY) -m pytest -q tests

# The developer's loop: no browser, server, Streamlit or training tests (marked `slow`, or whole
# files of them below); well under a minute. `make test` stays the full suite CI runs. One
# torch thread: the tests' networks are tiny, and on a shared 2-core machine spinning thread
# pools made this run 6 x slower.
SLOW_TEST_FILES := test_browser.py test_browser_streamlit.py test_train.py test_train_distill.py \
	test_train_ms2.py test_loss_determinism.py
test-fast: $(STAMP)
	OMP_NUM_THREADS=1 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 $(PY) -m pytest -q -m "not slow" \
		$(addprefix --ignore=tests/,$(SLOW_TEST_FILES)) tests

samples: $(STAMP)
	$(PY) -m core.data.samples --out assets/samples

bench: $(STAMP)
	HF_HUB_OFFLINE=1 $(PY) -m bench

# The README's screenshots, taken by the browser test with the shipped default model.
screenshots: $(STAMP)
	SPECTRADEPTH_SCREENSHOTS=docs SPECTRADEPTH_SCREENSHOT_MODEL=$$($(PY) -c "from core.inference import DEFAULT_CHECKPOINT; print(DEFAULT_CHECKPOINT)") HF_HUB_OFFLINE=1 \
		$(PY) -m pytest -q tests/test_browser.py tests/test_browser_streamlit.py

# The figures of docs/experiments.md: CLIP / DINO maps of every spectrum on a night sample, and depth on the
# real MS2 and KITTI frames in ../shared (read from there, never copied).
figures: $(STAMP)
	HF_HUB_OFFLINE=1 $(PY) -m scripts.attention_figure --out docs/attention.png
	HF_HUB_OFFLINE=1 $(PY) -m scripts.real_figure --out docs/real_depth.png
