"""Helpers shared by the tests: archives and the CLI driver, media, bundles, servers, schemas, tampering."""
