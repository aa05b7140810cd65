"""Unpack the model it is given and publish its model.json."""

import argparse
import shutil
import tarfile
from pathlib import Path

parser = argparse.ArgumentParser()
parser.add_argument("--base-dir", default="/opt/ml/processing")
base = Path(parser.parse_args().base_dir)
[archive] = (base / "model").glob("*.tar.gz")
with tarfile.open(archive) as tar:
    tar.extractall(base / "unpacked", filter="data")
(base / "chosen").mkdir(parents=True, exist_ok=True)
shutil.copy(base / "unpacked" / "model.json", base / "chosen" / "model.json")
