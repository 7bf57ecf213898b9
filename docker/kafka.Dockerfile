# apache/kafka with the Kafka tools also on PATH under their Confluent-style names
# (kafka-consumer-groups, kafka-topics, …), so the seed's `docker exec` commands work verbatim.
FROM apache/kafka:4.1.1
USER root
RUN for f in /opt/kafka/bin/*.sh; do ln -sf "$f" "/usr/local/bin/$(basename "$f" .sh)"; done
USER appuser
