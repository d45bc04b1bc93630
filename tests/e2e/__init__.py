"""End-to-end tests against real third-party software (see conftest.py).

A package, so its modules do not clash with same-named ones elsewhere in tests/
(tests/sources/test_alertmanager.py) and its conftest.py does not replace
tests/conftest.py as the module "conftest" that other tests import from.
"""
