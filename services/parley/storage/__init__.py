"""The storage service: attachments on S3, readable only by the chat's members (docs/storage.md)."""
