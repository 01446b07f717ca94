#!/usr/bin/env bash
# The latent of a MACE model, read by equilens from a file MACE's own tools wrote.
#
# MACE pins another e3nn than equilens, so it runs in an environment of its own (the
# benchmarks' MACE environment: benchmarks/README.md, "Environments"). This script
#   1. writes rMD17 ethanol split 01 as extxyz (energies in eV, forces in eV/Å): the
#      training file for MACE, and the test file whose frames MACE never sees;
#   2. trains a small MACE (32x0e+32x1o, 2 interactions, 5 Å) with `mace_run_train`;
#   3. writes its invariant per-atom descriptors (both interactions) for every test frame
#      with `mace_eval_configs --return_descriptors` (array MACE_descriptors);
#   4. analyses them with `equilens analyze --features`: the same scores and controls as
#      for a model equilens trained (no random-weights control: the model is not here).
#
#   MACE_BIN=/path/to/mace-venv/bin DATA_DIR=/path/to/rmd17 bash examples/mace_features.sh OUT
set -euo pipefail
OUT=${1:?usage: mace_features.sh OUT_DIR}
MACE_BIN=${MACE_BIN:?set MACE_BIN to the bin folder of an environment with mace-torch}
DATA_DIR=${DATA_DIR:-}
EPOCHS=${EPOCHS:-30}
PYTHON=${PYTHON:-python}
mkdir -p "$OUT"

"$PYTHON" - "$OUT" "$DATA_DIR" <<'EOF'
import sys
from pathlib import Path

import ase.io
import numpy as np
from ase import Atoms, units

from equilens.data import locate, rmd17_filename

out, data_dir = Path(sys.argv[1]), sys.argv[2] or None
kcal = units.kcal / units.mol
for part in ("train", "test"):
    path = locate(rmd17_filename("ethanol", part, "01"), data_dir)
    with np.load(path) as data:
        numbers = data["nuclear_charges"]
        images = []
        for r, e, f in zip(data["coords"], data["energies"], data["forces"]):
            atoms = Atoms(numbers=numbers, positions=r)
            atoms.info["REF_energy"] = float(e) * kcal
            atoms.arrays["REF_forces"] = np.asarray(f) * kcal
            images.append(atoms)
    ase.io.write(out / f"ethanol_{part}.extxyz", images, format="extxyz")
    print(f"{path} -> {out / f'ethanol_{part}.extxyz'}: {len(images)} frames")
EOF

(cd "$OUT" && "$MACE_BIN/mace_run_train" --name mace_ethanol --seed 0 \
    --train_file ethanol_train.extxyz --valid_fraction 0.05 \
    --energy_key REF_energy --forces_key REF_forces --E0s average \
    --model MACE --hidden_irreps 32x0e+32x1o --r_max 5.0 --num_interactions 2 \
    --max_num_epochs "$EPOCHS" --batch_size 10 --device cpu --default_dtype float64 \
    > mace_train.log 2>&1)

"$MACE_BIN/mace_eval_configs" --configs "$OUT/ethanol_test.extxyz" \
    --model "$OUT/mace_ethanol.model" --output "$OUT/ethanol_test_mace.extxyz" \
    --device cpu --default_dtype float64 --return_descriptors --batch_size 50

equilens analyze --features "$OUT/ethanol_test_mace.extxyz" --features-key MACE_descriptors \
    --energy-key REF_energy --n-train 450 --n-val 50 --n-test 500 --out "$OUT/analysis"
