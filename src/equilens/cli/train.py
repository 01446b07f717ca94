"""`equilens train`: train one model on one molecule into a run folder."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from equilens.cli.options import add_data_flags, add_train_flags, check_cutoff_flag, overrides
from equilens.errors import DataError, RunDirError

if TYPE_CHECKING:
    from equilens.training import Config, Experiment


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train a model into a run folder",
                       description="Train one model on one molecule; writes a run folder.")
    add_data_flags(p)
    add_train_flags(p)
    p.add_argument("--out", help="run folder (default runs/<molecule>-<model>-s<seed>-<time>)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out")
    p.add_argument("--from", dest="from_run", metavar="RUN_DIR",
                   help="reuse the config of an earlier run folder (flags override it)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from equilens.training import load_config, train
    from equilens.training.config import merge
    from equilens.training.experiment import Experiment, check_trainable
    from equilens.training.rundir import check_data_file, default_run_dir, prepare, read_config
    from equilens.training.checkpoint import check_resume_point

    if args.resume and not args.out:
        raise RunDirError("--resume needs --out RUN_DIR, the run folder to continue")
    base = {}
    if args.from_run:
        base = read_config(args.from_run).to_dict()
    if args.resume and args.out and not (args.config or args.from_run):
        base = merge(read_config(args.out).to_dict(), base)
    config = load_config(args.config, overrides(args), base=base)
    check_cutoff_flag(args.cutoff, [config.model_spec])
    if args.from_run and config.data.file == base["data"]["file"]:
        check_data_file(Path(args.from_run), config)
    check_trainable(config)
    out = Path(args.out) if args.out else default_run_dir(config)
    prepare(out, config, args.resume)
    if args.resume:
        check_resume_point(out)
        _announce_fresh_start(out)
    experiment = Experiment.from_config(config)
    _check_data(config, experiment)
    result = train(config, out, resume=args.resume, progress=not args.quiet,
                   experiment=experiment)
    chosen = ("the epoch of lowest validation force MAE" if config.training.forces
              else "the epoch of lowest validation energy MAE")
    print(f"best validation energy MAE {result.best_val_energy_mae_kcal:.4f} kcal/mol "
          f"(epoch {result.best_epoch}, {chosen}); {result.train_time_s:.1f} s; {result.run_dir}")
    return 0


def _announce_fresh_start(run_dir: Path) -> None:
    """On --resume without a checkpoint (no epoch finished), say that training starts at 1.

    ``check_resume_point`` has already refused a torn or foreign checkpoint and epochs recorded
    without one.
    """
    from equilens.training import rundir

    if not (run_dir / rundir.LAST).is_file():
        print(f"equilens train: {run_dir} has no checkpoint ({rundir.LAST}) yet: no epoch was "
              "finished, so training starts at epoch 1", file=sys.stderr)


def _check_data(config: Config, experiment: Experiment) -> None:
    """Problems of the data found before the run folder is written: no edge in any
    training frame, or force training without force labels (naming the keys the file has).
    """
    from equilens.data import read_file

    experiment.datasets["train"].check_edges()
    if not config.training.forces or experiment.splits.train.forces is not None:
        return
    source = config.data.file or experiment.splits.train.source
    read_file(source, config.data.labels, forces=True, energy_key=config.data.energy_key,
              forces_key=config.data.forces_key)  # raises, naming the keys
    raise DataError(f"{source}: training.forces is set but the training frames have no forces")
