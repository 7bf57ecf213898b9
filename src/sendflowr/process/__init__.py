"""Background processes SendFlowr starts (the Kafka broker, ``serve``): their pid files."""
