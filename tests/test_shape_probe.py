"""The shape probe: labelled stream images, the probe's training, features and files."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fmri_bench.estimators import vaegan
from fmri_bench.pipeline import shape_probe
from fmri_bench.raw.simulate import stimuli


def test_recording_shapes_leaves_the_stream_unchanged_and_scales_to_the_output() -> None:
    plain = vaegan.render_batch(5, 3, 12, tag=11)
    images, shapes = vaegan.render_batch_with_shapes(5, 3, 12, tag=11)
    np.testing.assert_array_equal(images, plain)
    _, full = vaegan.render_batch_with_shapes(5, 3, 12, tag=11, size=vaegan.RENDER_SIZE)
    assert all(1 <= len(s) <= 3 for s in shapes)
    for small, large in zip(shapes, full):
        assert [d["kind"] for d in small] == [d["kind"] for d in large]
        for d, e in zip(small, large):
            ratio = vaegan.IMAGE_SIZE / vaegan.RENDER_SIZE
            assert d["cx"] == pytest.approx((e["cx"] + 0.5) * ratio - 0.5) and d["r"] == pytest.approx(e["r"] * ratio)
            assert d["cy"] == pytest.approx((e["cy"] + 0.5) * ratio - 0.5)


def test_recorded_shapes_are_where_the_image_changed() -> None:
    """On a flat background with flat fills, every changed pixel lies inside a recorded shape's extent."""
    n = 96
    for seed in range(6):
        rng = np.random.default_rng(seed)
        style = {**stimuli._category_style(rng), "background": "flat", "fill": "flat", "n_shapes": 3}
        rng_plain, rng_drawn = np.random.default_rng([seed, 1]), np.random.default_rng([seed, 1])
        drawn: list[dict] = []
        img = stimuli._render_image(rng_drawn, style, n, drawn)
        np.testing.assert_array_equal(img, stimuli._render_image(rng_plain, style, n))
        yy, xx = np.mgrid[0:n, 0:n]
        inside = np.zeros((n, n), bool)
        for d in drawn:
            # 1.2 r is the farthest any shape reaches (the bar's half length), plus the soft edge.
            inside |= np.hypot(xx - d["cx"], yy - d["cy"]) <= 1.2 * d["r"] + 1.5
        background = np.median(img[~inside].reshape(-1, 3), axis=0)
        changed = np.abs(img.astype(int) - background).max(-1) > 0
        assert not (changed & ~inside).any()
        assert changed[inside].mean() > 0.2


def test_labelled_images_mark_each_drawn_kind() -> None:
    images, presence = shape_probe.labelled_images(2, 300, tag=13)
    assert images.shape == (300, 64, 64, 3) and presence.shape == (300, 5)
    _, shapes = vaegan.render_batch_with_shapes(2, 1, 50, tag=13)  # images 250..299
    expected = [[float(any(d["kind"] == k for d in s)) for k in shape_probe.SHAPE_KINDS] for s in shapes]
    np.testing.assert_array_equal(presence[250:], expected)
    assert (presence.sum(1) >= 1).all() and 0.2 < presence.mean() < 0.5


class _FixedProbe(shape_probe.ShapeProbe):
    """A probe whose last map is given (one batch) and whose read-out is the pooled map itself."""

    def __init__(self, maps: np.ndarray) -> None:
        super().__init__()
        self.maps = torch.from_numpy(maps)
        self.head = torch.nn.Identity()
        self.eval()

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.maps


def test_probe_features_pool_the_last_map_by_quadrant() -> None:
    maps = np.zeros((2, 128, 8, 8), np.float32)
    maps[:, :, :4, :4], maps[:, :, :4, 4:], maps[:, :, 4:, :4], maps[:, :, 4:, 4:] = 1, 2, 3, 4
    maps[1] *= -1
    probe = _FixedProbe(maps)
    quadrants, pooled = shape_probe.probe_features(probe, np.zeros((2, 64, 64, 3), np.uint8))
    assert quadrants.shape == (2, 512) and pooled.shape == (2, 128)
    np.testing.assert_array_equal(quadrants.reshape(2, 128, 4)[0, 0], [1, 2, 3, 4])  # row-major quadrants
    np.testing.assert_array_equal(pooled, np.outer([2.5, -2.5], np.ones(128)))
    torch.manual_seed(0)
    real = shape_probe.ShapeProbe().eval()
    images = vaegan.render_batch(0, 0, 3, tag=13)
    q, p = shape_probe.probe_features(real, images)
    np.testing.assert_allclose(q.reshape(3, 128, 4).mean(-1), p, rtol=1e-5, atol=1e-6)
    assert p.shape == (3, 128) and np.isfinite(q).all()


def test_training_is_seeded_and_the_file_round_trips(tmp_path) -> None:
    a, losses_a = shape_probe.train_probe(steps=100, n_images=250, batch=8, seed=3)
    b, losses_b = shape_probe.train_probe(steps=100, n_images=250, batch=8, seed=3)
    assert losses_a == losses_b and len(losses_a) == 1 and np.isfinite(losses_a[0])
    for pa, pb in zip(a.state_dict().values(), b.state_dict().values()):
        torch.testing.assert_close(pa, pb, rtol=0, atol=0)
    shape_probe.save_probe(tmp_path / "p.pt", a, {"losses": losses_a})
    loaded, meta = shape_probe.load_probe(tmp_path / "p.pt")
    images = vaegan.render_batch(0, 0, 4, tag=13)
    np.testing.assert_array_equal(
        shape_probe.presence_probabilities(loaded, images), shape_probe.presence_probabilities(a, images)
    )
    assert meta == {"losses": losses_a}


def test_presence_auc_is_one_for_a_probe_that_reads_the_labels_and_half_for_noise() -> None:
    images, presence = shape_probe.labelled_images(4, 120, tag=13)

    # The pooled map is the head's input; an identity head passes labels written into it.
    maps = np.broadcast_to((presence * 8.0 - 4.0)[:, :, None, None], (120, 5, 8, 8)).astype(np.float32)
    oracle = _FixedProbe(np.ascontiguousarray(maps))
    assert shape_probe.presence_auc(oracle, images, presence)["mean"] == 1.0
    torch.manual_seed(0)
    blind = shape_probe.ShapeProbe().eval()
    shuffled = np.random.default_rng(0).permutation(presence)
    assert abs(shape_probe.presence_auc(blind, images, shuffled)["mean"] - 0.5) < 0.1


def test_the_command_refuses_bad_arguments_before_training(tmp_path, capsys) -> None:
    for argv in (["--steps", "0"], ["--n-images", "10"], ["--seed", "-1"]):
        with pytest.raises(SystemExit) as exit_info:
            shape_probe.main(["--out", str(tmp_path / "p.pt"), *argv])
        assert exit_info.value.code == 2
    with pytest.raises(SystemExit):
        shape_probe.main(["--out", str(tmp_path / "missing" / "p.pt")])
    assert "folder does not exist" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []
