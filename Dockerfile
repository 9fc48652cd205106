# CareBell server image: `carebell serve` on port 8000.
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY dispatch ./dispatch
COPY devices ./devices
COPY simulators ./simulators
COPY config ./config
RUN pip install --no-cache-dir .
USER nobody
EXPOSE 8000
CMD ["carebell", "serve", "--host", "0.0.0.0", "--port", "8000"]
