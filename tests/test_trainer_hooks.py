"""Extending the trainer: a subclass overrides ``build_*`` hooks (BasicSR's way), and nothing else;
the config computes the default run folder (the one place)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn
from torch.utils.data import Dataset

from inter4k.train import checkpoint as ckpt_io
from inter4k.train import loop
from inter4k.train.config import SRTrainConfig, VFITrainConfig
from inter4k.train.loop import run_trainer
from inter4k.train.sr import SRTrainer, train_sr

pytestmark = pytest.mark.usefixtures("one_thread")

TINY = "test-hooks-sr"


class Tiny(nn.Module):
    def __init__(self, scale: int = 2):
        super().__init__()
        self.scale = scale
        self.conv = nn.Conv2d(3, 3 * scale * scale, 3, padding=1)
        self.shuffle = nn.PixelShuffle(scale)

    def forward(self, x):
        return self.shuffle(self.conv(x))


@pytest.fixture(autouse=True)
def _tiny(monkeypatch):
    """``Tiny`` registered in a copy of the model registry, for these tests only."""
    from inter4k.models import registry

    for table in ("_MODELS", "_TASKS"):
        monkeypatch.setattr(registry, table, dict(getattr(registry, table)))
    registry.register_model(TINY, task="sr")(Tiny)


@pytest.fixture(scope="module")
def images(tmp_path_factory) -> Path:
    from inter4k.data.images import write_skimage_images

    folder = tmp_path_factory.mktemp("pictures")
    write_skimage_images(folder, ["coffee"])
    return folder


class Flat(Dataset):
    """Constant-colour (lr, hr) pairs: a training set no --data kind gives."""

    def __len__(self):
        return 6

    def __getitem__(self, i):
        return torch.full((3, 8, 8), i / 6), torch.full((3, 16, 16), i / 6)


class CustomTrainer(SRTrainer):
    built: list = []

    def build_train_dataset(self, spec):
        self.built.append(spec.kind)
        return Flat()

    def build_optimizer(self):
        return torch.optim.SGD(self.model.parameters(), lr=self.cfg.lr, momentum=0.5)


def test_a_subclass_overrides_build_hooks(images, tmp_path):
    run = tmp_path / "run"
    result = run_trainer(CustomTrainer, dict(model=TINY, scale=2, data=f"images:{images}", steps=3, batch=2,
                                             patch=16, lr=1e-3, workers=0, val_every=0, out=str(run)))
    assert result.finished and CustomTrainer.built == ["images"]
    state = ckpt_io.load(run / "last.pt")
    assert state["data"]["train_samples"] == 6  # the hook's dataset, not the folder's
    assert state["optimizer"]["param_groups"][0]["momentum"] == 0.5  # the hook's optimiser


def test_there_is_one_way_to_extend_the_trainer():
    assert not hasattr(loop, "TaskFunctions") and not hasattr(SRTrainer, "functions")


def test_the_default_run_folder_is_the_configs(images, tmp_path, monkeypatch):
    assert SRTrainConfig(scale=3, model="m").run_folder() == Path("runs") / "sr-x3-m"
    assert VFITrainConfig(mode="8x", model="v").run_folder() == Path("runs") / "vfi-8x-v"
    assert SRTrainConfig(out="~/x").run_folder() == Path.home() / "x"
    monkeypatch.chdir(tmp_path)
    result = train_sr(model=TINY, scale=2, data=f"images:{images}", steps=1, batch=1, patch=16, workers=0,
                      val_every=0)
    assert result.out == Path("runs") / f"sr-x2-{TINY}" and (tmp_path / result.last).is_file()
    assert result.config["out"] == str(Path("runs") / f"sr-x2-{TINY}")
