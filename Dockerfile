# drill: CLI and scheduler service. PostgreSQL client libraries come with psycopg[binary];
# the local DR lab additionally needs PostgreSQL server binaries (postgresql-15 package).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY orchestrator ./orchestrator
COPY experiments ./experiments
COPY runbooks ./runbooks
COPY drills ./drills
RUN pip install . && useradd --create-home --uid 10001 drill && mkdir -p /work/.drill \
    && chown -R drill /work
USER drill
WORKDIR /work
ENTRYPOINT ["drill"]
CMD ["--help"]
