"""Content-addressed blob stores for evidence bytes (local folder, S3 Object Lock)."""
