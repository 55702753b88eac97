"""The generation job on the gpu queue (the work itself is in services.run_generation_step)."""
from atelier.plugin_api import Step, job_task
from plugins.generation import services


@job_task(kind=services.JOB_KIND, queue="gpu")
def generate(job, deadline: float) -> Step:
    return services.run_generation_step(job, deadline)
