"""Accounts: users and their roles, password hashing and policy, API keys, server-side sign-in
sessions, the one-time first-start setup token, and the append-only `events` table.

`models.py` holds the tables, `roles.py` what each role may do, `passwords.py` hashing (argon2) and
the password policy, `services.py` the operations (each takes a SQLAlchemy session from
`Database.session()`). The web layer reaches accounts only through `services`.

May import: the standard library, SQLAlchemy, argon2-cffi, `webapp.accounts` and `webapp.db`.
Never Flask.
"""
