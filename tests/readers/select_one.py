"""Connects to the database DATABASE_URL names as an app does, and runs SELECT 1.

SQLAlchemy picks the driver the URL's scheme names (postgresql+psycopg://,
mysql+pymysql://). A URL that names none (postgresql://, mysql://) is read with the
driver given as the first argument, as an app that picks its driver in code does; a
postgresql:// URL is also handed as it is to psycopg (libpq reads it). One line per
reader: its name and what SELECT 1 gave.
"""

import os
import sys

import sqlalchemy
from sqlalchemy.engine import make_url

raw = os.environ["DATABASE_URL"]
url = make_url(raw)
if "+" not in url.drivername:
    if len(sys.argv) < 2:
        sys.exit(f"{url.drivername}:// names no driver: give one as the first argument")
    if url.drivername == "postgresql":
        import psycopg

        with psycopg.connect(raw, connect_timeout=10) as conn:
            print("psycopg", conn.execute("SELECT 1").fetchone()[0])
    url = url.set(drivername=f"{url.drivername}+{sys.argv[1]}")
engine = sqlalchemy.create_engine(url)
with engine.connect() as conn:
    print(url.drivername, conn.execute(sqlalchemy.text("SELECT 1")).scalar())
engine.dispose()
