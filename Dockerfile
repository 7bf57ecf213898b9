# The SendFlowr image: one package, every role (`sendflowr serve --role NAME`).
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY src ./src
RUN pip install --no-cache-dir .
ENV SENDFLOWR_HOME=/data SENDFLOWR_HOST=0.0.0.0
VOLUME /data
CMD ["sendflowr", "serve"]
