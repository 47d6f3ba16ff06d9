"""Models of inter4k, created by name: ``create_model("sr-small", scale=4)``."""

from .registry import create_model, list_models, register_model
from . import baselines, lowres_sr, sr, upsamplers, vfi, vfi_ffmpeg, vsr  # noqa: F401,E402  (registers the models on import)
from .baselines import BASELINES  # noqa: E402
from .sr import SR_PRESETS, SRNet  # noqa: E402
from .upsamplers import UPSAMPLERS, create_upsampler  # noqa: E402
from .vfi import VFI_BASELINES, VFISmall  # noqa: E402
from .weights import bundled_weights, default_sr_model, load_model, save_model  # noqa: E402
from .resolver import ResolvedModel, resolve  # noqa: E402

__all__ = ["create_model", "list_models", "register_model", "SRNet", "SR_PRESETS", "BASELINES",
           "UPSAMPLERS", "create_upsampler", "load_model", "save_model", "bundled_weights",
           "default_sr_model", "VFISmall", "VFI_BASELINES", "resolve", "ResolvedModel"]
