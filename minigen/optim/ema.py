"""An exponential moving average of a module's parameters (Polyak averaging with forgetting).

After every update t = 1, 2, … of the module's parameters θ, the average θ̄ follows

    θ̄ ← β_t θ̄ + (1 − β_t) θ,      β_t = min(β, (1 + t) / (10 + t)),

starting from θ̄ = θ at construction. The warm-up β_t (as in TensorFlow's
``ExponentialMovingAverage`` with ``num_updates``) lets θ̄ follow θ closely
while few updates have been made, so that the initial weights do not linger
for ~1/(1 − β) steps. Buffers (batch-norm statistics, a virtual batch norm's
reference batch) are copied, not averaged.

Why for GANs: the two players need not converge; their parameters often
circle an equilibrium. The average of G's recent parameters is nearer to the
centre of that orbit than any single iterate, so samples from the averaged G
are often sharper and more stable (Yazıcı et al. 2019, "The unusual
effectiveness of averaging in GAN training").
"""
import copy


class ExponentialMovingAverage:
    """Keeps ``averaged``, a copy of ``module`` whose parameters are the moving average θ̄.

    Args:
        module: the trained module (its parameters are read, never changed).
        decay: β in [0, 1): the weight of the old average; 1/(1 − β) is roughly the number of
            updates averaged over.

    Use::

        ema = ExponentialMovingAverage(G, 0.999)
        ... opt.step(); ema.update()
        samples = ema.averaged(z)
    """

    def __init__(self, module, decay):
        decay = float(decay)
        if not 0 <= decay < 1:
            raise ValueError(f"ExponentialMovingAverage: decay must be in [0, 1), got {decay}")
        self.module, self.decay, self.count = module, decay, 0
        self.averaged = copy.deepcopy(module)
        self.averaged.requires_grad_(False)

    def rate(self):
        """β_t for the next update."""
        t = self.count + 1
        return min(self.decay, (1 + t) / (10 + t))

    def update(self):
        """θ̄ ← β_t θ̄ + (1 − β_t) θ for every parameter; buffers copied."""
        b = self.rate()
        for avg, p in zip(self.averaged.parameters(), self.module.parameters()):
            avg.data *= avg.data.dtype.type(b)
            avg.data += avg.data.dtype.type(1 - b) * p.data
        for avg, buf in zip(self.averaged.buffers(), self.module.buffers()):
            avg.data[...] = buf.data
        self.count += 1

    def state_dict(self):
        return {"params": {k: v.data.copy() for k, v in self.averaged.state_dict().items()}, "count": self.count}

    def load_state_dict(self, state):
        self.averaged.load_state_dict(state["params"])
        self.count = int(state["count"])
