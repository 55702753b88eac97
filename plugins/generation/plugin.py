from atelier.plugin_api import PluginInfo

PLUGIN = PluginInfo(
    name="generation",
    version="1.0.0",
    api_version=1,
    app="plugins.generation",
    description="Creation studio: images from text, many candidates reranked by CLIP, the best kept.",
    settings={
        "default_backend": "atelier-dalle",
        "max_prompt_chars": 200,
        "max_candidates": 512,
        "max_keep": 32,
        "running_per_user": 1,      # generations of one user sampled at the same time
        "queued_per_user": 8,       # further requests wait in the user's queue; beyond, refused
        "batch_size": 16,           # candidates sampled per forward batch (CPU)
        "batch_size_cuda": 64,      # the same on a CUDA GPU
        "stream_batches": 4,        # at least this many batches per request: the studio shows each as it is scored
        "dalle_weights": "",        # Atelier DALL·E weights dir ("" = ml_core/weights/dalle)
        "min_dalle_models_root": "",  # folder with min-dalle's downloaded weights ("" = not installed)
        "min_dalle_mega": True,       # DALL·E Mega (dalle_bart_mega/); false: DALL·E Mini (dalle_bart_mini/)
    },
)
