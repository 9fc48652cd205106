"""Settings and the data files that describe a care bureau: alert types, demo city."""

from pathlib import Path

CONFIG_DIR = Path(__file__).resolve().parent
