"""Periodic test data from ASE's EMT potential: molecular dynamics of an fcc metal or alloy.

Runs short Langevin molecular dynamics of a bulk fcc cell (Cu, or a random CuAu alloy)
with ASE's EMT calculator (effective-medium theory, Jacobsen et al., Surf. Sci. 366, 394
(1996)) at several temperatures and lattice strains, and writes every sampled frame to
extxyz with its energy (eV), forces (eV/Å) and stress (eV/Å³, ASE's Voigt order and
sign). The labels are those of EMT: a real, if simple, potential, not invented numbers.

    python examples/make_emt_data.py emt.extxyz --frames 500 --alloy

Every frame is an independent periodic cell of 4·size³ atoms (32 for size 2).
"""

from __future__ import annotations

import argparse
import itertools

import numpy as np
from ase import units
from ase.build import bulk
from ase.calculators.emt import EMT
from ase.calculators.singlepoint import SinglePointCalculator
from ase.io import write
from ase.md.langevin import Langevin
from ase.md.velocitydistribution import thermalize_momenta


def _cell(size: int, strain: float, gold: np.ndarray | None):
    """A cubic fcc cell of 4·size³ atoms, its lattice constant scaled by 1 + strain.

    ``gold``: indices of the atoms that are Au (a CuAu alloy), or None for pure Cu.
    Lattice constants: Cu 3.61 Å; the CuAu alloy the mean of Cu's and Au's (4.08 Å,
    Vegard's law), so that strain 0 is near zero pressure.
    """
    a = (3.61 + 4.08) / 2 if gold is not None else 3.61
    atoms = bulk("Cu", "fcc", a=a * (1.0 + strain), cubic=True).repeat(size)
    if gold is not None:
        atoms.numbers[gold] = 79
    atoms.calc = EMT()
    return atoms


def _labelled(atoms):
    """A copy of ``atoms`` holding its EMT energy, forces and stress as stored results."""
    copy = atoms.copy()
    copy.wrap()  # atoms that crossed a face back into the cell (same structure)
    copy.calc = SinglePointCalculator(copy, energy=atoms.get_potential_energy(),
                                      forces=atoms.get_forces(), stress=atoms.get_stress())
    return copy


def generate(n_frames: int, *, size: int = 2, alloy: bool = False,
             temperatures: tuple[float, ...] = (300.0, 900.0),
             strains: tuple[float, ...] = (-0.02, 0.0, 0.03), interval: int = 5,
             seed: int = 0) -> list:
    """``n_frames`` labelled periodic frames, spread evenly over temperatures × strains.

    Args:
        n_frames: frames in all (each (temperature, strain) run gives its share).
        size: repeats of the 4-atom cubic fcc cell along each axis (4·size³ atoms).
        alloy: a random 50/50 CuAu alloy instead of pure Cu (one decoration for all
            frames, so that they share one atom list, as an MD trajectory).
        temperatures: Langevin thermostat temperatures, K.
        strains: relative change of the lattice constant (a volume change of (1+s)³).
        interval: MD steps (of 2 fs) between sampled frames.
        seed: seed of the alloy order, the velocities and the thermostat's noise.

    Returns:
        list of ase.Atoms with pbc, cell and a SinglePointCalculator holding energy
        (eV), forces (eV/Å) and stress (eV/Å³).
    """
    rng = np.random.default_rng(seed)
    n_atoms = 4 * size**3
    # one random decoration, half Au, for every run: all frames share one atom list
    gold = rng.permutation(n_atoms)[: n_atoms // 2] if alloy else None
    conditions = list(itertools.product(temperatures, strains))
    frames = []
    for k, (temperature, strain) in enumerate(conditions):
        share = n_frames // len(conditions) + (k < n_frames % len(conditions))
        atoms = _cell(size, strain, gold)
        thermalize_momenta(atoms, temperature_K=temperature, rng=rng)
        dyn = Langevin(atoms, 2.0 * units.fs, temperature_K=temperature, friction=0.02,
                       fixcm=False, rng=rng)
        for _ in range(share):
            dyn.run(interval)
            frames.append(_labelled(atoms))
    return frames


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", help="extxyz file to write")
    parser.add_argument("--frames", type=int, default=500)
    parser.add_argument("--size", type=int, default=2, help="4·size³ atoms per cell")
    parser.add_argument("--alloy", action="store_true", help="random CuAu instead of Cu")
    parser.add_argument("--temperatures", type=float, nargs="+", default=[300.0, 900.0])
    parser.add_argument("--strains", type=float, nargs="+", default=[-0.02, 0.0, 0.03])
    parser.add_argument("--interval", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    frames = generate(args.frames, size=args.size, alloy=args.alloy,
                      temperatures=tuple(args.temperatures), strains=tuple(args.strains),
                      interval=args.interval, seed=args.seed)
    write(args.out, frames, format="extxyz")
    print(f"{args.out}: {len(frames)} frames of {len(frames[0])} atoms")


if __name__ == "__main__":
    main()
