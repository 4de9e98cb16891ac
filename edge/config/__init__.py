"""Device profiles: TOML files validated by typed models, one module per section."""

from .profile import KIND_CLASSES, ConfigError, Problem, Profile, cross_check, load_profile

__all__ = ["KIND_CLASSES", "ConfigError", "Problem", "Profile", "cross_check", "load_profile"]
