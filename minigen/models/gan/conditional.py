"""Conditional GANs (Mirza & Osindero 2014, "Conditional Generative Adversarial Nets").

Both players see the label y: G(z, y) and D(x, y), so the game becomes

    min_G max_D  E_{x,y} log D(x, y) + E_{z,y} log(1 − D(G(z, y), y)).

The label enters as a one-hot vector or a learnt embedding
(:class:`~minigen.models.gan.networks.LabelInput`): concatenated to z in
G; in D concatenated to the flattened image (MLP) or stacked onto the image
as constant planes, one per code dimension (DCGAN). Fakes are asked for the
same label mix as the real batch, so the labels alone tell D nothing.

A class-conditional sampling grid has one row per class and the same codes
z in every row: across a column only the label changes (the style is held
by z).
"""
import numpy as np

from .gan import SAMPLE_SEED


def class_grid(model, n_per_class=10, seed=SAMPLE_SEED):
    """Samples (n_classes · n_per_class, *x_shape): row c is class c, column j uses code z_j in every row."""
    if not model.n_classes:
        raise ValueError("class_grid: the model is not conditional")
    z = model.codes(n_per_class, seed)
    codes = np.tile(z, (model.n_classes, 1))
    labels = np.repeat(np.arange(model.n_classes), n_per_class)
    return model.generate(codes, labels)
