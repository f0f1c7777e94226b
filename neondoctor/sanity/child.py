"""The restart step's child: run as `python -P -c <this file's text>` in a brand-new interpreter.

It imports SQLAlchemy's core and the driver, nothing of neondoctor (interpreter start-up is most of
the step's time). Everything comes from the environment, never argv (`ps` shows argv to every
user): the URL, the connect arguments, the one query to run and the token it binds. It prints one
JSON line: {"pid", "found"} or {"pid", "error"}; the parent redacts and judges it.
"""

import json
import os
import sys


def main() -> int:
    answer: dict = {"pid": os.getpid()}
    try:
        env = os.environ
        url, query, token = env["NEONDOCTOR_SANITY_URL"], env["NEONDOCTOR_SANITY_QUERY"], env["NEONDOCTOR_SANITY_TOKEN"]
        connect_args = json.loads(env.get("NEONDOCTOR_SANITY_CONNECT_ARGS") or "{}")
        bound = env.get("NEONDOCTOR_SANITY_BOUND")  # statement_timeout,lock_timeout for PostgreSQL
    except (KeyError, ValueError) as exc:
        print(json.dumps({**answer, "error": f"bad environment: {type(exc).__name__}: {exc}"}))
        return 2
    try:
        from sqlalchemy import create_engine, text
        from sqlalchemy.pool import NullPool

        engine = create_engine(url, poolclass=NullPool, connect_args=connect_args)
        try:
            with engine.connect() as conn:
                if bound:
                    statement, lock = bound.split(",")
                    conn.execute(text("SELECT set_config('statement_timeout', :s, true), "
                                      "set_config('lock_timeout', :l, true)"), {"s": statement, "l": lock})
                answer["found"] = conn.execute(text(query), {"token": token}).scalar()
        finally:
            engine.dispose()
    except Exception as exc:  # the parent turns this into the step's error
        orig = getattr(exc, "orig", None) or exc
        answer["error"] = f"{type(orig).__name__}: {orig}"
    print(json.dumps(answer))
    return 0 if answer.get("found") else (2 if "error" in answer else 1)


if __name__ == "__main__":
    sys.exit(main())
