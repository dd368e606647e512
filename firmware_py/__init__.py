"""Probe firmware for the Raspberry Pi Pico (MicroPython); runs on CPython over ``shim``."""
