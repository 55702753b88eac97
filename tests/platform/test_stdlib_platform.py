"""`platform/` is a folder on sys.path, never a package: `import platform` stays the stdlib module."""
import subprocess
import sys
from pathlib import Path

import platform

REPO = Path(__file__).resolve().parents[2]


def test_platform_is_stdlib_in_pytest():
    assert platform.system()  # would raise AttributeError if our folder shadowed it
    assert "site-packages" not in platform.__file__ and Path(platform.__file__).name == "platform.py"
    assert not (REPO / "platform" / "__init__.py").exists()


def test_platform_is_stdlib_in_entry_points():
    code = (
        "import os, platform; os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'atelier.settings');"
        "import atelier.asgi, atelier.celery_app, atelier.wsgi;"
        "import platform as p; assert p.system() and p.__file__.endswith('platform.py'); print('ok', p.system())"
    )
    for argv in ([sys.executable, "-c", code], [sys.executable, str(REPO / "manage.py"), "shell", "-c", code]):
        out = subprocess.run(argv, cwd=REPO, capture_output=True, text=True, timeout=120,
                             env={"PATH": "/usr/bin:/bin", "PYTHONPATH": f"{REPO / 'platform'}:{REPO}", "ATELIER_VAR_DIR": "/tmp/atelier-test-var"})
        assert out.returncode == 0, out.stderr[-2000:]
        assert "ok" in out.stdout
