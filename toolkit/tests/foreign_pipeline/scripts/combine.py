"""The mean, from the two upstream steps' outputs."""

import argparse
import json
from pathlib import Path

parser = argparse.ArgumentParser()
parser.add_argument("--base-dir", default="/opt/ml/processing")
base = Path(parser.parse_args().base_dir)
rows = json.loads((base / "stats" / "stats.json").read_text())["rows"]
total = json.loads((base / "totals" / "total.json").read_text())["total"]
(base / "report").mkdir(parents=True, exist_ok=True)
(base / "report" / "report.json").write_text(json.dumps({"rows": rows, "mean": total / rows}))
