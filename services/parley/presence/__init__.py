"""`parley serve presence`: online, away, offline and last-seen of every user."""
