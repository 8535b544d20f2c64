# Image of the API and the workers for docker-compose.yml (production).
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY geo geo
COPY streams streams
COPY api api
COPY maps maps
COPY data data
RUN pip install --no-cache-dir .
ENV GRIDGOV_ENV=production
CMD ["gridgov", "api", "--host", "0.0.0.0"]
