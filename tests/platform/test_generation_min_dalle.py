"""The min-dalle backend end to end: random weights in min-dalle's own file layout (DALL·E Mini's
tensor names and shapes, which min-dalle fixes per model), offline, one image through the plugin."""
import io
import json
import socket

import pytest
import torch
from PIL import Image

from plugins.generation import backends
from plugins.generation.models import Candidate, Generation

pytestmark = [pytest.mark.django_db, pytest.mark.slow, pytest.mark.timeout(1800)]
# Importing min-dalle turns off autograd and sets the thread count for the whole process: keep them
# as they were, or every test collected after this module would train without gradients.
_grad, _threads = torch.is_grad_enabled(), torch.get_num_threads()
try:
    min_dalle = pytest.importorskip("min_dalle")
finally:
    torch.set_grad_enabled(_grad)
    torch.set_num_threads(_threads)

# DALL·E Mini as min-dalle builds it (MinDalle.__init__ with is_mega=False).
MINI = dict(attention_head_count=16, embed_count=1024, glu_embed_count=2730, layer_count=12)


def write_mini_weights(root):
    """min-dalle's download layout, with random weights saved from its own modules (so every tensor
    name and shape is the library's), in float16 to halve the files (min-dalle loads them as float32)."""
    from min_dalle.models import DalleBartDecoder, DalleBartEncoder, VQGanDetokenizer

    bart, vqgan = root / "dalle_bart_mini", root / "vqgan"
    bart.mkdir(parents=True)
    vqgan.mkdir()
    words = ["a", "red", "circle", "on", "the", "left"]
    vocab = {"<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3, **{f"Ġ{w}": 4 + i for i, w in enumerate(words)}}
    merges = [f"Ġ {w[0]}" for w in words] + [f"Ġ{w[:i]} {w[i]}" for w in words for i in range(1, len(w))]
    (bart / "vocab.json").write_text(json.dumps(vocab))
    (bart / "merges.txt").write_text("#version: 0.2\n" + "\n".join(dict.fromkeys(merges)) + "\n")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        for name, module in (("encoder.pt", DalleBartEncoder(text_token_count=64, text_vocab_count=50264, device="cpu", **MINI)),
                             ("decoder.pt", DalleBartDecoder(image_vocab_count=16384, device="cpu", **MINI))):
            torch.save({k: v.half() for k, v in module.state_dict().items()}, bart / name)
            del module
        torch.save(VQGanDetokenizer().state_dict(), vqgan / "detoker.pt")


@pytest.fixture
def offline(monkeypatch):
    def refuse(*args, **kwargs):
        raise OSError("the test machine is offline")

    monkeypatch.setattr(socket.socket, "connect", refuse)


def test_min_dalle_generates_an_image_through_the_plugin_from_local_weights(api, tmp_path, monkeypatch, offline,
                                                                           django_capture_on_commit_callbacks):
    root = tmp_path / "min-dalle"
    monkeypatch.setenv("ATELIER_PLUGIN_GENERATION_MIN_DALLE_MODELS_ROOT", str(root))
    monkeypatch.setenv("ATELIER_PLUGIN_GENERATION_MIN_DALLE_MEGA", "false")
    backends._backends.cache_clear()
    status = {b["name"]: b for b in api.get("/api/generation-backends/").json()["results"]}["min-dalle"]
    assert not status["ready"] and "dalle_bart_mini/encoder.pt" in status["reason"] and "vqgan/detoker.pt" in status["reason"]
    write_mini_weights(root)
    grad = torch.is_grad_enabled()
    with django_capture_on_commit_callbacks(execute=True):
        res = api.post("/api/generate/", {"prompt": "a red circle on the left", "backend": "min-dalle",
                                          "candidates": 1, "keep": 1, "seed": 5, "top_k": 64}, format="json")
    assert res.status_code == 202, res.json()
    assert torch.is_grad_enabled() == grad, "importing min-dalle must not switch autograd off for the process"
    generation = Generation.objects.get(pk=res.json()["id"])
    assert generation.ranked and generation.model_version.startswith("min-dalle:mini:")
    candidate = Candidate.objects.get(generation=generation)
    image = Image.open(io.BytesIO(bytes(candidate.png)))
    assert image.size == (256, 256) and image.mode == "RGB" and len(set(image.getdata())) > 1
    # the demo CLIP's ranking was measured on Atelier's own images only: real pictures rank by cosine
    assert candidate.rank == 1 and candidate.rank_score is None and -1 <= candidate.score <= 1
    backends._backends.cache_clear()
