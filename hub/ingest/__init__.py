"""The ingest: MQTT in, records checked and stored, acknowledgements out; who each device
is and what it may do."""
