"""The library as an internal plugin: its job task, through the same hook as plugins' ones."""
from atelier.pluginhost.hookspecs import hookimpl


@hookimpl
def register_job_tasks():
    from atelier.embeddings.tasks import embed_photos
    from atelier.library.tasks import process_photos

    return [process_photos, embed_photos]
