"""Run moto's server with the fixes where moto diverges from documented RDS behaviour.

Fixing the emulator (not drill) keeps drill's checks as strict as real AWS needs. The
fixes are the AWS-shaped lab's (:func:`orchestrator.labaws.server.patch_moto`): the
tests' emulator and the lab's behave alike.
"""

from __future__ import annotations

import sys

if __name__ == "__main__":
    from moto.server import main

    from orchestrator.labaws.server import patch_moto

    patch_moto()
    main(sys.argv[1:])
