FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app

COPY pyproject.toml README.md ./
COPY tandem ./tandem
COPY domain ./domain
COPY schema ./schema
COPY resolvers ./resolvers
COPY realtime ./realtime
COPY authz ./authz
COPY migrations ./migrations
RUN pip install . && useradd --create-home --uid 10001 tandem
USER tandem

EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
  CMD python -c "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/readyz', timeout=2).status == 200 else 1)"
# `tandem serve` applies migrations first (one process at a time, under an advisory lock).
CMD ["tandem", "serve", "--host", "0.0.0.0", "--port", "8000", "--workers", "2"]
