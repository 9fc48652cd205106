# CareBell server image: `carebell serve` on port 8000.
FROM python:3.11-slim
WORKDIR /app
# The monthly report's PDF (WeasyPrint): Pango lays it out, in a CJK font for the Chinese.
RUN apt-get update \
    && apt-get install -y --no-install-recommends libpango-1.0-0 libpangoft2-1.0-0 fonts-noto-cjk \
    && rm -rf /var/lib/apt/lists/*
COPY pyproject.toml README.md ./
COPY requirements/lock.txt ./requirements/lock.txt
# The locked, hash-checked versions first (scripts/lock.sh), then CareBell itself.
RUN pip install --no-cache-dir --require-hashes --requirement requirements/lock.txt
COPY dispatch ./dispatch
COPY devices ./devices
COPY simulators ./simulators
COPY config ./config
RUN pip install --no-cache-dir --no-deps .
# The planner's search compiled once, here, into a cache the server's user can
# read (numba checks it may write there too); -P: the installed package, not ./dispatch.
ENV NUMBA_CACHE_DIR=/var/cache/carebell/numba
RUN mkdir -p "$NUMBA_CACHE_DIR" && python -P -m dispatch.planning.compile \
    && chown -R nobody "$NUMBA_CACHE_DIR"
USER nobody
EXPOSE 8000
CMD ["carebell", "serve", "--host", "0.0.0.0", "--port", "8000"]
