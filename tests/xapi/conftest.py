"""The fixtures of a pool reached over XAPI (tests/xapi/pool.py), for the tests here."""

from .pool import xapi_cluster, xapi_maintenance_pool, xapi_pool  # noqa: F401
