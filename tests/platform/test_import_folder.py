"""`manage.py import_folder`: imports through the ingestion service, reports, re-runs safely."""
import pytest
from django.core.management import CommandError, call_command

from atelier.library.models import Collection, Photo
from tests.helpers import image_bytes, zip_bytes

# Real commits, so jobs start at once (inline) and the command can wait for them as it would in production.
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def folder(tmp_path):
    root = tmp_path / "import"
    (root / "sub").mkdir(parents=True)
    (root / "a.jpg").write_bytes(image_bytes("JPEG", color=(1, 2, 3)))
    (root / "sub" / "b.png").write_bytes(image_bytes("PNG", color=(4, 5, 6)))
    (root / "sub" / "broken.jpg").write_bytes(b"\xff\xd8\xff not really")
    (root / "pack.zip").write_bytes(zip_bytes({"c.webp": image_bytes("WEBP", color=(7, 8, 9))}))
    (root / "notes.txt").write_text("ignored: not an image suffix")
    return root


def test_import_then_rerun_skips_known_files(folder, owner, capsys):
    call_command("import_folder", str(folder), collection="Trip", owner="olga")
    out = capsys.readouterr()
    assert "3 imported, 0 already there, 1 rejected" in out.out
    assert "sub/broken.jpg" in out.out + out.err
    collection = Collection.objects.get(name="Trip", owner=owner)
    assert sorted(collection.photos.values_list("filename", flat=True)) == ["a.jpg", "pack.zip/c.webp", "sub/b.png"]
    assert collection.photos.filter(thumbs_ready=True).count() == 3
    call_command("import_folder", str(folder), collection="Trip", owner="olga")
    assert "0 imported, 3 already there, 1 rejected" in capsys.readouterr().out
    assert Photo.objects.count() == 3


def test_interrupted_import_is_finished_by_a_rerun(folder, owner, monkeypatch, capsys):
    from atelier.library import ingest

    real = ingest.ingest_one
    calls = {"n": 0}

    def interrupt_after_one(**kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        return real(**kwargs)

    monkeypatch.setattr(ingest, "ingest_one", interrupt_after_one)
    with pytest.raises(KeyboardInterrupt):
        call_command("import_folder", str(folder), collection="Trip", owner="olga", no_wait=True)
    assert Photo.objects.count() == 1
    assert Photo.objects.get().thumbs_ready, "what was imported before the interruption is processed"
    monkeypatch.setattr(ingest, "ingest_one", real)
    call_command("import_folder", str(folder), collection="Trip", owner="olga")
    assert "2 imported, 1 already there, 1 rejected" in capsys.readouterr().out


def test_bad_arguments_are_named(folder, owner, tmp_path):
    with pytest.raises(CommandError, match="no user named 'nobody'"):
        call_command("import_folder", str(folder), collection="Trip", owner="nobody")
    with pytest.raises(CommandError, match="is not a folder"):
        call_command("import_folder", str(tmp_path / "missing"), collection="Trip", owner="olga")
