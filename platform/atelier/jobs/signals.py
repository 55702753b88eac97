"""Job events for other apps (and, through the plugin host, plugins). Sent after commit."""
from django.dispatch import Signal

# kwargs: job_id, kind, state ("succeeded", "failed", "cancelled"), owner_id
job_finished = Signal()
