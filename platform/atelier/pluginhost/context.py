from atelier.pluginhost.manager import nav_items


def plugin_nav(request):
    return {"plugin_nav": nav_items()}
