"""System checks run by `atelier check` (manage.py check) and at every start."""
from importlib import metadata

from django.core.checks import Error, register

FAISS_BUILDS = ("faiss-cpu", "faiss-gpu-cu12", "faiss-gpu")


def installed(dist: str) -> bool:
    try:
        metadata.version(dist)
        return True
    except metadata.PackageNotFoundError:
        return False


@register()
def one_faiss_build(app_configs, **kwargs):
    """Two faiss wheels write the same `faiss` package: whichever was installed last half-wins."""
    found = [d for d in FAISS_BUILDS if installed(d)]
    if len(found) > 1:
        return [Error(f"several faiss builds are installed ({', '.join(found)}); they overwrite each other",
                      hint="pip uninstall them all, then install one: `make setup` (CPU) or `make setup GPU=1`",
                      id="atelier.E001")]
    if not found:
        return [Error("no faiss build is installed", hint="pip install 'atelier[cpu]' or 'atelier[gpu]'",
                      id="atelier.E002")]
    return []
