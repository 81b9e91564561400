"""Evaluation metrics.

- :mod:`minigen.metrics.partition`: exact and AIS partition functions of RBMs,
  log-likelihoods in nats, and the DBN variational lower bound
  (Salakhutdinov & Murray, ICML 2008).
"""
from .partition import (exact_log_partition, ais_log_partition, ais_betas, log_likelihood,
                        dbn_log_likelihood_bound)
from .modes import mode_statistics
from .frechet import frechet_distance, classifier_frechet_distance, label_entropy
