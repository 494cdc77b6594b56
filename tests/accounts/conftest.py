"""Fixtures for the accounts: the database on SQLite and PostgreSQL."""
import pytest


@pytest.fixture
def db(migrated_database):
    return migrated_database
