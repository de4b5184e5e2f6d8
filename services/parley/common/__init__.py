"""The bottom layer every service stands on: settings, db, kafka, redis, events, auth, telemetry, errors."""
