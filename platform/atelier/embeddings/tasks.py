"""The embedding job: photos → CLIP vectors on the `gpu` queue, in id-range shards shared by workers."""
import time

from django.conf import settings
from django.db import transaction

from atelier.embeddings.services import (ModelChanged, embedding_scope, encode_batch, photos_missing_embeddings,
                                         store_batch, worker_engine)
from atelier.jobs.shards import ShardedJob, advance, sharded_job_task


def engine_for(model_id_expected: str):
    """The process-wide engine on the worker's device (loaded once per process, not per task)."""
    try:
        return worker_engine(expected_model_id=model_id_expected)
    except ModelChanged as exc:
        raise ModelChanged(f"{exc}: this job's photos will be embedded by a new job") from None


class EmbedPhotos(ShardedJob):
    kind = "embed_photos"
    queue = "gpu"

    def items(self, job, phase):
        return self.rows_between(job, phase, None, None)

    def rows_between(self, job, phase, after, upto):
        scope = embedding_scope(job.collection_id, job.params.get("photo_ids"))
        return photos_missing_embeddings(job.params["model_id"], scope, after=after, upto=upto)

    def work(self, job, shard, deadline):
        """Batches along the shard's keyset cursor; each batch's rows and cursor commit together."""
        engine = engine_for(job.params["model_id"])
        while True:
            started = time.monotonic()
            rows = self.rows_between(job, shard.phase, shard.cursor, shard.hi).order_by("pk")
            batch = list(rows[:engine.batch_size])
            if not batch:
                with transaction.atomic():
                    advance(shard, cursor=shard.hi, finished=True)
                return
            if settings.ATELIER_EMBED_DELAY_S:  # test knob: lets a test kill a worker mid-job
                time.sleep(settings.ATELIER_EMBED_DELAY_S)
            encoded = encode_batch(batch, engine)
            with transaction.atomic():
                store_batch(encoded)
                last = len(batch) < engine.batch_size
                advance(shard, cursor=shard.hi if last else batch[-1].pk, done=len(batch), finished=last)
            if last or time.monotonic() + (time.monotonic() - started) >= deadline:  # no batch past the chunk
                return

    def message(self, job, done, total):
        return f"embedded {done}/{total}"


embed_photos = sharded_job_task(EmbedPhotos)
