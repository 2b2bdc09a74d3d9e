"""In-process notifications: templates, counters and the formats of the `mail` and `webhook` handlers."""
