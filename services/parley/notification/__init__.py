"""The notification service: email (and SMS) for members who are away, sent once, never twice."""
