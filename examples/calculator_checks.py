"""A trained run as an ASE calculator on a periodic cell: derivatives and dynamics checked.

For one frame of a periodic extxyz file (the first, by default) this prints

1. forces (eV/Å) and stress (eV/Å³) of ``EquilensCalculator`` against central finite
   differences of its own energy (ASE's ``calculate_numerical_forces`` and
   ``calculate_numerical_stress``): the largest absolute difference of each;
2. NVE molecular dynamics (velocity Verlet): the drift of the total energy (slope of a
   least-squares line, meV/atom/ps) and its spread next to the potential energy's spread;
3. a short NPT run (ASE's Berendsen barostat and thermostat at 0 pressure): volume per
   atom (Å³) and pressure (GPa) at the start and averaged over the second half.

With ``--reference emt`` the same dynamics run with ASE's EMT potential (the one that
labelled the data of ``make_emt_data.py``) beside the model, from the same start, so the
numbers of the model have a reference of the same integrator and time step.

    python examples/make_emt_data.py cuau.extxyz --frames 500 --alloy
    equilens train --file cuau.extxyz --model egnn --forces --set training.stress=true \\
        --cutoff 4.0 --n-train 0.6 --n-val 0.1 --n-test 0.3 --epochs 40 --out runs/cuau-efs
    python examples/calculator_checks.py runs/cuau-efs cuau.extxyz --reference emt
"""

from __future__ import annotations

import argparse

import numpy as np
from ase import Atoms, units
from ase.calculators.emt import EMT
from ase.calculators.fd import calculate_numerical_forces, calculate_numerical_stress
from ase.io import read
from ase.md.nptberendsen import NPTBerendsen
from ase.md.velocitydistribution import Stationary, thermalize_momenta
from ase.md.verlet import VelocityVerlet

from equilens.ase import EquilensCalculator

EV_PER_A3_TO_GPA = 1.0 / units.GPa


def finite_differences(atoms: Atoms, eps: float) -> dict[str, float]:
    """Largest |analytic − finite-difference| of forces (eV/Å) and stress (eV/Å³)."""
    forces = atoms.get_forces()
    stress = atoms.get_stress()
    fd_forces = calculate_numerical_forces(atoms, eps=eps)
    fd_stress = calculate_numerical_stress(atoms, eps=eps, voigt=True)
    return {"max |F|": float(np.abs(forces).max()),
            "max |F - F_fd|": float(np.abs(forces - fd_forces).max()),
            "max |sigma|": float(np.abs(stress).max()),
            "max |sigma - sigma_fd|": float(np.abs(stress - fd_stress).max())}


def nve(atoms: Atoms, temperature_k: float, steps: int, dt_fs: float, seed: int) -> dict:
    """Velocity-Verlet NVE from Maxwell-Boltzmann velocities at ``temperature_k``.

    Returns the drift of the total energy (meV/atom/ps, a least-squares slope), its
    standard deviation and that of the potential energy (meV/atom).
    """
    thermalize_momenta(atoms, temperature_k, rng=np.random.default_rng(seed))
    Stationary(atoms)
    n = len(atoms)
    total, potential = [], []

    def record():
        e_pot = atoms.get_potential_energy()
        potential.append(e_pot / n)
        total.append((e_pot + atoms.get_kinetic_energy()) / n)

    dyn = VelocityVerlet(atoms, timestep=dt_fs * units.fs)
    dyn.attach(record, interval=1)
    dyn.run(steps)
    t_ps = np.arange(len(total)) * dt_fs / 1000.0
    slope = np.polyfit(t_ps, np.asarray(total), 1)[0]
    return {"drift meV/atom/ps": 1000.0 * float(slope),
            "std E_total meV/atom": 1000.0 * float(np.std(total)),
            "std E_pot meV/atom": 1000.0 * float(np.std(potential)),
            "T final K": float(atoms.get_temperature())}


def npt(atoms: Atoms, temperature_k: float, steps: int, dt_fs: float, seed: int) -> dict:
    """Berendsen NPT at 0 GPa: volume per atom (Å³) and pressure (GPa), start and mean
    over the second half of the run."""
    thermalize_momenta(atoms, temperature_k, rng=np.random.default_rng(seed))
    Stationary(atoms)
    n = len(atoms)

    def pressure() -> float:
        return -float(np.mean(atoms.get_stress(include_ideal_gas=True)[:3])) * EV_PER_A3_TO_GPA

    start = {"V/atom start": atoms.get_volume() / n, "P start GPa": pressure()}
    volumes, pressures = [], []
    dyn = NPTBerendsen(atoms, timestep=dt_fs * units.fs, temperature_K=temperature_k,
                       pressure_au=0.0, taut=100 * units.fs, taup=500 * units.fs,
                       compressibility_au=1.0 / (140.0 * units.GPa))
    dyn.attach(lambda: (volumes.append(atoms.get_volume() / n), pressures.append(pressure())))
    dyn.run(steps)
    half = len(volumes) // 2
    return {**start, "V/atom mean": float(np.mean(volumes[half:])),
            "P mean GPa": float(np.mean(pressures[half:])),
            "T final K": float(atoms.get_temperature())}


def _print(title: str, rows: dict[str, dict]) -> None:
    """One table: a row per calculator, a column per quantity."""
    print(f"\n{title}")
    columns = list(next(iter(rows.values())))
    print(f"{'':10s}" + "".join(f"{c:>24s}" for c in columns))
    for name, values in rows.items():
        print(f"{name:10s}" + "".join(f"{values[c]:24.5g}" for c in columns))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", help="a trained run folder (periodic data, forces)")
    parser.add_argument("file", help="extxyz file with periodic frames; the start frame")
    parser.add_argument("--frame", type=int, default=0, help="index of the start frame")
    parser.add_argument("--reference", choices=["emt"], help="run the dynamics with EMT too")
    parser.add_argument("--temperature", type=float, default=300.0, help="K")
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--dt", type=float, default=2.0, help="time step, fs")
    parser.add_argument("--eps", type=float, default=1e-4, help="finite-difference step")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    start = read(args.file, index=args.frame)
    calculators = {"model": lambda: EquilensCalculator(args.run_dir, dtype="float64")}
    if args.reference == "emt":
        calculators["EMT"] = EMT
    print(f"{args.file} frame {args.frame}: {start.get_chemical_formula()}, "
          f"{len(start)} atoms, pbc {start.pbc.tolist()}, V/atom {start.get_volume() / len(start):.3f} Å³")

    def run(check):
        rows = {}
        for name, make in calculators.items():
            atoms = start.copy()
            atoms.calc = make()
            rows[name] = check(atoms)
        return rows

    _print("finite differences (eV/Å, eV/Å³)", run(lambda a: finite_differences(a, args.eps)))
    _print(f"NVE, {args.steps} steps of {args.dt} fs from {args.temperature} K",
           run(lambda a: nve(a, args.temperature, args.steps, args.dt, args.seed)))
    _print(f"NPT (Berendsen, 0 GPa), {args.steps} steps of {args.dt} fs at {args.temperature} K",
           run(lambda a: npt(a, args.temperature, args.steps, args.dt, args.seed)))


if __name__ == "__main__":
    main()
