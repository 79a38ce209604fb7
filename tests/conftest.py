"""CI runs reproducibly: DNLINT_CI=1 (set by .ci/run) derandomizes hypothesis, as
.ci/run's fixed RULEGEN_SEED does the kernel oracle; locally both stay random and go on
finding new cases (bench/oracle_long.py runs the long random campaigns)."""

import os

from hypothesis import settings

settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("DNLINT_CI") == "1":
    settings.load_profile("ci")
