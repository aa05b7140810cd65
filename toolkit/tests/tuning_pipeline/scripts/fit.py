"""A "training" script whose loss is known in advance: it prints ``loss:<value>`` and saves its
hyperparameters, with when it ran, as the model."""

import argparse
import json
import os
import time
from pathlib import Path

parser = argparse.ArgumentParser()
parser.add_argument("--x", type=float, required=True)
parser.add_argument("--k", type=int, required=True)
parser.add_argument("--kind", required=True)
parser.add_argument("--offset", type=float, required=True)
parser.add_argument("--seconds", type=float, default=0.0)
args = parser.parse_args()
started = time.time()
time.sleep(args.seconds)
loss = (args.x - 0.3) ** 2 + 0.01 * (args.k - 3) ** 2 + (0.0 if args.kind == "b" else 1.0)
loss += args.offset
model = {**vars(args), "loss": loss, "started": started, "ended": time.time()}
Path(os.environ["SM_MODEL_DIR"], "model.json").write_text(json.dumps(model))
print(f"epoch 1 loss:{loss + 5:.6f}")  # an earlier value: only the last one printed counts
if args.offset >= 0:
    print(f"loss:{loss:.6f}")
