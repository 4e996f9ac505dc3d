"""Notifications: Slack-compatible webhooks on run start/finish, objective missed,
overdue drills, skipped fires and game days (:mod:`.webhook`, :mod:`.messages`)."""
