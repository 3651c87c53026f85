"""Configuration, parsed once at the edge into frozen typed objects."""

from kmirror.config.settings import MirrorSettings, SourceCluster, load_mirror_settings

__all__ = ["MirrorSettings", "SourceCluster", "load_mirror_settings"]
