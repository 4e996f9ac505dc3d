from sqlalchemy import create_engine, text


def test_pg_dsn_is_a_real_postgres(pg_dsn: str) -> None:
    engine = create_engine(pg_dsn)
    with engine.connect() as conn:
        assert conn.execute(text("select 1")).scalar() == 1
        assert "PostgreSQL" in conn.execute(text("select version()")).scalar()
    engine.dispose()
