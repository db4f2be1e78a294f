"""Offline corpus preparation: synthesised speech from Debian TTS engines and text packages."""
