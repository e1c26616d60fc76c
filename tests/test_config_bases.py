"""Experiment configs state only what they change: ``base:`` names the config they change, and
loading deep-merges them (mappings key by key; other values, lists included, replace)."""
from pathlib import Path

import pytest
import yaml

from core.settings import TRAIN_CONFIGS_DIR
from train.config import (AlignLoss, AlignStageConfig, ConfigError, DataConfig, config_record, load_config)

DERIVED = ["msynth-align-lcnet150", "msynth-align-texture-cycle2-scenes640", "msynth-align-texture-cycle3",
           "msynth-align-selfsup", "msynth-fuse-nowarp", "msynth-student-cycle4-texture", "builtin-dino"]


def own_keys(config: dict, prefix: tuple = ()) -> list[tuple[tuple, object]]:
    """(key path, value) of every leaf a config file sets itself; a list is one leaf."""
    leaves = []
    for key, value in config.items():
        if isinstance(value, dict):
            leaves += own_keys(value, (*prefix, key))
        else:
            leaves.append(((*prefix, key), value))
    return leaves


@pytest.mark.parametrize("name", DERIVED)
def test_a_derived_config_is_its_base_with_what_it_declares(name):
    declared = yaml.safe_load((TRAIN_CONFIGS_DIR / f"{name}.yaml").read_text())
    base = declared.pop("base")
    expected = config_record(load_config(TRAIN_CONFIGS_DIR / base))
    for path, value in own_keys(declared):
        node = expected
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value
    assert config_record(load_config(TRAIN_CONFIGS_DIR / f"{name}.yaml")) == expected


def test_bases_chain_and_the_nearest_file_wins():
    cycle3 = load_config(TRAIN_CONFIGS_DIR / "msynth-align-texture-cycle3.yaml", stage="align")
    # cycle3 <- texture-cycle2 <- continued-texture <- continued <- msynth-align
    assert (cycle3.seed, cycle3.init_checkpoint) == (4, "checkpoints/msynth-align-texture-cycle2")
    assert cycle3.loss.p_texture_swap == 0.5 and cycle3.loss.texture_gain_range == [0.0, 3.0]
    assert (cycle3.optim.steps, cycle3.optim.lr) == (1000, 5.0e-4)
    assert cycle3.model == {"architecture": "align_fuse", "fusion": False, "input_size": [192, 640]}


def test_stages_receive_typed_configs_with_every_default_filled():
    config = load_config(TRAIN_CONFIGS_DIR / "msynth-align-nolocal.yaml", stage="align")
    assert isinstance(config, AlignStageConfig)
    assert isinstance(config.loss, AlignLoss) and isinstance(config.data, DataConfig)
    assert config.loss.w_local == 0.0 and config.loss.w_smoothness == AlignLoss().w_smoothness


def write(folder: Path, name: str, config: dict) -> Path:
    path = folder / name
    path.write_text(yaml.safe_dump(config))
    return path


def test_lists_replace_and_mappings_merge(tmp_path):
    write(tmp_path, "base.yaml", {"stage": "align", "name": "a", "out": "o", "run_dir": "r",
                                  "data": {"spectra": ["rgb", "nir", "thr"], "train": {"n_sequences": 8}}})
    child = write(tmp_path, "child.yaml", {"base": "base.yaml", "data": {"spectra": ["rgb"],
                                                                         "train": {"frames_per_sequence": 2}}})
    data = load_config(child).data
    assert data.spectra == ["rgb"]
    assert (data.train.n_sequences, data.train.frames_per_sequence) == (8, 2)


def test_a_missing_or_circular_base_is_refused(tmp_path):
    missing = write(tmp_path, "missing.yaml", {"base": "nowhere.yaml", "stage": "align"})
    with pytest.raises(ConfigError, match="base config nowhere.yaml not found"):
        load_config(missing)
    write(tmp_path, "a.yaml", {"base": "b.yaml"})
    write(tmp_path, "b.yaml", {"base": "a.yaml"})
    with pytest.raises(ConfigError, match="bases lead back to it"):
        load_config(tmp_path / "a.yaml")
