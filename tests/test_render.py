"""``inter4k prepare --data`` (inter4k.data.render): rendered VFI samples stored exactly, shards that are the
same whatever the workers, resuming after an interruption, augmentation that moves the true flows with
the frames, train-vfi on the folder with flow supervision, and bad input as one line."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from cli.main import app, main
from inter4k.data import sources
from inter4k.data.datasets import apply_plan, apply_plan_flows
from inter4k.data.motion import SyntheticMotionVFI
from inter4k.data.prepare import PreparedVFI, read_index
from inter4k.data.render import as_uint8, prepare_rendered
from inter4k.models.vfi import backward_warp

pytestmark = pytest.mark.usefixtures("one_thread")

# scikit-image's photographs, realistic clips (blur, noise, H.264, non-rigid motion), 32 px: fast to render
REAL = dict(mode="15to60", patch=32, samples=5, realism="real", shard_size=2, seed=3)
PLANS = [dict(hflip=h, vflip=v, reverse=r, transpose=t) for h, v, r, t in itertools.product((False, True), repeat=4)]


def source(**kw) -> SyntheticMotionVFI:
    """The live dataset whose samples the folder must hold."""
    cfg = dict(REAL, **kw)
    return SyntheticMotionVFI(None, mode=cfg["mode"], patch_size=cfg["patch"], samples=cfg["samples"],
                              seed=cfg["seed"], realism=cfg["realism"], with_flows=True)


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    out = tmp_path_factory.mktemp("rendered") / "vfi"
    report = prepare_rendered("synthetic", out, **REAL)
    return out, report


def shard_bytes(folder) -> dict:
    return {p.name: p.read_bytes() for p in sorted(folder.glob("shard-*.npy"))}


def test_the_shards_hold_exactly_what_the_source_renders(rendered):
    out, report = rendered
    assert (report["samples"], report["shards"], report["written"], report["skipped"]) == (5, 3, 3, 0)
    assert report["flows"] and report["shape"] == [5, 3, 32, 32] and report["samples_per_second"] > 0
    index = read_index(out)
    assert index["complete"] and index["rendered"] == {"kind": "synthetic", "path": None, "realism": "real"}
    assert sorted(p.name for p in out.iterdir()) == ["index.json"] + sorted(
        f"shard-0000{j}{part}.npy" for j in range(3) for part in ("", ".flows", ".times"))
    ds, live = PreparedVFI(out, augment=False, with_flows=True), source()
    assert len(ds) == 5
    for i in range(5):
        stored, want = ds[i], live[i]
        assert len(stored) == 4
        for a, b, what in zip(stored, want, ("inputs", "targets", "t", "flows")):
            assert a.dtype == b.dtype and torch.equal(a, b), (i, what)
    # without with_flows: the three tensors of Inter4K patches
    assert len(PreparedVFI(out, augment=False)[0]) == 3


def test_two_workers_write_the_same_bytes(rendered, tmp_path):
    out, _ = rendered
    report = prepare_rendered("synthetic", tmp_path / "two", **REAL, workers=2)
    assert report["workers"] == 2 and report["written"] == 3
    assert shard_bytes(tmp_path / "two") == shard_bytes(out)


def test_an_interrupted_run_resumes_to_the_same_shards(rendered, tmp_path, monkeypatch):
    out, _ = rendered
    again = prepare_rendered("synthetic", out, **REAL)
    assert (again["written"], again["skipped"], again["samples_per_second"]) == (0, 3, None)

    part = tmp_path / "part"
    original = SyntheticMotionVFI.__getitem__

    def dies_at_3(self, index):
        if index == 3:
            raise KeyboardInterrupt
        return original(self, index)
    monkeypatch.setattr(SyntheticMotionVFI, "__getitem__", dies_at_3)
    with pytest.raises(KeyboardInterrupt):
        prepare_rendered("synthetic", part, **REAL)
    index = read_index(part)
    assert index["shards"][0] and index["shards"][1] is None and not index["complete"]
    assert not any(p.name.startswith(".") for p in part.iterdir())  # no temporary file left
    assert not (part / "shard-00001.npy").exists()
    with pytest.raises(ValueError, match="not complete"):
        PreparedVFI(part)
    monkeypatch.setattr(SyntheticMotionVFI, "__getitem__", original)
    resumed = prepare_rendered("synthetic", part, **REAL)
    assert (resumed["written"], resumed["skipped"], resumed["repaired"]) == (2, 1, [])
    assert shard_bytes(part) == shard_bytes(out)
    # a listed shard cut short is rendered again
    flows = part / "shard-00001.flows.npy"
    flows.write_bytes(flows.read_bytes()[:-100])
    repaired = prepare_rendered("synthetic", part, **REAL)
    assert repaired["written"] == 1 and repaired["repaired"] == ["shard-00001.npy"]
    assert shard_bytes(part) == shard_bytes(out)
    with pytest.raises(ValueError, match=r"another config: .*seed \(3 there, 4 requested\)"):
        prepare_rendered("synthetic", part, **dict(REAL, seed=4))


def test_pure_translation_stays_exact_under_every_augmentation():
    """Frames of an integer shift (dx, dy) per frame, its constant true flows: after each of the 16 plans,
    warping the first input by F_t->0 (and the second by F_t->1) still gives each target exactly."""
    rng = np.random.default_rng(0)
    big = torch.from_numpy(rng.random((3, 48, 48), dtype=np.float32))
    span, d = 4, (1, 2)  # (dx, dy) pixels per frame
    seq = torch.stack([torch.roll(big, shifts=(d[1] * k, d[0] * k), dims=(1, 2)) for k in range(span + 1)])
    flows = torch.zeros(span - 1, 4, 48, 48)
    for k in range(1, span):  # the point at x in frame k was at x - k d in frame 0, is at x + (span - k) d in 1
        flows[k - 1, 0], flows[k - 1, 1] = -k * d[0], -k * d[1]
        flows[k - 1, 2], flows[k - 1, 3] = (span - k) * d[0], (span - k) * d[1]
    inner = (slice(None), slice(None), slice(12, -12), slice(12, -12))  # away from the wrap-around
    for plan in PLANS:
        s, f = apply_plan(seq, plan), apply_plan_flows(flows, plan)
        for k in range(1, span):
            from0 = backward_warp(s[0:1], f[k - 1:k, 0:2])
            from1 = backward_warp(s[-1:], f[k - 1:k, 2:4])
            assert torch.allclose(from0[inner], s[k:k + 1][inner], atol=1e-5), (plan, k)
            assert torch.allclose(from1[inner], s[k:k + 1][inner], atol=1e-5), (plan, k)
            # the flows as stored do not fit the moved frames (unless the plan leaves this motion as it was:
            # a translation reversed and turned by 180 degrees is itself)
            if not torch.equal(f, flows):
                stale = backward_warp(s[0:1], flows[k - 1:k, 0:2])
                assert not torch.allclose(stale[inner], s[k:k + 1][inner], atol=1e-2), (plan, k)


def test_augmented_samples_keep_their_flows_consistent_with_their_frames(rendered, monkeypatch):
    """On a rendered sample, the warping residual of each augmented sample is the augmented residual of
    the stored one (backward warping commutes with flips, transposes and the reversal's swap)."""
    out, _ = rendered
    ds = PreparedVFI(out, augment=True, with_flows=True)
    plain = PreparedVFI(out, augment=False, with_flows=True)
    inputs, targets, t, flows = plain[1]
    n = targets.shape[0]

    def residual(inputs, targets, flows):  # (n, 2, 3, P, P): from input 0 and from input 1
        w0 = backward_warp(inputs[0:1].expand(n, -1, -1, -1), flows[:, 0:2]) - targets
        w1 = backward_warp(inputs[1:2].expand(n, -1, -1, -1), flows[:, 2:4]) - targets
        return torch.stack([w0, w1], 1)

    base = residual(inputs, targets, flows)
    assert float(flows.abs().mean()) > 0.5  # the sample moves
    for plan in PLANS:
        monkeypatch.setattr(ds, "plan", lambda index, plan=plan: plan)
        a_in, a_tg, a_t, a_fl = ds[1]
        assert torch.equal(a_t, t)  # uniform timesteps: 1 - t reversed is t
        want = apply_plan(base.flatten(1, 2), plan).unflatten(1, (2, 3))
        if plan["reverse"]:  # the inputs swap, so the residuals from input 0 and input 1 do
            want = want.flip(1)
        assert torch.allclose(residual(a_in, a_tg, a_fl), want, atol=1e-4), plan


def test_training_draws_rotations_and_reversals(rendered):
    out, _ = rendered
    ds = PreparedVFI(out, seed=0)  # a train folder: augmented by default
    plans = [ds.plan(i) for i in range(len(ds))] + [(ds.set_epoch(1), ds.plan(i))[1] for i in range(len(ds))]
    assert any(p["transpose"] for p in plans) and any(p["reverse"] for p in plans)
    assert not all(p["transpose"] for p in plans)


def flow_run(**kw) -> dict:
    cfg = dict(model="vfi-small", model_kwargs={"channels": 4}, mode="15to60", steps=2, batch=2, flow_loss=1.0,
               val_every=2, workers=0, seed=0)
    cfg.update(kw)
    return cfg


def test_train_vfi_on_rendered_shards_with_flow_loss(tmp_path, monkeypatch):
    from inter4k.api import train_vfi
    from inter4k.train import vfi as vfi_train

    out = tmp_path / "p16"
    prepare_rendered("synthetic", out, mode="15to60", patch=16, samples=4, realism="real")
    spec = sources.parse_data(str(out), "vfi")
    source_ = sources.get_source(spec.kind, "vfi")
    assert spec.kind == "prepared" and source_.has_true_flows(spec) and source_.stored_realism(spec) == "real"
    seen = []
    original = vfi_train.VFITrainer.batch_loss
    monkeypatch.setattr(vfi_train.VFITrainer, "batch_loss", lambda self, batch: seen.append(batch) or original(self, batch))
    result = train_vfi(flow_run(data=str(out), out=str(tmp_path / "run")))
    assert result.finished and result.step == 2 and result.config["patch"] == 16
    assert result.val_psnr_y is not None  # validated on the fixed val clips of the rendered data
    inputs, targets, t, flows = seen[0]
    assert flows.shape == (2, 3, 4, 16, 16) and float(flows.abs().mean()) > 0
    stored = {PreparedVFI(out, augment=False, with_flows=True)[i][3].abs().sum().item() for i in range(4)}
    for flow in flows:  # each sample's flows are a stored sample's, moved (flips, swaps keep |flow|)
        assert any(abs(flow.abs().sum().item() - s) < 1e-2 for s in stored)
    with pytest.raises(ValueError, match="rendered with realism 'real' by inter4k prepare; leave --realism out"):
        train_vfi(flow_run(data=str(out), out=str(tmp_path / "r2"), realism="rigid"))
    with pytest.raises(ValueError, match="pass --patch 16"):
        train_vfi(flow_run(data=str(out), out=str(tmp_path / "r3"), patch=32))


def test_bad_input(tmp_path, rendered):
    with pytest.raises(ValueError, match="samples must be a positive integer"):
        prepare_rendered("synthetic", tmp_path / "a", samples=0)
    with pytest.raises(ValueError, match="needs --out"):
        prepare_rendered("synthetic", None, samples=2)
    with pytest.raises(ValueError, match="not 'sr'"):
        prepare_rendered("synthetic", tmp_path / "a", task="sr", samples=2)
    with pytest.raises(ValueError, match="unknown mode"):
        prepare_rendered("synthetic", tmp_path / "a", samples=2, mode="4x")
    with pytest.raises(ValueError, match="not 8-bit values"):
        as_uint8(np.array([0.5], dtype=np.float32), "sample 0")
    # a folder whose source had no true flows (its index lists no flows part) cannot give them
    out, _ = rendered
    no_flows = tmp_path / "no-flows"
    no_flows.mkdir()
    index = read_index(out)
    del index["parts"]["flows"]
    for entry in index["shards"]:
        del entry["flows"]
    (no_flows / "index.json").write_text(json.dumps(index))
    for f in out.glob("shard-*.npy"):
        if ".flows" not in f.name:
            (no_flows / f.name).write_bytes(f.read_bytes())
    assert len(PreparedVFI(no_flows)[0]) == 3
    with pytest.raises(ValueError, match="holds no true flows"):
        PreparedVFI(no_flows, with_flows=True)
    spec = sources.parse_data(str(no_flows), "vfi")
    assert not sources.get_source(spec.kind, "vfi").has_true_flows(spec)
    with pytest.raises(ValueError, match="is prepared data, not something to render"):
        prepare_rendered(str(out), tmp_path / "b", samples=2)


def test_cli_prepare_data(tmp_path, capsys, rendered):
    runner = CliRunner()
    out = tmp_path / "cli"
    args = ["prepare", "--data", "synthetic", "--task", "vfi", "--mode", "30to60", "--patch", "16", "--samples", "3",
            "--realism", "rigid", "--out", str(out), "--workers", "1", "--json"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["samples"] == 3 and report["realism"] == "rigid" and report["written"] == 1
    assert len(PreparedVFI(out)) == 3
    table = runner.invoke(app, args[:-1])
    assert table.exit_code == 0 and "samples_per_second" in table.stdout
    for bad in (["prepare", "--data", "synthetic", "--out", str(tmp_path / "x"), "--task", "vfi"],   # no --samples
                ["prepare", "--samples", "3", "--out", str(tmp_path / "x")],                       # no --data
                ["prepare", "--data", str(rendered[0]), "--samples", "3", "--task", "vfi", "--out", str(tmp_path / "x")],
                ["prepare", "--data", "synthetic", "--samples", "3", "--task", "vfi", "--realism", "wild",
                 "--out", str(tmp_path / "x")]):
        capsys.readouterr()
        assert main(bad) == 2, bad
        err = capsys.readouterr().err.strip()
        assert err.startswith("Error: ") and len(err.splitlines()) == 1, err


# --- video SR clips -----------------------------------------------------------------------------------

VSR_SMALL = {"channels": 8, "blocks": 1, "frame_channels": 8, "frame_blocks": 1, "flow_channels": 4}


def test_vsr_clips_round_trip_and_train_vsr_runs_on_them(photo_corpus, tmp_path):
    from inter4k.api import train_vsr
    from inter4k.data.clips import SyntheticClipsVSR
    from inter4k.data.prepare import PreparedSR

    out = tmp_path / "vsr"
    report = prepare_rendered(f"photos:{photo_corpus}", out, task="vsr", frames=3, patch=32, samples=4, scale=2,
                              shard_size=3)
    assert (report["samples"], report["shards"], report["flows"], report["shape"]) == (4, 2, False, [3, 3, 32, 32])
    assert read_index(out)["scales"] == [2, 4]
    live = SyntheticClipsVSR(photo_corpus / "train", frames=3, scale=2, patch_size=32, samples=4, seed=0)
    stored = PreparedSR(out, scale=2, augment=False, quantize=True)
    for i in range(4):  # the HR clip is stored; the 8-bit bicubic LR made again is the live one
        for a, b in zip(stored[i], live[i]):
            assert torch.equal(a, b), i
    # a train folder turns the clips too; the LR is made from the turned HR
    turned = PreparedSR(out, scale=2, quantize=True)
    plan = dict(hflip=False, vflip=False, reverse=False, transpose=True)
    turned.plan = lambda index: plan
    lr, hr = turned[1]
    assert torch.equal(hr, stored[1][1].transpose(-1, -2)) and lr.shape == (3, 3, 16, 16)
    # recorded clips: the stored clips are the live ones, and the folder's val clips have its realism
    rec = prepare_rendered(f"photos:{photo_corpus}", tmp_path / "rec", task="vsr", frames=3, patch=32, samples=2,
                           scale=2, realism="recorded")
    assert rec["realism"] == "recorded" and read_index(tmp_path / "rec")["rendered"]["realism"] == "recorded"
    live = SyntheticClipsVSR(photo_corpus / "train", frames=3, scale=2, patch_size=32, samples=2, seed=0,
                             realism="recorded")
    stored = PreparedSR(tmp_path / "rec", scale=2, augment=False, quantize=True)
    assert all(torch.equal(stored[i][1], live[i][1]) for i in range(2))
    val = sources.open_dataset(sources.parse_data(str(tmp_path / "rec"), "vsr"), "vsr", "val", scale=2, frames=3,
                               train_patch=32)
    assert val.motion.realism.name == "recorded"
    cli = CliRunner().invoke(app, ["prepare", "--data", f"photos:{photo_corpus}", "--task", "vsr", "--frames", "3",
                                   "--patch", "32", "--scale", "2", "--samples", "4", "--shard-size", "3",
                                   "--out", str(out), "--json"])
    assert cli.exit_code == 0, cli.output
    assert json.loads(cli.stdout)["skipped"] == 2  # the same config from the command line: nothing to do
    spec = sources.parse_data(str(out), "vsr")
    assert spec.kind == "prepared"
    cfg = dict(data=str(out), scale=2, frames=3, batch=2, steps=2, workers=0, val_every=2, val_clips=2,
               model_kwargs=dict(VSR_SMALL))
    result = train_vsr(dict(cfg, out=str(tmp_path / "run")))
    assert result.finished and result.step == 2 and result.config["patch"] == 32
    assert result.val_psnr is not None  # the photo corpus's val clips, rendered live
    with pytest.raises(ValueError, match="holds clips of 3 frames; pass --frames 3"):
        train_vsr(dict(cfg, frames=5, out=str(tmp_path / "r2")))
    from inter4k.api import train_sr
    with pytest.raises(ValueError, match="train-sr trains on single frames"):
        train_sr(dict(data=str(out), scale=2, steps=1, out=str(tmp_path / "r3")))


def test_recorded_vsr_clips_carry_noise_and_h264_in_every_frame(photo_corpus):
    # "real" (VFI) records only the two inputs; "recorded" (video SR) every frame, so the LR a model
    # sees and the HR it learns are both what a camera and its codec give
    from inter4k.data.clips import SyntheticClipsVSR

    for name, recorded in (("recorded", [True] * 5), ("real", [True, False, False, False, True])):
        ds = SyntheticClipsVSR(photo_corpus / "train", frames=5, scale=2, patch_size=32, samples=8, seed=0,
                               realism=name)
        index = next(i for i in range(8) if ds.motion.plan(i)["effects"]["crf"] is not None)
        plan = ds.motion.plan(index)
        clean = ds.motion.render(dict(plan, effects=dict(plan["effects"], noise=None, crf=None)))
        seen = ds[index][1]
        assert [bool((seen[k] - clean[k]).abs().mean() > 1e-4) for k in range(5)] == recorded, name
