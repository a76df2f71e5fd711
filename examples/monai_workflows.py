"""monai_lipinr in MONAI workflows, on the bundled demo lung CT pair.

1. A MONAI transform pipeline (LoadImaged, EnsureChannelFirstd, ScaleIntensityRanged, Spacingd) in a
   Dataset/DataLoader feeds INRRegistration with MetaTensors.
2. The registration's optimisation loop is a MONAI/ignite engine: MONAI's StatsHandler, CheckpointSaver
   and EarlyStopHandler attach to it.
3. The result goes back into MONAI land: our INRToDDFd writes the DDF (with the pipeline's affine) into the
   data dict and MONAI's Warp applies it.

Run:  python examples/monai_workflows.py [--iterations 300] [--spacing 5] [--output monai_workflows_output]
The same registration as a MONAI bundle:  python -m monai.bundle run --config_file \
      "$(python -c 'from monai_lipinr.bundles import bundle_config; print(bundle_config())')" --output_dir out
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

import torch
from monai.data import DataLoader, Dataset, decollate_batch
from monai.handlers import CheckpointSaver, EarlyStopHandler, StatsHandler
from monai.networks.blocks import Warp
from monai.transforms import Compose, EnsureChannelFirstd, LoadImaged, ScaleIntensityRanged, Spacingd

from monai_lipinr.apps.registration import INRRegistration
from monai_lipinr.data.landmarks import read_landmarks
from monai_lipinr.data.samples import demo_sample_paths
from monai_lipinr.engines import loss_score
from monai_lipinr.transforms import INRToDDFd


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=300)
    parser.add_argument("--spacing", type=float, default=5.0, help="resampling of the demo pair (mm)")
    parser.add_argument("--hidden-features", type=int, default=64)
    parser.add_argument("--output", default="monai_workflows_output", help="checkpoint folder")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stdout, format="%(name)s: %(message)s")

    # 1. MONAI pipeline (the mask key must not start with "fixed_": MONAI's Spacingd would take it for
    #    the meta dict of "fixed")
    paths = demo_sample_paths()
    keys = ("fixed", "moving", "mask")
    pipeline = Compose([
        LoadImaged(keys),
        EnsureChannelFirstd(keys),
        ScaleIntensityRanged(("fixed", "moving"), a_min=-1000.0, a_max=200.0, b_min=0.0, b_max=1.0, clip=True),
        Spacingd(keys, pixdim=(args.spacing,) * 3, mode=("bilinear", "bilinear", "nearest")),
    ])
    data = [{"fixed": str(paths["fixed"]), "moving": str(paths["moving"]), "mask": str(paths["fixed_mask"])}]
    item = decollate_batch(next(iter(DataLoader(Dataset(data, pipeline), batch_size=1))))[0]
    print(f"pipeline output: {tuple(item['fixed'].shape)} voxels, affine\n{item['fixed'].affine.numpy().round(2)}")

    # 2. the registration loop as a MONAI engine with MONAI handlers
    reg = INRRegistration(iterations=args.iterations, batch_size=4096, hidden_features=args.hidden_features,
                          learning_rate=1e-3, progress=False, intensity_window=(None, None))
    landmarks = (read_landmarks(paths["fixed_landmarks"]), read_landmarks(paths["moving_landmarks"]))
    engine = reg.build_engine(item["fixed"], item["moving"], item["mask"], landmarks=landmarks)
    every = max(1, args.iterations // 5)
    StatsHandler(name="registration", iteration_log=lambda e, it: it % every == 0, epoch_log=False).attach(engine)
    CheckpointSaver(args.output, engine.checkpoint_objects(), save_interval=every, epoch_level=False,
                    n_saved=1).attach(engine)
    EarlyStopHandler(patience=max(10, args.iterations // 3), score_function=loss_score, trainer=engine,
                     epoch_level=False).attach(engine)
    engine.run()
    result = reg.finish(engine)
    print(f"{engine.state.iteration} iterations; TRE {result.metrics['tre_before_mm']['mean']:.2f} -> "
          f"{result.metrics['tre_mm']['mean']:.2f} mm; folding rate {result.metrics['folding_rate']:.4f}; "
          f"certified K {result.ledger['certified_bound']:.3f}; checkpoints in {Path(args.output).resolve()}")

    # 3. back into MONAI: our dictionary transform writes the DDF, MONAI's Warp applies it
    item = INRToDDFd("fixed", network=result.network, coordinates=result.coordinates)(item)
    warped = Warp(padding_mode="border")(item["moving"][None].float(), item["fixed_ddf"][None].float())[0]
    inside = item["mask"][0] > 0
    before = (item["moving"][0] - item["fixed"][0]).abs()[inside].mean().item()
    after = (warped[0] - item["fixed"][0]).abs()[inside].mean().item()
    print(f"mean |moving - fixed| in the lung: {before:.4f} -> {after:.4f} after MONAI Warp with our DDF")
    return {"result": result, "item": item, "warped": warped, "error_before": before, "error_after": after,
            "iterations": engine.state.iteration}


if __name__ == "__main__":
    torch.set_num_threads(min(2, torch.get_num_threads()))
    main()
