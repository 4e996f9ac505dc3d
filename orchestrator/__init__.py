"""drill — chaos and disaster-recovery drill orchestrator.

The import name is ``orchestrator``; the console script is ``drill``. Importing this
package must stay cheap: heavy dependencies (chaoslib, boto3, SQLAlchemy) are imported
lazily by the modules that need them so that ``drill --help`` starts fast.
"""

__version__ = "0.1.0"
