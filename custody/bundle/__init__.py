"""Sealed evidence bundles: BagIt zips that leave the archive and are checked without it."""
