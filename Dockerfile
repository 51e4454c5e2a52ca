# huashu API image: the package plus its knowledge packs, prompts and eval sets.
FROM python:3.11-slim
WORKDIR /app
ENV PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 HUASHU_DATA_DIR=/data
COPY pyproject.toml README.md ./
COPY service ./service
RUN pip install -e .
COPY knowledge ./knowledge
COPY prompts ./prompts
COPY eval ./eval
EXPOSE 8000
# Index the demo shop (idempotent), then serve on all interfaces inside the container.
CMD ["sh", "-c", "huashu ingest knowledge/demo-shop && huashu serve --host 0.0.0.0 --port 8000"]
