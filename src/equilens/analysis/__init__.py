"""Analysis: latents of trained runs (and of pretrained models and features files), geometric
variables, scores, projections, figures, and latent spaces compared."""

from equilens.analysis.descriptors import (
    DEFAULT_BOND_MULT,
    GeometricVariable,
    compute_variables,
    derive_variables,
    find_variable,
)
from equilens.analysis.figures import plot_histograms, plot_projection, plot_projection_grid
from equilens.analysis.latents import RunLatents, extract_latents
from equilens.analysis.controls import control_features, shares_a_vector
from equilens.analysis.pipeline import (
    ANALYSIS_SEED,
    SCORE_COLUMNS,
    Analysis,
    analyze_latents,
    analyze_run,
    format_scores,
    skeleton,
)
from equilens.analysis.probes import kernel_ridge_predict, repeated_r2, repeated_splits
from equilens.analysis.projection import PROJECTION_METHODS, project
from equilens.analysis.similarity import SIMILARITY_COLUMNS, latent_similarity, linear_cka
from equilens.analysis.targets import InvariantTarget, compute_targets, invariant_targets
from equilens.analysis.scores import (
    r2_knn,
    r2_probe,
    trustworthiness,
)

__all__ = [
    "ANALYSIS_SEED", "SCORE_COLUMNS", "InvariantTarget", "compute_targets", "control_features",
    "invariant_targets", "kernel_ridge_predict", "repeated_r2", "repeated_splits",
    "shares_a_vector", "SIMILARITY_COLUMNS", "analyze_latents", "latent_similarity", "linear_cka",
    "DEFAULT_BOND_MULT", "PROJECTION_METHODS", "Analysis", "GeometricVariable", "RunLatents",
    "analyze_run", "compute_variables", "derive_variables", "extract_latents",
    "find_variable", "format_scores", "plot_histograms", "plot_projection",
    "plot_projection_grid", "project", "r2_knn", "r2_probe", "skeleton",
    "trustworthiness",
]
