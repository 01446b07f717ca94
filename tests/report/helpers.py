"""Helpers of the study tests (a tiny study's command line)."""

from __future__ import annotations


def tiny_study_args(data_dir, out, molecules=("ethanol", "uracil"), seeds=("0", "1"),
                    epochs=2, n_train=20, workers=2) -> list[str]:
    """2 molecules x 2 tiny models x 2 seeds, 20/24/10 frames, 2 epochs, PCA maps
    (``n_train`` None: no --n-train, for a study given --train-sizes).

    24 validation frames: the latent scores need more than twice the 10 neighbours of
    the trustworthiness and a 5-fold kNN with k = 10.
    """
    train = [] if n_train is None else ["--n-train", str(n_train)]
    return ["study", "--preset", "quick", "--molecules", *molecules,
            "--models", "gcn:channels=8", "egnn:channels=4,layers=2", "--seeds", *seeds,
            *train, "--n-val", "24", "--n-test", "10",
            "--epochs", str(epochs), "--method", "pca", "--data-dir", str(data_dir),
            "--out", str(out), "--workers", str(workers), "--threads-per-worker", "1",
            "--device", "cpu"]
