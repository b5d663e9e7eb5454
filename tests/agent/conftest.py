"""The agent is its own package under agent/ (it ships without the services): make it importable."""

import sys
from pathlib import Path

AGENT_DIR = Path(__file__).resolve().parents[2] / "agent"
if str(AGENT_DIR) not in sys.path:
    sys.path.insert(0, str(AGENT_DIR))
