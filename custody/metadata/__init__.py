"""Media metadata and provenance signals: what a file says about itself, read without changing it."""

from .content_credentials import describe as describe_content_credentials
from .extract import Extraction, extract
from .flags import compute_flags
from .similar import hash_distance, perceptual_hash
from .sniff import extension_mismatch, sniff_media_type

__all__ = [
    "Extraction",
    "compute_flags",
    "describe_content_credentials",
    "extension_mismatch",
    "extract",
    "hash_distance",
    "perceptual_hash",
    "sniff_media_type",
]
