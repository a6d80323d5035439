"""Benchmark: scoring 50 test images with every available metric (target: < 15 s end to end on 2 cores).

What it measures, side by side in one run:

1. ``fmri-bench score SUB.npy --json --no-record`` end to end in a fresh process (Python and
   torch imports included) for each protocol (mindeye, brain-diffuser, kamitani), the
   processes alternated and repeated (median of ``--repeats``), plus one recorded run
   (the chance and resolution reference rows too), with the time split per metric.
2. The deep path per backbone: our batched extraction (batches of 32, one network load)
   against a naive loop that runs the network on one image at a time; and the cost of the
   first features from a freshly loaded network with forward hooks (ours) against
   torchvision's ``create_feature_extractor`` (torch.fx tracing), which the metrics used before.
3. SSIM at 425 px: fmri-bench's written-out 2-D SSIM against scikit-image's ``structural_similarity``.
4. Two-way identification: the vectorized matrix form against a naive double loop.

The offline SqueezeNet / MobileNetV2 weights of ../shared/weights are imported into a
temporary TORCH_HOME, so the metrics that use them are available; the others (AlexNet,
Inception, EfficientNet, SwAV, CLIP) are n/a unless their files are in that cache.

Run: ``python bench/bench_score.py [--n 50] [--size 64] [--repeats 3]``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SHARED_WEIGHTS = REPO.parent / "shared" / "weights"


def make_home(root: Path, n: int, size: int) -> Path:
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:size, 0:size] / size
    images = np.empty((n + 100, size, size, 3), np.float32)
    for i in range(len(images)):
        for c in range(3):
            f, a = rng.uniform(1, 6), rng.uniform(0, np.pi)
            images[i, :, :, c] = 0.5 + 0.45 * np.sin(
                2 * np.pi * f * (xx * np.cos(a) + yy * np.sin(a)) + rng.uniform(0, 6)
            )
    images = (images * 255).astype(np.uint8)
    folder = root / "home" / "synthetic" / "v1"
    (folder / "sub-01").mkdir(parents=True)
    np.save(folder / "images_test.npy", images[:n])
    np.save(folder / "images_train.npy", images[n:])
    from fmri_bench.io import sha256_file

    outputs = {f"images_{s}.npy": {"sha256": sha256_file(folder / f"images_{s}.npy")} for s in ("train", "test")}
    (folder / "manifest.json").write_text(json.dumps({"dataset": "synthetic", "version": "v1", "outputs": outputs}))
    for split in ("train", "test"):
        np.save(folder / "sub-01" / f"{split}_fmri.npy", np.zeros((n, 4), np.float32))
        np.save(folder / "sub-01" / f"{split}_labels.npy", np.arange(n))
    noisy = np.clip(images[:n] / 255 + rng.normal(0, 0.2, images[:n].shape), 0, 1).astype(np.float32)
    np.save(root / "submission.npy", noisy)
    return root / "home"


def run_cli(args: list[str], env: dict[str, str]) -> tuple[float, float, dict]:
    """Run the CLI in a fresh process; return (wall seconds, CPU seconds of that process, JSON)."""
    import resource

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-c", "from fmri_bench.cli import main; main()", *args],
        capture_output=True,
        text=True,
        env=env,
    )
    if out.returncode != 0:
        raise SystemExit(f"fmri-bench {' '.join(args)} failed ({out.returncode}): {out.stderr.strip()}")
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, json.loads(out.stdout)


def bench_backbones(n: int, size: int) -> list[tuple[str, float, float, float, float]]:
    import torch

    from fmri_bench._torchvision import torchvision
    from fmri_bench.metrics import BATCH_SIZE, MetricInputs, extract_features, get_protocol
    from fmri_bench.weights import get_backbone, load_backbone, resolve

    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, (n, size, size, 3), dtype=np.uint8)
    inputs = MetricInputs.from_arrays(images, images)
    proto = get_protocol("mindeye")
    results = []
    seen = set()
    for key in proto.names():
        metric = proto.metric(key)
        if metric.feature is None or metric.backbone in seen or not resolve(metric.backbone).available:
            continue
        seen.add(metric.backbone)
        spec = metric.feature
        model, resolved = load_backbone(metric.backbone)
        wf = resolved.file
        px = spec.size or wf.input_size
        x = spec.prepare(inputs, "targets", px)
        # First features from a fresh network: hooks (ours) against torch.fx tracing (before).
        fresh = get_backbone(metric.backbone).build()
        fresh.load_state_dict(model.state_dict())
        fresh.eval()
        start = time.perf_counter()
        extract_features(fresh, [spec.node], x[:2], wf.mean, wf.std)
        t_hooks = time.perf_counter() - start
        start = time.perf_counter()
        fx = torchvision.models.feature_extraction.create_feature_extractor(fresh, [spec.node]).eval()
        with torch.inference_mode():
            fx(torch.from_numpy(np.ascontiguousarray(x[:2])))
        t_fx = time.perf_counter() - start
        extract_features(model, [spec.node], x[:2], wf.mean, wf.std)  # warm-up
        start = time.perf_counter()
        batched = extract_features(model, [spec.node], x, wf.mean, wf.std)[spec.node]
        t_batched = time.perf_counter() - start
        # Reference: one image per forward pass (the naive per-image loop).
        mean = torch.tensor(wf.mean).view(1, 3, 1, 1)
        std = torch.tensor(wf.std).view(1, 3, 1, 1)
        start = time.perf_counter()
        naive = []
        with torch.inference_mode():
            for img in x:
                naive.append(fx((torch.from_numpy(img[None]) - mean) / std)[spec.node].flatten(1).numpy())
        t_naive = time.perf_counter() - start
        naive = np.concatenate(naive)
        # Same features up to float rounding (batching and memory layout change the summation order).
        assert np.abs(naive - batched).max() <= 1e-4 * np.abs(naive).max(), "batched != per-image features"
        label = f"{metric.backbone} {spec.node} @{px}px (batch {BATCH_SIZE})"
        results.append((label, t_batched, t_naive, t_hooks, t_fx))
    return results


def bench_ssim(n: int) -> tuple[float, float]:
    from skimage.metrics import structural_similarity

    from fmri_bench.metrics.definitions import ssim_gaussian_2d

    rng = np.random.default_rng(3)
    a = rng.random((n, 425, 425)).astype(np.float32)
    b = np.clip(a + rng.normal(0, 0.2, a.shape), 0, 1).astype(np.float32)
    start = time.perf_counter()
    ours = ssim_gaussian_2d(b, a)
    t_ours = time.perf_counter() - start
    start = time.perf_counter()
    ref = [
        structural_similarity(y, x, gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=1.0)
        for x, y in zip(a, b)
    ]
    t_ref = time.perf_counter() - start
    assert np.allclose(ours, ref, atol=1e-6)
    return t_ours, t_ref


def bench_identification(n: int) -> tuple[float, float]:
    from fmri_bench.metrics import two_way_identification

    rng = np.random.default_rng(2)
    t = rng.normal(size=(n, 1280))
    r = t + rng.normal(scale=2.0, size=t.shape)
    start = time.perf_counter()
    fast = two_way_identification(t, r)
    t_fast = time.perf_counter() - start
    start = time.perf_counter()
    naive = np.zeros(n)
    for j in range(n):
        own = np.corrcoef(t[j], r[j])[0, 1]
        naive[j] = sum(np.corrcoef(t[i], r[j])[0, 1] < own for i in range(n) if i != j) / (n - 1)
    t_naive = time.perf_counter() - start
    assert np.allclose(fast, naive)
    return t_fast, t_naive


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=50, help="number of test images")
    parser.add_argument("--size", type=int, default=64, help="image size in px (the synthetic dataset's is 64)")
    parser.add_argument("--repeats", type=int, default=3, help="fresh processes per protocol (median reported)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        os.environ["TORCH_HOME"] = str(root / "torch")
        os.environ["FMRI_BENCH_NO_PROGRESS"] = "1"
        from fmri_bench.weights import import_weights

        if SHARED_WEIGHTS.is_dir():
            import_weights("squeezenet1_0", SHARED_WEIGHTS / "squeezenet1_0-imagenet-deepcompression.pth")
            import_weights("mobilenet_v2", SHARED_WEIGHTS / "mobilenet_v2-imagenet-coral-dequant.pth")
        home = make_home(root, args.n, args.size)
        env = dict(os.environ)
        common = ["score", str(root / "submission.npy"), "--data-home", str(home), "--json"]
        protocols = ("mindeye", "brain-diffuser", "kamitani")
        load_before = os.getloadavg()[0]
        runs: dict[str, list[tuple[float, float]]] = {p: [] for p in protocols}
        reports = {}
        for _ in range(args.repeats):  # alternated, so that a change of machine load hits every protocol
            for protocol in protocols:
                wall, cpu, reports[protocol] = run_cli([*common, "--no-record", "--protocol", protocol], env)
                runs[protocol].append((wall, cpu))
        wall_rec, cpu_rec, _ = run_cli([*common, "--leaderboard", str(root / "board")], env)
        print(
            f"scoring {args.n} test images of {args.size} px on {os.cpu_count()} cores, fresh processes "
            f"(load average {load_before:.1f} before, {os.getloadavg()[0]:.1f} after; torch threads default)\n"
        )
        print("| `fmri-bench score --no-record` end to end | median wall s | median CPU s (user+sys) | runs (wall) |")
        print("|---|---|---|---|")
        for protocol in protocols:
            walls = [w for w, _ in runs[protocol]]
            cpus = [c for _, c in runs[protocol]]
            shown = ", ".join(f"{w:.1f}" for w in walls)
            print(f"| `--protocol {protocol}` | {np.median(walls):.2f} | {np.median(cpus):.2f} | {shown} |")
        print(f"| `--protocol mindeye`, recording the row and both reference rows | {wall_rec:.2f} | {cpu_rec:.2f} | |")
        report = reports["mindeye"]
        print("\n| metric (mindeye, last run) | wall s |\n|---|---|")
        for key, seconds in report["seconds"].items():
            state = "n/a" if report["metrics"][key] is None else f"{report['metrics'][key]:.4f}"
            print(f"| `{key}` (value {state}) | {seconds:.3f} |")
        print(f"\nn/a: {', '.join(report['unavailable']) or 'none'} (no weights in the temporary torch cache)")
        print(
            "\n| deep path (targets only) | batched s | naive per-image s | naive / batched | first features: hooks s | torch.fx s |"
        )
        print("|---|---|---|---|---|---|")
        for label, t_batched, t_naive, t_hooks, t_fx in bench_backbones(args.n, args.size):
            print(
                f"| {label} | {t_batched:.2f} | {t_naive:.2f} | {t_naive / t_batched:.2f}x | {t_hooks:.2f} | {t_fx:.2f} |"
            )
        t_ours, t_ref = bench_ssim(args.n)
        print(f"\n| SSIM, {args.n} grey images of 425 px | fmri-bench s | scikit-image s | ratio |\n|---|---|---|---|")
        print(
            f"| 2-D gaussian SSIM (scikit-image 0.20 semantics) | {t_ours:.2f} | {t_ref:.2f} | {t_ref / t_ours:.1f}x |"
        )
        t_fast, t_naive = bench_identification(args.n)
        print(f"\n| two-way identification, N = {args.n}, 1280-d | vectorized s | naive double loop s | ratio |")
        print("|---|---|---|---|")
        print(f"| exhaustive over N-1 foils | {t_fast:.4f} | {t_naive:.3f} | {t_naive / t_fast:.0f}x |")
        wall = float(np.median([w for w, _ in runs["mindeye"]]))
        print(
            f"\nmindeye end to end {wall:.2f} s wall (median): {'within' if wall < 15 else 'OVER'} the 15 s target "
            f"(load average {os.getloadavg()[0]:.1f} at the end)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
