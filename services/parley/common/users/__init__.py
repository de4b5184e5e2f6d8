"""Users as every service but auth sees them: the directory (read-only) and profiles."""
