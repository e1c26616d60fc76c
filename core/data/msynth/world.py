"""Public API of MS-Synth: render frames of procedural sequences, splits, a frame source.

A sequence is (scene seed, condition); its frames are indices along the ego's path at FPS.
The same (seed, frame index, condition) always gives bit-identical frames.
"""
from __future__ import annotations

import time
from functools import lru_cache
from itertools import islice

import numpy as np

from core.data.frame import CONDITIONS, EVAL_CONDITIONS, SPECTRA, TEST_ONLY_CONDITIONS, TWIN_OF, Frame
from core.data.msynth.conditions import Conditions, condition_params
from core.data.msynth.raycast import cast
from core.data.msynth.rig import make_rig
from core.data.msynth.scene import Scene, build_scene
from core.data.msynth.sensors import add_rain_streaks, encode_8bit, encode_thermal, thermal_fixed_pattern
from core.data.msynth.shading import shade_nir, shade_rgb, shade_thermal
from core.data.msynth.shadows import sun_visibility
from core.data.msynth.surface import compute_surface
from core.data.msynth.trajectory import SEQUENCE_LENGTH, frame_time
from core.geometry.camera import Camera
from core.metrics import MAX_DEPTH

# Bumped whenever a change to the world, shading or sensors changes rendered images, so caches
# and galleries written by an older renderer are rendered again instead of silently reused.
RENDER_VERSION = 4

SPLITS = {
    "train": range(0, 100_000),
    "val": range(100_000, 110_000),
    "test": range(200_000, 210_000),
}


def split_seeds(split: str) -> range:
    """The scene seeds of a split; the splits are disjoint."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; expected one of {tuple(SPLITS)}")
    return SPLITS[split]


def split_of(seed: int) -> str | None:
    return next((name for name, seeds in SPLITS.items() if seed in seeds), None)


def sequence_condition(seed: int) -> str:
    """The condition of sequence ``seed``: each block of 4 consecutive seeds holds all four
    conditions once, in an order shuffled per block."""
    block = np.random.default_rng(np.random.SeedSequence([seed // 4, 0xB10C]))
    return CONDITIONS[int(block.permutation(len(CONDITIONS))[seed % 4])]


@lru_cache(maxsize=16)
def cached_scene(seed: int) -> Scene:
    """``build_scene(seed)``, kept for the frames that follow (treat it as read-only)."""
    return build_scene(seed)


def scaled_rig(rig: dict[str, Camera], scale: float) -> dict[str, Camera]:
    """The rig's cameras seen through images resized by ``scale``."""
    if scale == 1.0:
        return dict(rig)
    return {name: cam.resized(max(1, round(cam.height * scale)), max(1, round(cam.width * scale)))
            for name, cam in rig.items()}


def _rng(seed: int, condition: str, frame_index: int, spectrum: str) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence(
        [seed, EVAL_CONDITIONS.index(condition), frame_index, SPECTRA.index(spectrum), 0x5E45]))


def render_view(scene: Scene, spectrum: str, camera: Camera, T_world_rig: np.ndarray,
                cond: Conditions, time_s: float, rng: np.random.Generator):
    """One camera's (image, depth, classes) for the rig posed at ``T_world_rig``.

    ``spectrum`` picks the shading and sensor model: 'rgb', 'nir' or 'thr'.
    """
    gbuffer = cast(scene, camera, T_world_rig @ camera.T_rig_cam, time_s)
    surface = compute_surface(scene, gbuffer, cond.lit_windows)
    if cond.shadows:
        surface.sunlit = sun_visibility(surface, scene, gbuffer.rays, cond.sun_dir)
    shape = camera.size
    if spectrum == "thr":
        signal = shade_thermal(surface, cond).reshape(shape)
        gain, offsets = thermal_fixed_pattern(scene.seed or 0, camera.width, camera.height)
        image = encode_thermal(signal, cond.noise_thr, offsets, rng, gain=gain)
    elif spectrum == "rgb":
        linear = shade_rgb(surface, scene, cond, gbuffer.rays).reshape(shape + (3,))
        add_rain_streaks(linear, rng, cond.rain_streaks, 0.25)
        image = encode_8bit(linear, cond.exposure_rgb, cond.noise_rgb, cond.veil, rng, cond.camera_rgb)
    else:
        linear = shade_nir(surface, scene, cond, gbuffer.rays).reshape(shape)
        add_rain_streaks(linear, rng, cond.rain_streaks, 0.15)
        image = encode_8bit(linear, cond.exposure_nir, cond.noise_nir, cond.veil, rng, cond.camera_nir)
    return image, surface.depth.reshape(shape), surface.classes.reshape(shape)


def render_frame(scene_or_seed: Scene | int, frame_index: int = 0, condition: str | None = None,
                 spectra=SPECTRA, rig: dict[str, Camera] | None = None, scale: float = 1.0,
                 pose: np.ndarray | None = None, randomised: bool = False) -> Frame:
    """Render frame ``frame_index`` of a sequence.

    condition:  one of EVAL_CONDITIONS; None takes the sequence's own, ``sequence_condition(seed)``.
    rig:        cameras by spectrum (default ``make_rig()``); ``scale`` resizes all of them.
    pose:       T_world_rig to render from instead of the ego's pose at this frame.
    randomised: the domain-randomised appearance (random textures, colours and lights per
                object, for training); geometry and depth are those of the natural rendering.
    """
    unknown = set(spectra) - set(SPECTRA)
    if unknown:
        raise ValueError(f"unknown spectra {sorted(unknown)}; expected some of {SPECTRA}")
    scene = scene_or_seed if isinstance(scene_or_seed, Scene) else cached_scene(int(scene_or_seed))
    seed = scene.seed if scene.seed is not None else 0
    if pose is None and scene.seed is not None and not 0 <= frame_index < SEQUENCE_LENGTH:
        raise ValueError(f"frame_index must be in [0, {SEQUENCE_LENGTH}) for generated scenes")
    condition = condition or sequence_condition(seed)
    cond = condition_params(seed, condition, randomised=randomised)
    cameras = scaled_rig(rig or make_rig(), scale)
    time_s = frame_time(frame_index)
    T_world_rig = scene.ego.pose(time_s) if pose is None else np.asarray(pose, dtype=np.float64)
    frame = Frame(images={}, cameras={}, pose=T_world_rig, condition=condition,
                  name=f"msynth-{seed}-{condition}-{frame_index:06d}",
                  meta={"seed": seed, "split": split_of(seed) if scene.seed is not None else None,
                        "frame_index": frame_index, "time_s": time_s, "scale": scale,
                        "source": "msynth", "randomised": randomised, "render_s": {}})
    for spectrum in spectra:
        camera = cameras[spectrum]
        start = time.perf_counter()
        image, depth, classes = render_view(scene, spectrum, camera, T_world_rig, cond, time_s,
                                            _rng(seed, condition, frame_index, spectrum))
        frame.meta["render_s"][spectrum] = time.perf_counter() - start
        frame.images[spectrum] = image
        frame.cameras[spectrum] = camera
        frame.depth[spectrum] = depth
        frame.classes[spectrum] = classes
    return frame


def spread_frames(count: int) -> list[int]:
    """``count`` frame indices spread evenly along a sequence (the frames a split is made of)."""
    stride = SEQUENCE_LENGTH // count
    return [i * stride for i in range(count)]


# Transmittance below which fog hides a surface, and below which it dims it (fog_visibility).
FOG_HIDDEN, FOG_DIMMED = 0.05, 0.2


def fog_visibility(seeds, frames_per_sequence: int = 3, scale: float = 0.5) -> dict[str, dict[str, float]]:
    """{spectrum: {hidden, dimmed, hidden_median_depth}} over the fog renderings of ``seeds``
    (``frames_per_sequence`` frames spread along each), from the transmittance the shading uses."""
    rig = scaled_rig(make_rig(), scale)
    transmittance, depth = {s: [] for s in SPECTRA}, {s: [] for s in SPECTRA}
    for seed in seeds:
        scene, cond = cached_scene(seed), condition_params(seed, "fog")
        for frame_index in spread_frames(frames_per_sequence):
            time_s = frame_time(frame_index)
            for spectrum, camera in rig.items():
                T_world_cam = scene.ego.pose(time_s) @ camera.T_rig_cam
                surface = compute_surface(scene, cast(scene, camera, T_world_cam, time_s), cond.lit_windows)
                evaluated = ~surface.sky & (surface.depth > 0) & (surface.depth <= MAX_DEPTH)
                through = cond.fog.transmittance(T_world_cam[:3, 3], surface.point, spectrum)
                transmittance[spectrum].append(through[evaluated])
                depth[spectrum].append(surface.depth[evaluated])
    report = {}
    for spectrum in SPECTRA:
        through, z = np.concatenate(transmittance[spectrum]), np.concatenate(depth[spectrum])
        hidden = through < FOG_HIDDEN
        report[spectrum] = {"hidden": float(hidden.mean()), "dimmed": float((through < FOG_DIMMED).mean()),
                            "hidden_median_depth": float(np.median(z[hidden])) if hidden.any() else float("nan")}
    return report


def is_randomised(seed: int, share: float) -> bool:
    """Whether sequence ``seed`` is rendered in the domain-randomised appearance when a share
    ``share`` of sequences is: a fixed draw per seed, so growing the share only adds sequences."""
    return share > 0.0 and np.random.default_rng(np.random.SeedSequence([seed, 0xD0A1])).random() < share


class MSynthSource:
    """Frames of the first ``n_sequences`` sequences of a split, ``frames_per_sequence`` each,
    spread evenly along each sequence. ``conditions`` keeps only sequences whose own condition
    is listed (None: all, balanced); 'texture' (test only) renders the day sequences again with
    swapped or removed textures, right after each of them when 'day' is listed too, and 'clear'
    (test only) the fog sequences by day without fog, right after each fog sequence.
    ``randomised`` (train only) is the share of sequences rendered in the domain-randomised
    appearance (``is_randomised``)."""

    def __init__(self, split: str, n_sequences: int, frames_per_sequence: int = 10,
                 conditions=None, scale: float = 1.0, spectra=SPECTRA, randomised: float = 0.0) -> None:
        if randomised and split != "train":
            raise ValueError("the domain-randomised appearance is for training sequences only")
        if not 1 <= frames_per_sequence <= SEQUENCE_LENGTH:
            raise ValueError(f"frames_per_sequence must be in [1, {SEQUENCE_LENGTH}]")
        wanted = tuple(conditions) if conditions is not None else CONDITIONS
        unknown = set(wanted) - set(EVAL_CONDITIONS)
        if unknown:
            raise ValueError(f"unknown conditions {sorted(unknown)}; expected some of {EVAL_CONDITIONS}")
        held_out = sorted(set(wanted) & set(TEST_ONLY_CONDITIONS))
        if held_out and split != "test":
            raise ValueError(f"the conditions {held_out} are held out for the test split")
        self.sequences = list(islice(self._sequences(split, wanted), n_sequences))
        if len(self.sequences) < n_sequences:
            raise ValueError(f"split {split!r} has only {len(self.sequences)} sequences of {wanted}")
        self.frame_indices = spread_frames(frames_per_sequence)
        self.split, self.scale, self.spectra = split, scale, tuple(spectra)
        self.randomised = randomised

    @staticmethod
    def _sequences(split: str, wanted: tuple[str, ...]):
        """(seed, condition) pairs in seed order."""
        for seed in split_seeds(split):
            own = sequence_condition(seed)
            if own in wanted:
                yield seed, own
            for twin, of in TWIN_OF.items():
                if own == of and twin in wanted:
                    yield seed, twin

    @property
    def seeds(self) -> list[int]:
        return [seed for seed, _ in self.sequences]

    def __len__(self) -> int:
        return len(self.sequences) * len(self.frame_indices)

    def __getitem__(self, i: int) -> Frame:
        if not -len(self) <= i < len(self):
            raise IndexError(i)
        sequence, frame = divmod(i % len(self), len(self.frame_indices))
        seed, condition = self.sequences[sequence]
        return render_frame(seed, self.frame_indices[frame], condition, spectra=self.spectra, scale=self.scale,
                            randomised=is_randomised(seed, self.randomised))


def msynth_sequence_meta(frame: Frame) -> dict:
    """What a rendered frame says about its whole sequence, for a dataset's meta.json."""
    return {key: frame.meta[key] for key in ("source", "seed", "split", "scale", "randomised")}
