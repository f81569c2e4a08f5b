"""Media metadata and provenance signals: what a file says about itself, read without changing it."""

import warnings

from PIL import Image

from .content_credentials import describe as describe_content_credentials
from .extract import Extraction, extract
from .flags import compute_flags
from .similar import hash_distance, perceptual_hash
from .sniff import extension_mismatch, sniff_media_type

# Decoding libraries talk to the terminal through warnings (a large image, a odd chunk); what
# matters is recorded as a flag or warning in the record instead. Set once: ``catch_warnings``
# is not safe in the store threads.
warnings.filterwarnings("ignore", category=Image.DecompressionBombWarning)
for _module in (r"PIL(\..*)?", r"pillow_heif(\..*)?", r"imagehash(\..*)?", r"c2pa(\..*)?"):
    warnings.filterwarnings("ignore", module=_module)

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
