"""Run moto's server with two fixes where moto diverges from documented RDS behaviour.

Fixing the emulator (not drill) keeps drill's checks as strict as real AWS needs:

* after ``PromoteReadReplica`` RDS drops ``ReadReplicaSourceDBInstanceIdentifier`` and
  the source forgets the replica; moto keeps both, so "promoted and writable" would
  never be observable;
* deleting a cross-region replica raises inside moto (it stores such replicas by ARN
  but removes them by name).
"""

from __future__ import annotations

import contextlib
import sys
from typing import Any


def _patch() -> None:
    from moto.rds import models

    def remove_replica(self: Any, replica: Any) -> None:
        for key in (replica.db_instance_identifier, replica.db_instance_arn):
            if key in self.replicas:
                self.replicas.remove(key)

    models.DBInstance.remove_replica = remove_replica

    original = models.RDSBackend.promote_read_replica

    def promote_read_replica(self: Any, db_kwargs: dict[str, Any]) -> Any:
        database = self.databases[db_kwargs["db_instance_identifier"]]
        source = database.source_db_instance_identifier
        result = original(self, db_kwargs)
        if source:
            with contextlib.suppress(Exception):  # the source may be gone
                self.find_db_from_id(source).remove_replica(database)
        result.source_db_instance_identifier = None
        return result

    models.RDSBackend.promote_read_replica = promote_read_replica


if __name__ == "__main__":
    _patch()
    from moto.server import main

    main(sys.argv[1:])
