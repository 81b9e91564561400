"""The GAN objectives: what D and G minimise, as functions of D's raw outputs.

Every function here takes D's *logits* (pre-sigmoid scores) ``d_real`` =
D(x) and ``d_fake`` = D(G(z)), each a Tensor of shape (N, 1), and returns a
scalar Tensor to *minimise*. With D(x) = σ(l(x)) (the course's notation):

- minimax (Goodfellow et al. 2014), the zero-sum game V(D, G):
    J⁽ᴰ⁾ = −½ E_x log D(x) − ½ E_z log(1 − D(G(z)))
    J⁽ᴳ⁾ = −J⁽ᴰ⁾ → G minimises ½ E_z log(1 − D(G(z)))        (saturates when D wins)
- non-saturating, the heuristic of the same paper:
    J⁽ᴳ⁾ = −½ E_z log D(G(z))
- Wasserstein (Arjovsky et al. 2017), D is a critic f with no sigmoid:
    J⁽ᴰ⁾ = E_z f(G(z)) − E_x f(x),   J⁽ᴳ⁾ = −E_z f(G(z))
  (the Lipschitz constraint is weight clipping or the gradient penalty below)
- WGAN-GP (Gulrajani et al. 2017): J⁽ᴰ⁾ + λ E_x̂ (‖∇_x̂ f(x̂)‖₂ − 1)², x̂ = εx + (1 − ε)G(z), ε ~ U[0, 1]
- R1 (Mescheder et al. 2018, "Which training methods for GANs actually
  converge?"), a regulariser added to any J⁽ᴰ⁾: (γ/2) E_x ‖∇_x l(x)‖²₂ on
  the *real* data only. A zero-centred penalty: D is made flat where the
  data are, so near an equilibrium G's samples sit on the data instead of
  circling it (without it the game oscillates, even for a Dirac data
  distribution).
- hinge (Lim & Ye 2017; Miyato et al. 2018):
    J⁽ᴰ⁾ = E max(0, 1 − f(x)) + E max(0, 1 + f(G(z))),   J⁽ᴳ⁾ = −E f(G(z))
- least squares (Mao et al. 2017), a = 0, b = c = 1:
    J⁽ᴰ⁾ = ½ E (D(x) − 1)² + ½ E D(G(z))²,   J⁽ᴳ⁾ = ½ E (D(G(z)) − 1)²
  with D(x) the raw output (no sigmoid).
- feature matching (Salimans et al. 2016, §3.1): D keeps the minimax loss and
    J⁽ᴳ⁾ = ‖E_x f(x) − E_z f(G(z))‖²₂  with f an intermediate layer of D.

log D = log σ(l) = −softplus(−l) and log(1 − D) = −softplus(l): written with
softplus (through the fused BCE-with-logits) so that no loss overflows.

One-sided label smoothing (Salimans et al. 2016, §3.4) replaces the real
target 1 by ``real_target`` (e.g. 0.9) in D's cross-entropy; the fake target
stays 0 — smoothing it too would reward G's samples where p_data is 0.
"""
from ... import functional as F
from ... import grad as _grad

LOSSES = ("minimax", "non-saturating", "wasserstein", "wgan-gp", "feature-matching", "hinge", "least-squares")


def _full(like, value):
    from ...backend import get_array_module
    return get_array_module(like).full(like.shape, value, dtype=like.dtype)


def bce_d_loss(d_real, d_fake, real_target=1.0):
    """J⁽ᴰ⁾ = ½ BCE(d_real, real_target) + ½ BCE(d_fake, 0): the minimax / non-saturating D loss.

    Args:
        d_real: logits (N, 1) of a real batch.
        d_fake: logits (M, 1) of a fake batch.
        real_target: the real label (1, or e.g. 0.9 with one-sided label smoothing).

    Returns:
        scalar Tensor.
    """
    from ...autograd import Tensor
    t_real = Tensor(_full(d_real.data, real_target))
    t_fake = Tensor(_full(d_fake.data, 0.0))        # the fake target is never smoothed
    return 0.5 * F.binary_cross_entropy_with_logits(d_real, t_real) + \
        0.5 * F.binary_cross_entropy_with_logits(d_fake, t_fake)


def bce_targets(d_real, d_fake, real_target=1.0):
    """The (real, fake) target arrays :func:`bce_d_loss` uses (for tests and teaching)."""
    return _full(d_real.data, real_target), _full(d_fake.data, 0.0)


def minimax_g_loss(d_fake):
    """J⁽ᴳ⁾ = ½ E log(1 − D(G(z))) = −½ E softplus(l): the saturating generator loss."""
    return -0.5 * F.mean(F.softplus(d_fake))


def non_saturating_g_loss(d_fake):
    """J⁽ᴳ⁾ = −½ E log D(G(z)) = ½ E softplus(−l)."""
    return 0.5 * F.mean(F.softplus(-d_fake))


def wasserstein_d_loss(d_real, d_fake):
    """J⁽ᴰ⁾ = E f(G(z)) − E f(x): minus the critic's estimate of W(p_data, p_g)."""
    return F.mean(d_fake) - F.mean(d_real)


def wasserstein_g_loss(d_fake):
    """J⁽ᴳ⁾ = −E f(G(z)) (also the hinge GAN's generator loss)."""
    return -F.mean(d_fake)


def hinge_d_loss(d_real, d_fake):
    """J⁽ᴰ⁾ = E relu(1 − f(x)) + E relu(1 + f(G(z)))."""
    return F.mean(F.relu(1.0 - d_real)) + F.mean(F.relu(1.0 + d_fake))


def least_squares_d_loss(d_real, d_fake):
    """J⁽ᴰ⁾ = ½ E (D(x) − 1)² + ½ E D(G(z))² (raw outputs)."""
    return 0.5 * F.mean((d_real - 1.0) ** 2) + 0.5 * F.mean(d_fake ** 2)


def least_squares_g_loss(d_fake):
    """J⁽ᴳ⁾ = ½ E (D(G(z)) − 1)²."""
    return 0.5 * F.mean((d_fake - 1.0) ** 2)


def feature_matching_loss(f_real, f_fake):
    """‖E f(x) − E f(G(z))‖²₂ over a batch of features (N, K) and (M, K).

    The real features are constants for G (D is not trained by this loss).
    """
    diff = F.mean(f_real.detach(), axis=0) - F.mean(f_fake, axis=0)
    return F.sum(diff * diff)


def interpolates(x_real, x_fake, eps):
    """x̂ = ε x + (1 − ε) x̃ with one ε per example.

    Args:
        x_real, x_fake: Tensors (N, ...).
        eps: array (N,) of U[0, 1] draws.
    """
    shape = (x_real.shape[0],) + (1,) * (x_real.ndim - 1)
    e = x_real.xp.asarray(eps, dtype=x_real.dtype).reshape(shape)
    return e * x_real.detach() + (1 - e) * x_fake.detach()


def gradient_penalty(critic, x_real, x_fake, eps, weight=10.0):
    """The WGAN-GP term λ E_x̂ (‖∇_x̂ f(x̂)‖₂ − 1)² (Gulrajani et al. 2017, Algorithm 1).

    ∇_x̂ f is taken with ``create_graph=True``, so the penalty is itself
    differentiable in the critic's parameters (a double backward).

    Args:
        critic: callable x -> (N, 1).
        x_real, x_fake: Tensors (N, ...), the same shape.
        eps: array (N,) of U[0, 1] draws.
        weight: λ (10 in the paper).

    Returns:
        scalar Tensor.
    """
    if x_real.shape != x_fake.shape:
        raise ValueError(f"gradient_penalty: real batch {tuple(x_real.shape)} and fake batch "
                         f"{tuple(x_fake.shape)} must have the same shape to interpolate")
    x_hat = interpolates(x_real, x_fake, eps)
    x_hat.requires_grad = True
    out = critic(x_hat)
    (g,) = _grad(F.sum(out), [x_hat], create_graph=True)
    norms = F.sqrt(F.sum(F.reshape(g * g, (g.shape[0], -1)), axis=1) + 1e-12)
    return weight * F.mean((norms - 1.0) ** 2)


def r1_penalty(d_real, x_real, weight):
    """The R1 term (γ/2) E_x ‖∇_x l(x)‖²₂ on a real batch (Mescheder et al. 2018, eq. 9).

    Args:
        d_real: D's logits (M, 1) computed from ``x_real`` (M = N, or N/m packs with packing).
        x_real: the real batch (N, ...), a Tensor with ``requires_grad`` that ``d_real`` was computed from.
        weight: γ.

    Returns:
        scalar Tensor, differentiable in D's parameters (the input gradient is taken with
        ``create_graph=True``: a double backward). With packing the norm is over a whole pack.
    """
    if not x_real.requires_grad:
        raise ValueError("r1_penalty: x_real must require gradients (set x_real.requires_grad = True before D "
                         "sees it)")
    (g,) = _grad(F.sum(d_real), [x_real], create_graph=True)
    return (weight / 2) * F.sum(g * g) / d_real.shape[0]


def d_loss(name, d_real, d_fake, real_target=1.0):
    """D's loss for objective ``name`` (without the gradient penalty)."""
    if name in ("minimax", "non-saturating", "feature-matching"):
        return bce_d_loss(d_real, d_fake, real_target)
    if real_target != 1.0:
        raise ValueError(f"label smoothing applies to the cross-entropy losses, not to --loss {name}")
    if name in ("wasserstein", "wgan-gp"):
        return wasserstein_d_loss(d_real, d_fake)
    if name == "hinge":
        return hinge_d_loss(d_real, d_fake)
    if name == "least-squares":
        return least_squares_d_loss(d_real, d_fake)
    raise ValueError(f"unknown GAN loss {name!r}; valid losses: {', '.join(LOSSES)}")


def g_loss(name, d_fake):
    """G's loss for objective ``name`` from D's logits on fakes (feature matching is separate)."""
    if name == "minimax":
        return minimax_g_loss(d_fake)
    if name == "non-saturating":
        return non_saturating_g_loss(d_fake)
    if name in ("wasserstein", "wgan-gp", "hinge"):
        return wasserstein_g_loss(d_fake)
    if name == "least-squares":
        return least_squares_g_loss(d_fake)
    raise ValueError(f"g_loss: no generator loss from logits for {name!r}; valid: minimax, non-saturating, "
                     f"wasserstein, wgan-gp, hinge, least-squares")
