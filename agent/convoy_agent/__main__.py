"""`python3 -m convoy_agent …`: the agent's command line."""

import sys
import warnings

# cryptography's last releases for Python 3.6 warn on import that 3.6 is old; on those nodes it is the
# system Python, which is the point of the agent, so the warning would only fill its log.
warnings.filterwarnings("ignore", message="Python 3.6 is no longer supported")

from convoy_agent.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
