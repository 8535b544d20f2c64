# Image of the API, the workers and the SLA clock for docker-compose.yml (production).
FROM node:20-slim AS assets
WORKDIR /assets
COPY web/assets/package.json ./
RUN npm install --omit=dev --no-audit --no-fund

FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY cli cli
COPY api api
COPY streams streams
COPY cases cases
COPY registers registers
COPY web web
COPY maps maps
COPY geo geo
COPY db db
COPY data data
COPY --from=assets /assets/node_modules web/assets/node_modules
RUN pip install --no-cache-dir -e .
ENV GRIDGOV_ENV=production
CMD ["gridgov", "api", "--host", "0.0.0.0"]
