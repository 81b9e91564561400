"""A tiny model that follows the model protocol, for the trainer and command-line tests.

A denoising linear autoencoder (one hidden ReLU layer, sigmoid output) trained
with Adam: small enough that a step takes well under a millisecond, and with
every kind of state a resume must restore — parameters, optimiser moments
and a generator that draws fresh noise every step.

Importing this module registers it as ``tiny-ae``; the command-line tests
load it into a subprocess with ``MINIGEN_MODEL_MODULES=tests.tiny_model``.
"""
import numpy as np

import minigen
import minigen.functional as F
from minigen import nn, optim
from minigen.models.registry import ModelSpec, register, REGISTRY


class TinyAE:
    def __init__(self, shape, hidden=8, lr=1e-2, noise=0.1, rng=None, fail_at=None):
        self.shape = tuple(shape)
        d = int(np.prod(self.shape))
        self.rng = rng if rng is not None else minigen.random.Generator(0)
        self.enc = nn.Linear(d, hidden, rng=self.rng)
        self.dec = nn.Linear(hidden, d, rng=self.rng)
        self.opt = optim.Adam(list(self.enc.parameters()) + list(self.dec.parameters()), lr=lr)
        self.noise = noise
        self.hidden = hidden
        self.calls = 0
        self.fail_at = fail_at  # raise KeyboardInterrupt at the start of this call (1-based), to simulate Ctrl-C

    def _decode(self, h):
        return F.sigmoid(self.dec(h))

    def train_step(self, batch):
        self.calls += 1
        if self.fail_at is not None and self.calls == self.fail_at:
            raise KeyboardInterrupt
        x = batch[0] if isinstance(batch, tuple) else batch
        x = x.reshape(x.shape[0], -1)
        noisy = x + minigen.tensor(self.rng.normal(x.shape, scale=self.noise))
        recon = self._decode(F.relu(self.enc(noisy)))
        loss = F.mse_loss(recon, x)
        self.opt.zero_grad()
        loss.backward()
        self.opt.step()
        # A process-wide draw too, so the trainer's saving of the default generator matters.
        jitter = float(minigen.random.default_generator().uniform((1,))[0])
        return {"loss": loss.item(), "jitter": jitter}

    def sample(self, n):
        h = minigen.tensor(np.abs(self.rng.normal((n, self.hidden))))
        return self._decode(h).numpy().reshape((n,) + self.shape)

    def reconstruct(self, batch):
        x = batch[0] if isinstance(batch, tuple) else batch
        flat = x.reshape(x.shape[0], -1)
        return self._decode(F.relu(self.enc(flat))).numpy().reshape((x.shape[0],) + self.shape)

    def interpolate(self, n_rows, n_steps):
        a = np.abs(self.rng.normal((n_rows, 1, self.hidden)))
        b = np.abs(self.rng.normal((n_rows, 1, self.hidden)))
        t = np.linspace(0, 1, n_steps, dtype=np.float32)[None, :, None]
        h = minigen.tensor(((1 - t) * a + t * b).reshape(-1, self.hidden).astype(np.float32))
        return self._decode(h).numpy().reshape((n_rows, n_steps) + self.shape)

    def parameters_numpy(self):
        return [p.data.copy() for p in list(self.enc.parameters()) + list(self.dec.parameters())]

    def state_dict(self):
        return {"enc": self.enc.state_dict(), "dec": self.dec.state_dict(), "opt": self.opt.state_dict(),
                "rng": self.rng.get_state()}

    def load_state_dict(self, state):
        self.enc.load_state_dict(state["enc"])
        self.dec.load_state_dict(state["dec"])
        self.opt.load_state_dict(state["opt"])
        self.rng.set_state(state["rng"])


def build(info, options, rng):
    return TinyAE(info.shape, hidden=options["hidden"], lr=options["lr"], rng=rng)


if "tiny-ae" not in REGISTRY:
    register(ModelSpec(
        name="tiny-ae", description="a tiny denoising linear autoencoder (test model)", build=build,
        datasets=("digits", "bars-and-stripes", "mnist"), family="autoencoders",
        defaults={"epochs": 1, "batch_size": 32, "lr": 1e-2, "hidden": 8},
        options=(("--hidden", {"type": int, "help": "hidden units"}),)))
