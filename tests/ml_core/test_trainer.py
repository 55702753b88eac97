"""The model-agnostic trainer both CLIP and DALL·E training run on: device rule, time budget,
checkpoints (the last steps and the random state included). A two-weight model, so each test is
well under a second."""
import pytest
import torch

from ml_core.config import configure, current_config, replace
from ml_core.train.trainer import Trainer, TrainerConfig, atomic_save, read_checkpoint


def line_batch(step: int):
    """y = 3x + 1 on eight points that move with the step."""
    x = torch.linspace(-1, 1, 8)[:, None] + 0.01 * step
    return x, 3 * x + 1


def mse(model, batch):
    x, y = batch
    return torch.nn.functional.mse_loss(model(x), y)


def trainer(tmp_path=None, **config) -> Trainer:
    torch.manual_seed(0)
    cfg = TrainerConfig(**{"steps": 5, "lr": 0.1, "warmup": 1, "num_workers": 0, "progress": False,
                           "device": "cpu", "threads": 1, "checkpoint_every": 0, **config})
    return Trainer(cfg, torch.nn.Linear(1, 1), line_batch, mse,
                   checkpoint_dir=tmp_path / "ckpt" if tmp_path else None)


@pytest.fixture
def configured_device():
    before = current_config()
    yield lambda device: configure(replace(before, device=device))
    configure(before)


def test_device_is_the_request_then_the_configuration_then_cuda_when_present(configured_device):
    assert trainer(device="cpu").device == torch.device("cpu")
    configured_device("cpu:0")                       # ATELIER_DEVICE / settings, when the run names none
    assert trainer(device=None).device == torch.device("cpu:0")
    assert trainer(device="cpu").device == torch.device("cpu")   # the request wins
    configured_device(None)
    assert trainer(device=None).device.type == ("cuda" if torch.cuda.is_available() else "cpu")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_the_model_and_its_checkpoint_live_on_cuda_when_asked(tmp_path):
    t = trainer(tmp_path, device="cuda").run()
    assert next(t.model.parameters()).device.type == "cuda" and t.losses[-1] < t.losses[0]
    state = torch.load(tmp_path / "ckpt" / "model.pt", weights_only=False)
    assert state["config"]["device"] == "cuda" and "cuda_rng" in state


def test_the_schedule_follows_whichever_of_steps_and_time_is_further_along():
    cfg = TrainerConfig(steps=100, lr=1.0, warmup=0, min_lr_ratio=0.1, minutes=1.0)
    assert cfg.lr_at(10, elapsed=30.0) == cfg.lr_at(50, elapsed=0.0)     # half the time: half-way down
    assert cfg.lr_at(90, elapsed=30.0) == cfg.lr_at(90, elapsed=0.0)     # the steps are further along
    assert cfg.lr_at(10, elapsed=60.0) == pytest.approx(0.1)             # budget spent: the floor
    plain = TrainerConfig(steps=100, lr=1.0, warmup=0)
    assert plain.lr_at(10, elapsed=1e9) == plain.lr_at(10)               # no budget: steps only


def test_a_spent_time_budget_trains_no_further(tmp_path):
    t = trainer(tmp_path, minutes=1.0)
    t.elapsed = 61.0                                  # as resumed from a run that used its minute
    t.run()
    assert t.out_of_time and t.step == 0 and t.losses == []
    assert not trainer(minutes=1.0).run().out_of_time


def test_the_last_steps_and_the_random_state_are_checkpointed(tmp_path):
    t = trainer(tmp_path, checkpoint_every=3)
    t.extra["note"] = "kept"
    t.run()
    after_run = torch.rand(4)
    state = read_checkpoint(tmp_path / "ckpt")
    assert state["step"] == 5 and len(state["losses"]) == 5 and state["extra"] == {"note": "kept"}
    resumed = trainer(tmp_path, checkpoint_every=3)
    assert resumed.load_checkpoint() and resumed.step == 5 and resumed.extra == {"note": "kept"}
    assert torch.equal(torch.rand(4), after_run)      # the random stream continues where it stopped
    assert read_checkpoint(tmp_path / "nowhere") is None


def test_the_loss_function_may_add_figures_to_the_progress_bar():
    def with_figures(model, batch):
        loss = mse(model, batch)
        return loss, {"rmse": f"{loss.detach().sqrt():.2f}"}

    t = trainer()
    t.loss_fn = with_figures
    t.run()
    assert t.step == 5 and set(t.shown) == {"rmse"}


def test_atomic_save_keeps_the_old_file_when_a_save_fails(tmp_path):
    path = tmp_path / "state.pt"
    atomic_save({"step": 1}, path)

    class Unpicklable:
        def __reduce__(self):
            raise RuntimeError("interrupted")

    with pytest.raises(RuntimeError, match="interrupted"):
        atomic_save({"step": 2, "bad": Unpicklable()}, path)
    assert torch.load(path, weights_only=False) == {"step": 1}
