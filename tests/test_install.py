"""Installing Atelier as a package: `pip install .` into a clean virtualenv gives a working `atelier`
command outside the checkout; the lock files pin exactly one faiss build each."""
import os
import subprocess
import sys
import sysconfig
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def lock(name: str) -> dict[str, str]:
    lines = [line for line in (REPO / name).read_text().splitlines() if line and not line.startswith("#")]
    return dict(line.split("==", 1) for line in lines)


def test_the_gpu_lock_is_the_cpu_lock_with_faiss_gpu_instead_of_faiss_cpu():
    cpu, gpu = lock("requirements.lock"), lock("requirements-gpu.lock")
    assert "faiss-cpu" in cpu and "faiss-gpu-cu12" not in cpu
    assert "faiss-cpu" not in gpu and "faiss-gpu-cu12" in gpu
    extra = {k: v for k, v in gpu.items() if k not in cpu}
    assert set(extra) == {"faiss-gpu-cu12", "nvidia-cublas-cu12", "nvidia-cuda-nvrtc-cu12", "nvidia-cuda-runtime-cu12"}
    assert {k: v for k, v in gpu.items() if k in cpu} == {k: v for k, v in cpu.items() if k != "faiss-cpu"}
    for name in ("requirements.lock", "requirements-gpu.lock"):
        lines = (REPO / name).read_text().splitlines()
        assert lines == sorted(lines, key=str.lower), f"{name} is sorted"


def test_the_extras_choose_one_faiss_build():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert not [d for d in project["dependencies"] if d.startswith("faiss")]
    extras = project["optional-dependencies"]
    assert extras["cpu"] == ["faiss-cpu>=1.11"]
    assert extras["gpu"] == [f"faiss-gpu-cu12=={lock('requirements-gpu.lock')['faiss-gpu-cu12']}"]
    assert project["scripts"]["atelier"] == "atelier.cli:main"


@pytest.mark.slow
def test_pip_install_into_a_clean_venv_then_atelier_check(tmp_path):
    """`pip wheel .` here, then installs the wheel without dependencies (they come from this test run's environment through a path
    file, so torch is not downloaded again), then runs the command far from the checkout."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    purelib = subprocess.run([venv / "bin" / "python", "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             check=True, capture_output=True, text=True).stdout.strip()
    Path(purelib, "shared-deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "DATABASE_URL", "REDIS_URL", "VIRTUAL_ENV")}
    env.update(SECRET_KEY="install-test", ATELIER_VAR_DIR=str(tmp_path / "var"), PIP_DISABLE_PIP_VERSION_CHECK="1")
    wheel = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
                            "-w", str(tmp_path / "dist"), str(REPO)], env=env, capture_output=True, text=True, cwd=tmp_path)
    assert wheel.returncode == 0, wheel.stderr[-3000:]
    built = next((tmp_path / "dist").glob("atelier-*.whl"))
    install = subprocess.run([venv / "bin" / "pip", "install", "-q", "--no-deps", str(built)],
                             env=env, capture_output=True, text=True, cwd=tmp_path)
    assert install.returncode == 0, install.stderr[-3000:]
    run = lambda *args: subprocess.run([venv / "bin" / "atelier", *args], env=env, capture_output=True, text=True,
                                       cwd=tmp_path, timeout=300)
    check = run("check")
    assert check.returncode == 0, check.stdout + check.stderr[-3000:]
    assert "System check identified no issues" in check.stdout
    where = subprocess.run([venv / "bin" / "python", "-c", "import atelier, ml_core, plugins, django.conf as c; "
                            "import atelier.settings as s; print(atelier.__file__, s.FRONTEND_DIR, s.IN_CHECKOUT)"],
                           env={**env, "DJANGO_SETTINGS_MODULE": "atelier.settings"}, capture_output=True, text=True,
                           cwd=tmp_path)
    location, frontend, in_checkout = where.stdout.split()
    assert location.startswith(str(venv)) and in_checkout == "False"
    assert (Path(frontend) / "templates" / "base.html").is_file()
    assert run("migrate", "--noinput").returncode == 0
    assert run("no-such").returncode == 2
