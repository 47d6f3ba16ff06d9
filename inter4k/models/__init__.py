"""Models of inter4k, created by name: ``create_model("sr-small", scale=4)``."""

from .registry import create_model, list_models, register_model

__all__ = ["create_model", "list_models", "register_model"]
