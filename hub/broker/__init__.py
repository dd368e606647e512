"""The broker side: the embedded broker (demo), Mosquitto's production files, and the
provisioning of device accounts."""
