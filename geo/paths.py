"""Where the data shipped with the project lives."""

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
BOUNDARIES_DIR = REPO_ROOT / "data" / "boundaries"
GUANGDONG_COUNTIES = BOUNDARIES_DIR / "guangdong_counties.geojson"
DIVISIONS = REPO_ROOT / "data" / "divisions" / "guangdong_divisions.csv.gz"
