from atelier.plugin_api import PluginInfo

PLUGIN = PluginInfo(
    name="neardup",
    version="1.0.0",
    api_version=1,
    app="plugins.neardup",
    description="Groups of near-identical photos in a collection, found from their CLIP embeddings.",
    settings={"threshold": 0.95, "min_threshold": 0.8},
)
