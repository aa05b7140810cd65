"""Copy the report out, marked as published."""

import argparse
import json
from pathlib import Path

parser = argparse.ArgumentParser()
parser.add_argument("--base-dir", default="/opt/ml/processing")
base = Path(parser.parse_args().base_dir)
report = json.loads((base / "report" / "report.json").read_text())
(base / "published").mkdir(parents=True, exist_ok=True)
(base / "published" / "published.json").write_text(json.dumps({**report, "published": True}))
